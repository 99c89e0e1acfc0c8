#!/usr/bin/env python3
"""Writes the held-out accuracy figure of docs/TINY.md from an `iris eval -o`
JSON file (tools/train-tiny.sh leaves it in WORK/eval.json): a Markdown table
and a bar chart drawn with Unicode blocks, per question type, with the
acceptance lines (90 % overall, 80 % per type).  Standard library only.
  tools/tiny-figure.py build/tiny/eval.json > figure.md"""
import json
import sys


def bar(pct, width=40):
    full = pct / 100 * width
    n = int(full)
    eighths = int((full - n) * 8)
    return "█" * n + ("" if eighths == 0 else " ▏▎▍▌▋▊▉"[eighths]) + " " * (width - n - (eighths > 0))


def main():
    r = json.load(open(sys.argv[1]))
    per = r["per_type"]
    counts = {}
    for p in r.get("predictions", []):
        counts[p["question_type"]] = counts.get(p["question_type"], 0) + 1
    print(f"VQAv2-metric accuracy on {r['n']} held-out questions: **{r['overall']:.1f}%** overall.\n")
    print("| question type | questions | accuracy | target |")
    print("|---|---:|---:|---|")
    for t in sorted(per):
        ok = "met" if per[t] >= 80 else "not met"
        print(f"| {t} | {counts.get(t, '?')} | {per[t]:.1f}% | ≥ 80%: {ok} |")
    ok = "met" if r["overall"] >= 90 else "not met"
    print(f"| **overall** | {r['n']} | **{r['overall']:.1f}%** | ≥ 90%: {ok} |\n")
    print("```")
    print(f"{'':>9} 0%{'':>17}50%{'':>16}100%")
    for t in sorted(per):
        print(f"{t:>9} |{bar(per[t])}| {per[t]:5.1f}%")
    print(f"{'overall':>9} |{bar(r['overall'])}| {r['overall']:5.1f}%")
    print(f"{'':>9}  {'':>32}^ 80%")
    print("```")


if __name__ == "__main__":
    main()
