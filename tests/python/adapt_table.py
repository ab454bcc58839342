"""The table of scripts/bench-adapt: each seed's halves, the parent beside each adaptation.

Reads the `vigie adapt --json` documents `<mode>-<seed>.json` of the folder given and prints
one Markdown table, then the totals over every seed.
"""

import json
import sys
from pathlib import Path


def row(doc):
    before, after = doc["parent_holdout"], doc["outcome"]["field"]
    return before, after


def main(folder):
    docs = sorted(Path(folder).glob("*-[0-9]*.json"))
    print("| seed | adaptation | holdout benign | parent false alarms (FPR) | adapted false alarms (FPR) | parent SQLi recall | adapted SQLi recall | threshold rule | test F1 (training dataset) |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = {}
    for path in docs:
        mode, seed = path.stem.rsplit("-", 1)
        doc = json.loads(path.read_text())
        before, after = row(doc)
        outcome = doc["outcome"]
        print(
            f"| {seed} | {mode} | {before['benign']:,} "
            f"| {before['false_alarms']} ({before['fpr'] * 100:.4f} %) "
            f"| {after['false_alarms']} ({after['fpr'] * 100:.4f} %) "
            f"| {before['sqli_recall']:.4f} | {after['sqli_recall']:.4f} "
            f"| {outcome['threshold']['rule']} | {outcome['test']['f1']:.4f} |"
        )
        t = totals.setdefault(mode, [0, 0, 0, 0, 0, 0])
        for i, value in enumerate(
            [before["false_alarms"], after["false_alarms"], before["benign"],
             before["sqli_detected"], after["sqli_detected"], before["malicious"]]
        ):
            t[i] += value
    print()
    for mode, (fa_before, fa_after, benign, tp_before, tp_after, malicious) in totals.items():
        print(
            f"{mode}, all seeds: false alarms {fa_before} -> {fa_after} of {benign:,} held-out "
            f"requests ({fa_before / benign * 100:.4f} % -> {fa_after / benign * 100:.4f} %), "
            f"SQLi recall {tp_before / malicious:.4f} -> {tp_after / malicious:.4f}"
        )


if __name__ == "__main__":
    main(sys.argv[1])
