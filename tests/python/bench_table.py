#!/usr/bin/env python3
"""Print the table of scripts/bench-models: Vigie's runs beside the reference, per dataset."""

import json
import sys
from pathlib import Path


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def main() -> None:
    out = Path(sys.argv[1])
    print("| dataset | model | F1 | ROC-AUC | FPR | TPR@FPR 1e-3 | train s | scoring req/s | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for ds_dir in sorted(p for p in out.iterdir() if p.is_dir() and (p / "split").is_dir()):
        ds = ds_dir.name
        refs = {}
        for path in sorted(ds_dir.glob("ref-*.json")):
            r = json.loads(path.read_text())
            refs[r["model"]] = r
            m = r["metrics"]
            print(f"| {ds} | reference {r['model']} | {fmt(m['f1'], '.4f')} | {fmt(m['roc_auc'], '.4f')} "
                  f"| {fmt(m['fpr'], '.5f')} | {fmt(m['tpr_at_fpr_1e-3'], '.4f')} | {r['fit_s']:.1f} "
                  f"| {r['score_requests_per_s']:,.0f} | {r['peak_rss_mib']['final']:.0f} |")
        for path in sorted(ds_dir.glob("vigie-*.json")):
            v = json.loads(path.read_text())
            m = v["test"]
            rss = v.get("peak_rss_bytes")
            print(f"| {ds} | vigie {v['model_kind']} ({path.stem[6:]}) | {fmt(m['f1'], '.4f')} "
                  f"| {fmt(m['roc_auc'], '.4f')} | {fmt(m['fpr'], '.5f')} | {fmt(m['tpr_at_fpr_1e3'], '.4f')} "
                  f"| {v['train_seconds']:.1f} | {v['scoring']['batch_requests_per_s']:,.0f} "
                  f"| {fmt(rss / 2**20 if rss else None, '.0f')} |")
            pair = {"linear_svm": "linsvc_char3", "logistic_regression": "lr_char3"}.get(v["model_kind"])
            if pair in refs:
                r = refs[pair]
                ratios.append(
                    f"{ds}: vigie {v['model_kind']} trains {r['fit_s'] / v['train_seconds']:.1f}x faster than "
                    f"reference {pair} ({v['train_seconds']:.1f} s vs {r['fit_s']:.1f} s), "
                    f"F1 {m['f1']:.4f} vs {r['metrics']['f1']:.4f}; scores "
                    f"{v['scoring']['batch_requests_per_s'] / r['score_requests_per_s']:.1f}x faster"
                )
    print()
    for line in ratios:
        print(f"- {line}")


if __name__ == "__main__":
    main()
