"""Train a driving agent: python train.py --config configs/highway_dqn.yaml [KEY=VALUE ...]"""

from __future__ import annotations

from pathlib import Path

from agents.cli import Parser, run_cli


def parse_args(argv: list[str]):
    p = Parser(prog="train.py", description="Train a DQN or PPO driving agent from a YAML config.")
    p.add_argument("--config", type=Path, help="experiment YAML, e.g. configs/highway_dqn.yaml")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted run from its newest valid checkpoint "
                        "(only train.total_timesteps=N may be given, to extend it)")
    p.add_argument("--seed", type=int, help="overrides train.seed")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="overrides train.device")
    p.add_argument("--run-dir", type=Path, help="run folder (default runs/<env>__<algo>__<network>__s<seed>__<time>)")
    p.add_argument("--wandb", choices=["offline", "online", "disabled"], help="overrides logging.wandb")
    p.add_argument("--dry-run", action="store_true", help="validate, build env and model, print a summary, exit")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides, e.g. algo.learning_rate=1e-4")
    args = p.parse_intermixed_args(argv)  # KEY=VALUE may come before or after the flags
    if args.resume is not None:
        extra = [o for o in args.overrides if not o.startswith("train.total_timesteps=")]
        if args.config or args.seed is not None or args.device or args.run_dir or args.wandb or args.dry_run or extra:
            p.error("--resume takes only RUN_DIR and optionally train.total_timesteps=N (the run keeps its config)")
    elif args.config is None:
        p.error("--config is required (or --resume RUN_DIR)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from agents.config import load_config, parse_config
    from agents.training import resume, train

    if args.resume is not None:
        total = None
        if args.overrides:
            total = parse_config({"train": {"total_timesteps": args.overrides[-1].split("=", 1)[1]}}).train.total_timesteps
        resume(args.resume, ["train.py", *argv], total_timesteps=total)
        return 0
    overrides = list(args.overrides)
    for key, value in (("train.seed", args.seed), ("train.device", args.device), ("logging.wandb", args.wandb)):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(args.config, overrides)
    train(cfg, args.run_dir, ["train.py", *argv], dry_run=args.dry_run)
    return 0


if __name__ == "__main__":
    run_cli(main)
