#!/usr/bin/env python3
"""Run the scikit-learn reference pipeline (../shared/peers/sklearn_reference.py) on Vigie's split.

The reference script splits with train_test_split; to compare on the *same* split, this wrapper
imports its models and metrics and feeds them the split written by `vigie data prepare`:
the reference trains on Vigie's train + valid parts (80 %, the reference's training fraction:
it has no validation split) and is measured on Vigie's test part (20 %), at its default
threshold, as the reference does.

With --field DIR (echows-urldetect as `vigie data prepare echows-urldetect` writes it: its files
decoded as datasets/echows-urldetect.toml says, percent-decoded and trimmed, then deduplicated),
the fitted reference also scores every request of the three parts, as Vigie's field check does
(crates/runner/src/field.rs: real benign traffic of a site no model trained on, and SQL injection
URLs), and reports the same numbers at the reference's own decision threshold (flagged iff
score > 0.5 for a probability, > 0 for a margin): false alarms, FPR, alerts per 10,000 benign
requests, SQLi recall.

Usage: reference_on_split.py --peers PATH/sklearn_reference.py --split DIR --model lr_char3 \
           [--field DIR] --out R.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path


def load_reference(path: Path):
    spec = importlib.util.spec_from_file_location("sklearn_reference", path)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_part(split_dir: Path, name: str):
    texts, labels = [], []
    with open(split_dir / f"{name}.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(int(row["label"]))
    return texts, labels


def read_all_parts(split_dir: Path):
    texts, labels = [], []
    for name in ("train", "valid", "test"):
        t, y = read_part(split_dir, name)
        texts += t
        labels += y
    return texts, labels


def field_metrics(ref, vec, clf, kind, field_dir: Path) -> dict:
    """Vigie's FieldMetrics (crates/runner/src/field.rs) of the reference on the field set."""
    texts, labels = read_all_parts(field_dir)
    manifest = json.loads((field_dir / "manifest.json").read_text())
    scores = ref.score(clf, vec.transform(texts), kind)
    threshold = ref.default_threshold(kind)
    benign = sum(1 for y in labels if y == 0)
    malicious = len(labels) - benign
    false_alarms = sum(1 for s, y in zip(scores, labels) if y == 0 and s > threshold)
    detected = sum(1 for s, y in zip(scores, labels) if y == 1 and s > threshold)
    fpr = false_alarms / benign if benign else None
    return {
        "dataset": manifest.get("dataset"),
        "requests": len(labels),
        "benign": benign,
        "malicious": malicious,
        "false_alarms": false_alarms,
        "fpr": fpr,
        "alerts_per_10k": None if fpr is None else fpr * 10_000,
        "sqli_detected": detected,
        "sqli_recall": detected / malicious if malicious else None,
        "threshold": threshold,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", type=Path, required=True)
    ap.add_argument("--split", type=Path, required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--field", type=Path, help="echows-urldetect as `vigie data prepare` writes it")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    ref = load_reference(args.peers)
    x_tr, y_tr = read_part(args.split, "train")
    x_va, y_va = read_part(args.split, "valid")
    x_te, y_te = read_part(args.split, "test")
    d = {"x_tr": x_tr + x_va, "y_tr": y_tr + y_va, "x_te": x_te, "y_te": y_te}
    rss_after_load = ref.peak_rss_mib()
    vec, clf, kind, scores, timing, info = ref.run_once(args.model, args.seed, d)
    m = ref.metrics(y_te, scores, ref.default_threshold(kind))
    latency = ref.latency_probe(vec, clf, kind, x_te)
    result = {
        "tool": "scikit-learn (peers/sklearn_reference.py on Vigie's split)",
        "model": args.model,
        "train": len(d["x_tr"]),
        "test": len(x_te),
        "metrics": m,
        "timing": timing,
        "fit_s": timing["vec_fit_s"] + timing["model_fit_s"],
        "score_requests_per_s": len(x_te) / timing["score_s"],
        "latency": latency,
        "info": info,
        "peak_rss_mib": {"after_load": rss_after_load, "final": ref.peak_rss_mib()},
        "finished_at": time.time(),
    }
    if args.field is not None:
        result["field"] = field_metrics(ref, vec, clf, kind, args.field)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
