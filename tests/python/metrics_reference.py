"""scikit-learn reference for the metrics of vigie-models (crates/models/src/metrics).

Reads {"scores": [...], "labels": [0 or 1, ...], "threshold": t} as JSON on stdin and writes
every metric and curve as JSON on stdout, computed with scikit-learn the way the reference
pipeline (shared/peers/sklearn_reference.py) does, except that a request is flagged iff
score >= threshold (Vigie's convention). Non-finite floats are written as the strings
"inf", "-inf" and "nan" (plain JSON has no such numbers); a metric that is undefined
because a class is missing is null.
"""

import json
import math
import sys
import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)


def tpr_at_fpr(y, s, target: float) -> float:
    # Exactly the reference pipeline's function (roc_curve with its defaults).
    fpr, tpr, _ = roc_curve(y, s)
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def encode(value):
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [encode(item) for item in value]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (np.integer,)):
        return int(value)
    return value


def curve(arrays, names):
    return {name: [float(x) for x in array] for name, array in zip(names, arrays)}


def main() -> None:
    request = json.load(sys.stdin)
    s = np.asarray(request["scores"], dtype=np.float64)
    y = np.asarray(request["labels"], dtype=np.int64)
    threshold = float(request["threshold"])
    pred = (s >= threshold).astype(np.int64)
    both = len(np.unique(y)) == 2
    tn, fp, fn, tp = (int(c) for c in confusion_matrix(y, pred, labels=[0, 1]).ravel())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        precision, recall, _ = precision_recall_curve(y, s)
        # Max F1 over the PR curve's thresholds (its last point has no threshold).
        p, r = precision[:-1], recall[:-1]
        denom = p + r
        f1s = np.where(denom > 0, 2 * p * r / np.where(denom > 0, denom, 1), 0.0)
        out = {
            "n": int(len(y)),
            "n_malicious": int(y.sum()),
            "accuracy": float(accuracy_score(y, pred)),
            "precision": float(precision_score(y, pred, zero_division=0)),
            "recall": float(recall_score(y, pred, zero_division=0)),
            "f1": float(f1_score(y, pred, zero_division=0)),
            "roc_auc": float(roc_auc_score(y, s)) if both else None,
            "pr_auc": float(average_precision_score(y, s)) if both else None,
            "fpr": float(fp / (fp + tn)) if (fp + tn) else None,
            "tpr_at_fpr_1e3": tpr_at_fpr(y, s, 1e-3) if both else None,
            "tpr_at_fpr_1e2": tpr_at_fpr(y, s, 1e-2) if both else None,
            "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
            "max_f1": float(f1s.max()) if both else None,
            "roc_full": curve(
                roc_curve(y, s, drop_intermediate=False), ["fpr", "tpr", "thresholds"]
            ),
            "roc_compact": curve(roc_curve(y, s), ["fpr", "tpr", "thresholds"]),
            "pr": curve(
                precision_recall_curve(y, s), ["precision", "recall", "thresholds"]
            ),
        }
    json.dump(encode(out), sys.stdout)


if __name__ == "__main__":
    main()
