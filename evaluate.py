"""Evaluate a trained run: python evaluate.py RUN_DIR [--episodes N] [--video-episodes K]"""

from __future__ import annotations

from pathlib import Path

from agents.cli import Parser, run_cli


def parse_args(argv: list[str]):
    p = Parser(prog="evaluate.py", description="Evaluate a run folder with deterministic episodes and videos.")
    p.add_argument("run_dir", type=Path, help="a run folder made by train.py")
    p.add_argument("--episodes", type=int, default=20, help="episodes per scenario (default 20)")
    p.add_argument("--seed", type=int, default=0, help="picks a block of the reserved evaluation seeds (0-9)")
    p.add_argument("--video", action=__import__("argparse").BooleanOptionalAction, default=True,
                   help="record mp4 rollout videos (default on)")
    p.add_argument("--video-episodes", type=int, default=2, help="episodes recorded per scenario (default 2)")
    p.add_argument("--model", choices=["model", "best", "checkpoint"], default="model",
                   help="model.zip, best_model.zip, or the newest valid checkpoint")
    p.add_argument("--name", default="train_env", help="report folder name under RUN_DIR/eval/ (default train_env)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--wandb", choices=["offline", "online", "disabled"], default=None,
                   help="log an eval run to W&B (default: the run's logging.wandb)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from agents.algos import resolve_device
    from agents.errors import UserError
    from agents.eval_run import evaluate_run
    from agents.runs import read_run_config, sanitize

    if args.video_episodes < 0:
        raise UserError("--video-episodes must be 0 or more")
    if sanitize(args.name) != args.name:
        raise UserError(f"--name '{args.name}': use letters, digits, '-', '_' or '.' only")
    device = str(resolve_device(args.device))
    wandb_mode = args.wandb or read_run_config(args.run_dir).logging.wandb
    report = evaluate_run(args.run_dir, args.name, None, args.episodes, args.seed,
                          args.video_episodes if args.video else 0, device=device, model=args.model,
                          wandb_mode=wandb_mode, progress=not args.no_progress)
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    run_cli(main)
