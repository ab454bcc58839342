#!/usr/bin/env python3
"""The reference side of `vigie bench score`: the scikit-learn reference pipeline
(../shared/peers/sklearn_reference.py, its own model recipes) fitted on the train texts given by
the Rust bench, then timed on the test texts: batch `transform + score` (median of repeats)
and one request at a time (the reference's own latency probe), single-threaded.

Input (stdin, JSON): {"peers": path, "model": "linsvc_char3", "train": [...], "labels": [...],
"test": [...], "repeats": N, "probes": N}.
Output (stdout, JSON): {"sklearn_version", "model", "batch_s": [...], "median_s", "single_median_us",
"single_p99_us", "peak_rss_mib"}.
"""

import json
import resource
import statistics
import sys
import time

import sklearn

# The same importer as the bench-models wrapper (this folder is on sys.path when run as a script).
from reference_on_split import load_reference


def main() -> None:
    request = json.load(sys.stdin)
    reference = load_reference(request["peers"])
    vec, clf, kind = reference.make_model(request["model"], 42)
    clf.fit(vec.fit_transform(request["train"]), request["labels"])
    test = request["test"]
    times = []
    for _ in range(int(request.get("repeats", 5))):
        start = time.perf_counter()
        reference.score(clf, vec.transform(test), kind)
        times.append(time.perf_counter() - start)
    probe = reference.latency_probe(vec, clf, kind, test, int(request.get("probes", 500)))
    json.dump(
        {
            "sklearn_version": sklearn.__version__,
            "model": request["model"],
            "batch_s": times,
            "median_s": statistics.median(times),
            "single_median_us": probe["median_us"],
            "single_p99_us": probe["p99_us"],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
