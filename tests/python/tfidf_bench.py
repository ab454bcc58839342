#!/usr/bin/env python3
"""The reference side of `vigie bench tfidf`: time scikit-learn's TfidfVectorizer.transform
on texts given by the Rust bench (fitted on the train texts with the same options),
single-threaded, and report the median and the peak RSS.

Input (stdin, JSON): {"train": [...], "test": [...], "params": {...}, "repeats": N}.
Output (stdout, JSON): {"transform_s": [...], "median_s": x, "nnz": n, "n_features": f,
"peak_rss_mib": m, "sklearn_version": v}.
"""

import json
import resource
import statistics
import sys
import time

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer


def main() -> None:
    request = json.load(sys.stdin)
    params = dict(request["params"])
    if "ngram_range" in params:
        params["ngram_range"] = tuple(params["ngram_range"])
    vectorizer = TfidfVectorizer(**params).fit(request["train"])
    test = request["test"]
    times = []
    nnz = 0
    for _ in range(int(request.get("repeats", 5))):
        start = time.perf_counter()
        matrix = vectorizer.transform(test)
        times.append(time.perf_counter() - start)
        nnz = int(matrix.nnz)
    json.dump(
        {
            "sklearn_version": sklearn.__version__,
            "transform_s": times,
            "median_s": statistics.median(times),
            "nnz": nnz,
            "n_features": len(vectorizer.vocabulary_),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
