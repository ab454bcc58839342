"""What Python makes of a Vigie model, for tests/e2e/pyfunc.rs.

    pyfunc_check.py predict MODEL_DIR REQUESTS_JSON [no-decode] OUT_JSON
        mlflow.pyfunc.load_model(MODEL_DIR).predict() on a DataFrame of the requests (a JSON
        list of strings), with model_config={"decode": False} after no-decode; writes
        {"mlflow": version, "columns": [...], "score": [...], "malicious": [...]}.
    pyfunc_check.py xxh3 LOADER_DIR INPUTS_JSON OUT_JSON
        The loader's xxh3_64 of each hex-encoded input, as decimal strings.
"""

import json
import sys


def predict(model_dir, requests_path, *rest):
    import mlflow
    import mlflow.pyfunc
    import pandas as pd

    *options, out_path = rest
    with open(requests_path, encoding="utf-8") as file:
        requests = json.load(file)
    config = {"decode": False} if options == ["no-decode"] else None
    model = mlflow.pyfunc.load_model(model_dir, model_config=config)
    frame = model.predict(pd.DataFrame({"text": requests}))
    result = {
        "mlflow": mlflow.__version__,
        "columns": list(frame.columns),
        "score": [float(s) for s in frame["score"]],
        "malicious": [bool(m) for m in frame["malicious"]],
    }
    with open(out_path, "w", encoding="utf-8") as file:
        json.dump(result, file)


def xxh3(loader_dir, inputs_path, out_path):
    sys.path.insert(0, loader_dir)
    import vigie_pyfunc

    with open(inputs_path, encoding="utf-8") as file:
        inputs = json.load(file)
    hashes = [str(vigie_pyfunc.xxh3_64(bytes.fromhex(data))) for data in inputs]
    with open(out_path, "w", encoding="utf-8") as file:
        json.dump(hashes, file)


if __name__ == "__main__":
    {"predict": predict, "xxh3": xxh3}[sys.argv[1]](*sys.argv[2:])
