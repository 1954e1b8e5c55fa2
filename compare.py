"""Compare runs: python compare.py runs/EXP [PATH ...] [--metric eval/return] [--out DIR]"""

from __future__ import annotations

from pathlib import Path

from agents.runtime import prepare_process

prepare_process()  # before anything imports torch (OMP_WAIT_POLICY; see agents/runtime.py)

from agents.cli import Parser, run_cli  # noqa: E402


def parse_args(argv: list[str]):
    p = Parser(prog="compare.py", description="Compare runs: learning curves, final IQM with CIs, generalization.")
    p.add_argument("paths", nargs="+", metavar="PATH", help="run folders or experiment folders (runs/EXP)")
    p.add_argument("--metric", default="eval/return", help="metrics.csv column (default eval/return)")
    p.add_argument("--out", type=Path, help="output folder (default PATH/compare for one experiment folder, else ./compare)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from agents.analysis.compare import run_compare

    return run_compare(args.paths, args.metric, args.out)


if __name__ == "__main__":
    run_cli(main)
