"""Evaluate a trained run: python evaluate.py RUN_DIR [--suite FILE] [--episodes N] [--video-episodes K]

Rerunning an interrupted evaluation with the same arguments continues it."""

from __future__ import annotations

import argparse
from pathlib import Path

from agents.runtime import prepare_process

prepare_process()  # before anything imports torch (OMP_WAIT_POLICY; see agents/runtime.py)

from agents.cli import Parser, build_request, run_cli  # noqa: E402


def parse_args(argv: list[str]):
    p = Parser(prog="evaluate.py", description="Evaluate a run folder: deterministic episodes per scenario, "
                                               "videos, metrics with 95% CIs, and a report. An interrupted "
                                               "evaluation resumes when the same command is run again.")
    p.add_argument("run_dir", type=Path, help="a run folder made by train.py")
    p.add_argument("--suite", type=Path, help="scenario suite YAML, e.g. configs/suites/highway_generalization.yaml "
                                              "(default: the training env as one seen scenario)")
    p.add_argument("--episodes", type=int, default=20, help="episodes per scenario (default 20)")
    p.add_argument("--seed", type=int, default=0, help="picks a block of the reserved evaluation seeds (0-9)")
    p.add_argument("--video", action=argparse.BooleanOptionalAction, default=True,
                   help="record mp4 rollout videos (default on)")
    p.add_argument("--video-episodes", type=int, default=2, help="episodes recorded per scenario (default 2)")
    p.add_argument("--video-speed", type=float, default=1.0,
                   help="video playback speed: 1 = real time (default), 2 = highway-env's own videos")
    p.add_argument("--simulator", choices=["highway-env", "twin"], default="highway-env",
                   help="twin: judge each scenario that names a batched twin on it (thousands of episodes in "
                        "seconds, for learning curves and sweeps; report folder <suite>-twin); default highway-env")
    p.add_argument("--twins-only", action="store_true",
                   help="with --simulator twin: only the scenarios that name a twin (report folder <suite>-twin-only)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (same results as 1)")
    p.add_argument("--save-rollouts", action="store_true",
                   help="write each scenario's trajectories to eval/<suite>/rollouts/<scenario>.npz")
    p.add_argument("--render", choices=["human"], help="watch live in a window instead (needs a display)")
    p.add_argument("--model", default="model", metavar="{model,best,checkpoint,checkpoint:STEPS}",
                   help="model.zip, best_model.zip, the newest valid checkpoint, or the valid checkpoint nearest "
                        "to STEPS env steps, within 10%% (a point of the learning curve)")
    p.add_argument("--name", help="report folder under RUN_DIR/eval/ (default: the suite's name, or train_env)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--wandb", choices=["offline", "online", "disabled"], default=None,
                   help="log an eval run to W&B (default: the run's logging.wandb)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar and no progress lines")
    p.add_argument("--log-every", type=float, default=30.0, metavar="SECONDS",
                   help="when stderr is not a terminal (a log file, a pipe): a progress line every SECONDS "
                        "(default 30)")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from agents.evaluation.request import EvalRequest, run_evaluation

    return run_evaluation(build_request(EvalRequest, args, progress=not args.no_progress))


if __name__ == "__main__":
    run_cli(main)
