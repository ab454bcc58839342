"""The Python side of `vigie bench mlflow`: one run of P params and E epochs x 6 metrics logged
with the `mlflow` client, in three ways.

    python mlflow_bench.py --experiment-id ID --epochs 100 --params 50 --repeats 3

MLFLOW_TRACKING_URI names the server. Modes (each creates its own run and terminates it, and
includes both in the timing and the count; with --repeats N each mode logs N runs and reports the
median seconds and the most requests of one run):
    per_value   log_param x P, then log_metric per value (E x 6 calls)
    log_batch   one log_batch with every param and metric
    per_epoch   log_params once, then log_metrics once per epoch

Requests are counted at the lowest level the client uses: every call of urllib3's
`HTTPConnectionPool._make_request` (one per HTTP attempt, so retries count too), which
`requests` (and so `mlflow.utils.rest_utils`) goes through. Only requests to the tracking
server's host and port count: mlflow's telemetry fetches a config from elsewhere once per process
(disabled here with MLFLOW_DISABLE_TELEMETRY, and not counted either way). The experiment is
created by the caller beforehand, so no mode pays for it. Prints one JSON document on stdout;
mlflow's own messages ("View run at ...") go to stderr.
"""

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
from urllib.parse import urlsplit

# Before mlflow is imported: telemetry would add requests to another host.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import urllib3.connectionpool

import mlflow
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

METRIC_NAMES = ["loss", "accuracy", "precision", "recall", "f1", "val_loss"]

REQUEST_COUNT = 0
_TRACKING = urlsplit(os.environ.get("MLFLOW_TRACKING_URI", ""))
_original_make_request = urllib3.connectionpool.HTTPConnectionPool._make_request


def _counting_make_request(self, *args, **kwargs):
    global REQUEST_COUNT
    if self.host == _TRACKING.hostname and self.port == _TRACKING.port:
        REQUEST_COUNT += 1
    return _original_make_request(self, *args, **kwargs)


urllib3.connectionpool.HTTPConnectionPool._make_request = _counting_make_request


def metric_value(name, epoch):
    # The same values as the Rust side (`bench_mlflow.rs`), so both send the same payloads.
    index = METRIC_NAMES.index(name)
    return 1.0 / (epoch + 1.0) + index * 0.01 + 0.001 * math.sin(epoch)


def params(count):
    return {f"param_{i:02}": f"value-{i}" for i in range(count)}


def per_value(client, run_id, args):
    for key, value in params(args.params).items():
        client.log_param(run_id, key, value)
    for epoch in range(args.epochs):
        for name in METRIC_NAMES:
            client.log_metric(run_id, name, metric_value(name, epoch), step=epoch)


def log_batch(client, run_id, args):
    now = int(time.time() * 1000)
    metrics = [
        Metric(name, metric_value(name, epoch), now, epoch)
        for epoch in range(args.epochs)
        for name in METRIC_NAMES
    ]
    batch_params = [Param(k, v) for k, v in params(args.params).items()]
    client.log_batch(run_id, metrics=metrics, params=batch_params)


def per_epoch(client, run_id, args):
    client.log_batch(run_id, params=[Param(k, v) for k, v in params(args.params).items()])
    for epoch in range(args.epochs):
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(name, metric_value(name, epoch), now, epoch) for name in METRIC_NAMES],
        )


MODES = [
    ("per_value", "log_param x params + log_metric per value", per_value),
    ("log_batch", "one log_batch", log_batch),
    ("per_epoch", "log_metrics once per epoch", per_epoch),
]


def main():
    global REQUEST_COUNT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment-id", required=True)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--params", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", default=",".join(name for name, _, _ in MODES))
    args = parser.parse_args()
    wanted = set(args.modes.split(","))

    if not _TRACKING.hostname:
        sys.exit("MLFLOW_TRACKING_URI is not set")
    client = MlflowClient()
    # Warm up (connection pool, lazy imports) outside the timings.
    client.get_experiment(args.experiment_id)
    results = []
    for name, description, log in MODES:
        if name not in wanted:
            continue
        timings = []
        requests = 0
        for _ in range(max(args.repeats, 1)):
            REQUEST_COUNT = 0
            start = time.perf_counter()
            run = client.create_run(args.experiment_id, run_name=f"python-{name}")
            log(client, run.info.run_id, args)
            client.set_terminated(run.info.run_id, "FINISHED")
            timings.append(time.perf_counter() - start)
            requests = max(requests, REQUEST_COUNT)
        seconds = statistics.median(timings)
        results.append(
            {
                "mode": name,
                "description": description,
                "requests": requests,
                "seconds": seconds,
                "run_id": run.info.run_id,
            }
        )
        print(f"python {name}: {requests} requests, {seconds:.3f} s", file=sys.stderr)
    return {"mlflow_version": mlflow.__version__, "modes": results}


if __name__ == "__main__":
    with contextlib.redirect_stdout(sys.stderr):
        report = main()
    json.dump(report, sys.stdout)
