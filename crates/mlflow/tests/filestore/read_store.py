"""Reads every experiment and run of an MLflow tracking store with the real Python client and
prints them as JSON, for the Rust file-store test to compare with what it wrote.

Usage: read_store.py TRACKING_URI DOWNLOAD_DIR   (run with MLFLOW_ALLOW_FILE_STORE=true)

Floats are printed with repr() (a string: 'nan', 'inf', '0.1') so Rust can compare them bit
for bit; JSON numbers would not survive NaN and may lose the last bit.
"""

import json
import os
import sys

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient


def list_artifacts_recursive(client, run_id, path=None):
    files = []
    for info in client.list_artifacts(run_id, path):
        files.append({"path": info.path, "is_dir": info.is_dir, "file_size": info.file_size})
        if info.is_dir:
            files.extend(list_artifacts_recursive(client, run_id, info.path))
    return files


def main():
    tracking_uri, download_dir = sys.argv[1], sys.argv[2]
    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = client.search_experiments(view_type=ViewType.ALL)
    out = {"experiments": [], "runs": {}}
    for experiment in experiments:
        out["experiments"].append(
            {
                "experiment_id": experiment.experiment_id,
                "name": experiment.name,
                "lifecycle_stage": experiment.lifecycle_stage,
            }
        )
    runs = client.search_runs(
        [e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=1000
    )
    for found in runs:
        run = client.get_run(found.info.run_id)
        info = run.info
        history = {}
        for key in run.data.metrics:
            history[key] = [
                [repr(m.value), m.step, m.timestamp]
                for m in client.get_metric_history(info.run_id, key)
            ]
        artifacts = list_artifacts_recursive(client, info.run_id)
        contents = {}
        for artifact in artifacts:
            if not artifact["is_dir"]:
                local = client.download_artifacts(
                    info.run_id, artifact["path"], os.path.join(download_dir, info.run_id)
                )
                with open(local, encoding="utf-8") as f:
                    contents[artifact["path"]] = f.read()
        out["runs"][info.run_id] = {
            "experiment_id": info.experiment_id,
            "run_name": info.run_name,
            "user_id": info.user_id,
            "status": info.status,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "lifecycle_stage": info.lifecycle_stage,
            "params": run.data.params,
            "tags": run.data.tags,
            "latest": {k: repr(v) for k, v in run.data.metrics.items()},
            "history": history,
            "artifacts": artifacts,
            "artifact_contents": contents,
            "dataset_inputs": [
                {
                    "name": d.dataset.name,
                    "digest": d.dataset.digest,
                    "source_type": d.dataset.source_type,
                    "source": d.dataset.source,
                    "tags": {t.key: t.value for t in d.tags},
                }
                for d in run.inputs.dataset_inputs
            ],
        }
    json.dump(out, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
