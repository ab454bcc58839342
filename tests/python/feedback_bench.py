"""Helpers of scripts/bench-feedback.

`split DATA_DIR SEED OUT`: echows-urldetect's benign URLs (both files, deduplicated) cut in two
halves by a keyed hash of each URL, standing for two weeks of one site: OUT/week1.txt and
OUT/week2.txt.

`table FOLDER`: the Markdown table of the `vigie score --json` summaries the script wrote,
`<model>/<seed>/<feedback>-<half>.json`.
"""

import hashlib
import json
import sys
from pathlib import Path

BENIGN_FILES = ["echows-urldetect/good_fromE.txt", "echows-urldetect/good_fromE2.txt"]


def split(data_dir, seed, out):
    seen = set()
    halves = {1: [], 2: []}
    for name in BENIGN_FILES:
        for line in (Path(data_dir) / name).read_text(encoding="utf-8", errors="replace").splitlines():
            url = line.strip()
            if not url or url in seen:
                continue
            seen.add(url)
            digest = hashlib.sha256(f"{seed}:{url}".encode()).digest()
            halves[1 if digest[0] < 128 else 2].append(url)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for half, urls in halves.items():
        (out / f"week{half}.txt").write_text("\n".join(urls) + "\n", encoding="utf-8")


def summary(path):
    return json.loads(Path(path).read_text())


def table(folder):
    folder = Path(folder)
    print(
        "| model | seed | feedback | marked false_alarm | week 2 false alarms before -> after "
        "| SQLi recall before -> after |"
    )
    print("|---|---|---|---|---|---|")
    totals = {}
    for model_dir in sorted(p for p in folder.iterdir() if p.is_dir() and (p / "parent").is_dir()):
        for seed_dir in sorted(p for p in model_dir.iterdir() if p.name.startswith("seed-")):
            before_week2 = summary(seed_dir / "parent-week2.json")
            before_sqli = summary(seed_dir / "parent-sqli.json")
            for mode in ("all", "top50"):
                marked_file = seed_dir / f"{mode}-marked.txt"
                if not marked_file.exists():
                    continue
                marked = int(marked_file.read_text().strip())
                after_week2 = summary(seed_dir / f"{mode}-week2.json")
                after_sqli = summary(seed_dir / f"{mode}-sqli.json")
                recall = lambda s: s["malicious"] / max(s["total"], 1)
                print(
                    f"| {model_dir.name} | {seed_dir.name[5:]} | {mode} | {marked} "
                    f"| {before_week2['malicious']} -> {after_week2['malicious']} "
                    f"of {before_week2['total']:,} "
                    f"| {recall(before_sqli):.4f} -> {recall(after_sqli):.4f} |"
                )
                t = totals.setdefault((model_dir.name, mode), [0, 0, 0.0, 0.0, 0])
                t[0] += before_week2["malicious"]
                t[1] += after_week2["malicious"]
                t[2] += recall(before_sqli)
                t[3] += recall(after_sqli)
                t[4] += 1
    print()
    print("| model | feedback | week 2 false alarms before -> after (sum) | ratio | mean SQLi recall before -> after |")
    print("|---|---|---|---|---|")
    for (model, mode), (before, after, r_before, r_after, n) in sorted(totals.items()):
        ratio = after / before if before else float("nan")
        print(
            f"| {model} | {mode} | {before} -> {after} | {ratio:.2f} "
            f"| {r_before / n:.4f} -> {r_after / n:.4f} |"
        )


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"split": split, "table": table}[command](*args)
