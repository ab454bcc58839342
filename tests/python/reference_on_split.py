#!/usr/bin/env python3
"""Run the scikit-learn reference pipeline (../shared/peers/sklearn_reference.py) on Vigie's split.

The reference script splits with train_test_split; to compare on the *same* split, this wrapper
imports its models and metrics and feeds them the split written by `vigie data prepare`:
the reference trains on Vigie's train + valid parts (80 %, the reference's training fraction:
it has no validation split) and is measured on Vigie's test part (20 %), at its default
threshold, as the reference does.

Usage: reference_on_split.py --peers PATH/sklearn_reference.py --split DIR --model lr_char3 --out R.json
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", type=Path, required=True)
    ap.add_argument("--split", type=Path, required=True)
    ap.add_argument("--model", required=True)
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
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
