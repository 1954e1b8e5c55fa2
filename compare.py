"""Compare runs: python compare.py runs/EXP [PATH ...] [--metric eval/return] [--out DIR]"""

from __future__ import annotations

from agents.runtime import prepare_process

prepare_process()  # before anything imports torch (OMP_WAIT_POLICY; see agents/runtime.py)

from agents.cli import run_cli  # noqa: E402


def main(argv: list[str]) -> int:
    from agents.compare import main as compare_main

    return compare_main(argv)


if __name__ == "__main__":
    run_cli(main)
