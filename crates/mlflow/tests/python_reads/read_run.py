"""Reads back, with the Python `mlflow` client, a run and a model written by the Rust client.

Called by `python_reads/main.rs` as
    python read_run.py RUN_ID MODEL_ID REGISTERED_MODEL_NAME WORK_DIR
with MLFLOW_TRACKING_URI set. Prints one JSON document on stdout. Floats are written with
`repr` (shortest round-trip form, `nan` for NaN) so the Rust side compares them bit for bit and
the document stays valid JSON; artifact bytes are written as hex.
"""

import json
import os
import sys

import mlflow
import mlflow.artifacts
from mlflow.models import Model
from mlflow.tracking import MlflowClient


def float_text(value):
    return repr(float(value))


def walk_artifacts(client, run_id, path=None):
    """Every artifact of the run, recursively: (path, is_dir, file_size)."""
    entries = []
    for info in client.list_artifacts(run_id, path):
        entries.append({"path": info.path, "is_dir": info.is_dir, "file_size": info.file_size})
        if info.is_dir:
            entries.extend(walk_artifacts(client, run_id, info.path))
    return entries


def read_tree(root):
    """Relative path -> hex bytes of every file under root."""
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            with open(full, "rb") as handle:
                files[relative] = handle.read().hex()
    return files


def main():
    run_id, model_id, model_name, work_dir = sys.argv[1:5]
    client = MlflowClient()
    run = client.get_run(run_id)

    metrics = {}
    for key in sorted(run.data.metrics):
        history = client.get_metric_history(run_id, key)
        metrics[key] = [
            {"step": m.step, "timestamp": m.timestamp, "value": float_text(m.value)}
            for m in sorted(history, key=lambda m: (m.step, m.timestamp))
        ]

    artifacts_dir = client.download_artifacts(run_id, "", os.path.join(work_dir, "run"))
    model_dir = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{model_name}@champion", dst_path=os.path.join(work_dir, "model")
    )
    model = Model.load(model_dir)
    signature = model.signature.to_dict() if model.signature is not None else None
    version = client.get_model_version_by_alias(model_name, "champion")
    logged = client.get_logged_model(model_id)

    document = {
        "mlflow_version": mlflow.__version__,
        "run": {
            "run_id": run.info.run_id,
            "experiment_id": run.info.experiment_id,
            "run_name": run.info.run_name,
            "status": run.info.status,
            "params": dict(run.data.params),
            "tags": dict(run.data.tags),
            "latest_metrics": {k: float_text(v) for k, v in run.data.metrics.items()},
            "datasets": [
                {
                    "name": d.dataset.name,
                    "digest": d.dataset.digest,
                    "source_type": d.dataset.source_type,
                    "source": d.dataset.source,
                    "schema": d.dataset.schema,
                    "profile": d.dataset.profile,
                    "tags": {t.key: t.value for t in d.tags},
                }
                for d in run.inputs.dataset_inputs
            ],
            "model_outputs": [
                {"model_id": o.model_id, "step": o.step}
                for o in (run.outputs.model_outputs if run.outputs else [])
            ],
        },
        "metric_history": metrics,
        "artifacts": walk_artifacts(client, run_id),
        "artifact_files": read_tree(artifacts_dir),
        "model": {
            "flavors": model.flavors,
            "signature": signature,
            "run_id": model.run_id,
            "model_id": getattr(model, "model_id", None),
            "mlflow_version": model.mlflow_version,
            "utc_time_created": model.utc_time_created,
            "artifact_path": model.artifact_path,
            "files": read_tree(model_dir),
        },
        "model_version": {
            "name": version.name,
            "version": version.version,
            "source": version.source,
            "run_id": version.run_id,
            "model_id": getattr(version, "model_id", None),
            "aliases": list(version.aliases),
        },
        "logged_model": {
            "model_id": logged.model_id,
            "name": logged.name,
            "experiment_id": logged.experiment_id,
            "status": str(logged.status),
            "source_run_id": logged.source_run_id,
            "artifact_location": logged.artifact_location,
        },
    }
    json.dump(document, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
