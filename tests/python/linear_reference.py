"""scikit-learn's liblinear fits on a matrix written by the Rust linear-model parity test.

Usage: linear_reference.py DIR

DIR holds `meta.json` ({"n_rows", "n_cols", "c", "class_weight", "intercept_scaling", "tol",
"max_iter"}) and the CSR arrays `indptr.u64`, `indices.u32`, `data.f32` and `labels.u8`
(little-endian; label 1 = malicious). Writes `sklearn.json`: for `linear_svm`
(`LinearSVC(dual=True, loss="squared_hinge")`) and `logistic_regression`
(`LogisticRegression(solver="liblinear", dual=True)`), the coefficients and the intercept.
"""

import json
import sys
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC


def main() -> None:
    folder = Path(sys.argv[1])
    meta = json.loads((folder / "meta.json").read_text())
    indptr = np.fromfile(folder / "indptr.u64", dtype="<u8").astype(np.int64)
    indices = np.fromfile(folder / "indices.u32", dtype="<u4").astype(np.int32)
    data = np.fromfile(folder / "data.f32", dtype="<f4").astype(np.float64)
    labels = np.fromfile(folder / "labels.u8", dtype=np.uint8).astype(np.int64)
    x = csr_matrix((data, indices, indptr), shape=(meta["n_rows"], meta["n_cols"]))
    class_weight = None if meta["class_weight"] == "none" else "balanced"
    common = dict(
        C=meta["c"],
        class_weight=class_weight,
        intercept_scaling=meta["intercept_scaling"],
        tol=meta["tol"],
        max_iter=meta["max_iter"],
        dual=True,
        random_state=0,
    )
    models = {
        "linear_svm": LinearSVC(loss="squared_hinge", **common),
        "logistic_regression": LogisticRegression(solver="liblinear", **common),
    }
    out = {}
    for name, model in models.items():
        model.fit(x, labels)
        out[name] = {
            "coef": model.coef_.ravel().tolist(),
            "intercept": float(model.intercept_[0]),
            "n_iter": int(np.max(model.n_iter_)),
        }
    (folder / "sklearn.json").write_text(json.dumps(out))


if __name__ == "__main__":
    main()
