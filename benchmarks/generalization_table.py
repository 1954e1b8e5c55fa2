"""Markdown tables of evaluation reports side by side, for benchmarks/RESULTS.md.

Each ``LABEL=PATH`` is a report.json (or a run folder: its ``eval/<--suite>/report.json``).
Prints, per scenario, each agent's headline metrics (crash rate, success, progress, stalls)
with their 95% CIs, then the seen/unseen/gap summary, then (``--safety``) how each drove.

    python benchmarks/generalization_table.py mlp=pretrained/fast_highway_ppo_mlp \\
        attention=pretrained/fast_highway_ppo_attention --safety
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.evaluation.episodes import HEADLINE  # noqa: E402
from agents.evaluation.report import SAFETY_METRICS, format_stat, stalls  # noqa: E402

TITLES = {"crash_rate": "crash rate", "success_rate": "success", "progress": "progress", "stall_rate": "stalled"}


def load(spec: str, suite: str) -> tuple[str, dict]:
    label, _, path = spec.partition("=")
    p = Path(path or label)
    if p.is_dir():
        p = p / "eval" / suite / "report.json"
    return label, json.loads(p.read_text())


def headline_table(reports: list[tuple[str, dict]]) -> str:
    cols = [f"{label}: {TITLES[m]}" for label, _ in reports for m in HEADLINE]
    lines = ["| scenario | split | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    first = reports[0][1]
    for i, sc in enumerate(first["scenarios"]):
        cells = []
        for _, rep in reports:
            s = rep["scenarios"][i]
            assert s["name"] == sc["name"], "reports of different suites"
            for m in HEADLINE:
                cell = format_stat(s["metrics"].get(m))
                cells.append(f"**{cell}** STALLED" if m == "stall_rate" and stalls(s) else cell)
        lines.append(f"| {sc['name']} | {sc['split']} | " + " | ".join(cells) + " |")
    for split in ("seen", "unseen", "gap"):
        cells = [format_stat(rep["summary"][split].get(m)) for _, rep in reports for m in HEADLINE]
        lines.append(f"| **{split}** {'(seen - unseen)' if split == 'gap' else '(mean over scenarios)'} | | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def safety_table(label: str, rep: dict) -> str:
    lines = [f"| {label} | " + " | ".join(t for _, t in SAFETY_METRICS) + " |", "|---|" + "---|" * len(SAFETY_METRICS)]
    for s in rep["scenarios"]:
        lines.append(f"| {s['name']} | " + " | ".join(format_stat(s["metrics"].get(k)) for k, _ in SAFETY_METRICS) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+", help="LABEL=PATH (a report.json or a run folder)")
    p.add_argument("--suite", default="highway_generalization", help="report folder under a run's eval/")
    p.add_argument("--safety", action="store_true", help="also each agent's safety table")
    args = p.parse_args()
    reports = [load(spec, args.suite) for spec in args.reports]
    print(headline_table(reports))
    if args.safety:
        for label, rep in reports:
            print()
            print(safety_table(label, rep))


if __name__ == "__main__":
    main()
