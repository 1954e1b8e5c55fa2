"""Train a driving agent: python train.py --config configs/highway_dqn.yaml [KEY=VALUE ...]"""

from __future__ import annotations

from pathlib import Path

from agents.cli import Parser, run_cli


def parse_args(argv: list[str]):
    p = Parser(prog="train.py", description="Train a DQN or PPO driving agent from a YAML config.")
    p.add_argument("--config", type=Path, help="experiment YAML, e.g. configs/highway_dqn.yaml")
    p.add_argument("--seed", type=int, help="overrides train.seed")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="overrides train.device")
    p.add_argument("--run-dir", type=Path, help="run folder (default runs/<env>__<algo>__<network>__s<seed>__<time>)")
    p.add_argument("--wandb", choices=["offline", "online", "disabled"], help="overrides logging.wandb")
    p.add_argument("--dry-run", action="store_true", help="validate, build env and model, print a summary, exit")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides, e.g. algo.learning_rate=1e-4")
    args = p.parse_args(argv)
    if args.config is None:
        p.error("--config is required")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from agents.config import load_config
    from agents.training import train

    overrides = list(args.overrides)
    for key, value in (("train.seed", args.seed), ("train.device", args.device), ("logging.wandb", args.wandb)):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(args.config, overrides)
    train(cfg, args.run_dir, ["train.py", *argv], dry_run=args.dry_run)
    return 0


if __name__ == "__main__":
    run_cli(main)
