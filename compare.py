"""Compare runs: python compare.py runs/EXP [PATH ...] [--metric eval/return] [--out DIR]"""

from __future__ import annotations

from agents.cli import run_cli


def main(argv: list[str]) -> int:
    from agents.compare import main as compare_main

    return compare_main(argv)


if __name__ == "__main__":
    run_cli(main)
