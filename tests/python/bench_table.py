#!/usr/bin/env python3
"""Print the table of scripts/bench-models: Vigie's runs beside the reference, per dataset.

Each row has the test split's metrics and the field check's (echows-urldetect: real benign
traffic of a site no model trained on, and SQL injection URLs), at the model's own threshold:
false alarms and FPR on its benign requests, alerts per 10,000 benign requests, recall on its
SQL injections. A reference that could not run on a dataset's split (no `vigie data prepare`
for it) and a run without a field check show n/a.
"""

import json
import sys
from pathlib import Path


def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def field_cells(field):
    """The field columns: false alarms (FPR), alerts per 10k, SQLi recall."""
    if not field:
        return "n/a | n/a | n/a"
    false_alarms = field.get("false_alarms")
    fpr = field.get("fpr")
    alarms = "n/a" if false_alarms is None else f"{false_alarms:,} ({fmt(fpr, '.5f')})"
    return f"{alarms} | {fmt(field.get('alerts_per_10k'), '.1f')} | {fmt(field.get('sqli_recall'), '.4f')}"


def main() -> None:
    out = Path(sys.argv[1])
    print("| dataset | model | F1 | ROC-AUC | FPR | TPR@FPR 1e-3 | train s | scoring req/s | peak MiB "
          "| field false alarms (FPR) | field alerts/10k | field SQLi recall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    ratios = []
    field_sets = set()
    for ds_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        if not any(ds_dir.glob("ref-*.json")) and not any(ds_dir.glob("vigie-*.json")):
            continue
        ds = ds_dir.name
        refs = {}
        for path in sorted(ds_dir.glob("ref-*.json")):
            r = json.loads(path.read_text())
            if "unavailable" in r:
                print(f"| {ds} | reference {r['model']} | n/a | n/a | n/a | n/a | n/a | n/a | n/a "
                      f"| n/a | n/a | n/a |")
                ratios.append(f"{ds}: no reference {r['model']}: {r['unavailable']}")
                continue
            refs[r["model"]] = r
            m = r["metrics"]
            field = r.get("field")
            if field:
                field_sets.add((field.get("dataset"), field.get("benign"), field.get("malicious")))
            print(f"| {ds} | reference {r['model']} | {fmt(m['f1'], '.4f')} | {fmt(m['roc_auc'], '.4f')} "
                  f"| {fmt(m['fpr'], '.5f')} | {fmt(m['tpr_at_fpr_1e-3'], '.4f')} | {r['fit_s']:.1f} "
                  f"| {r['score_requests_per_s']:,.0f} | {r['peak_rss_mib']['final']:.0f} "
                  f"| {field_cells(field)} |")
        for path in sorted(ds_dir.glob("vigie-*.json")):
            v = json.loads(path.read_text())
            m = v["test"]
            rss = v.get("peak_rss_bytes")
            field = v.get("field")
            if field:
                field_sets.add((field.get("dataset"), field.get("benign"), field.get("malicious")))
            print(f"| {ds} | vigie {v['model_kind']} ({path.stem[6:]}) | {fmt(m['f1'], '.4f')} "
                  f"| {fmt(m['roc_auc'], '.4f')} | {fmt(m['fpr'], '.5f')} | {fmt(m['tpr_at_fpr_1e3'], '.4f')} "
                  f"| {v['train_seconds']:.1f} | {v['scoring']['batch_requests_per_s']:,.0f} "
                  f"| {fmt(rss / 2**20 if rss else None, '.0f')} | {field_cells(field)} |")
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
    for name, benign, malicious in sorted(field_sets, key=str):
        print(f"- field: {name}, {benign:,} benign requests and {malicious:,} SQL injections "
              "(deduplicated), scored at each model's own threshold")
    if len(field_sets) > 1:
        print("- warning: the rows were not measured on the same field set")
    for line in ratios:
        print(f"- {line}")


if __name__ == "__main__":
    main()
