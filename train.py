"""Train a driving agent: python train.py --config configs/highway_dqn.yaml [KEY=VALUE ...]"""

from __future__ import annotations

import time
from pathlib import Path

from agents.runtime import prepare_process

prepare_process()  # before anything imports torch (OMP_WAIT_POLICY; see agents/runtime.py)

from agents.cli import Parser, build_request, duration, run_cli  # noqa: E402

EXPERIMENT_FLAGS = ("seeds", "grid", "name", "backend", "workers", "ray_address", "gpus_per_trial", "storage", "sweep")


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
    p.add_argument("--max-wall-time", type=duration, metavar="TIME",
                   help="this job's time limit (5400, 90m, 2h): save a checkpoint and exit 75 before it; "
                        "rerun the same command (or --resume RUN_DIR) to continue")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="dotted config overrides, e.g. algo.learning_rate=1e-4")
    x = p.add_argument_group("experiments (runs/<EXP>/<run>/ per grid value x seed; see README)")
    x.add_argument("--seeds", metavar="RANGE", help="seeds of an experiment: 0-4, 0,2,5 or 0-2,7")
    x.add_argument("--grid", action="append", metavar="KEY=V1,V2", help="a config key and its values (repeatable)")
    x.add_argument("--name", metavar="EXP", help="experiment name (default: logging.experiment, the config's name)")
    x.add_argument("--backend", choices=["sequential", "process", "ray"], help="default: sequential, process with --workers")
    x.add_argument("--workers", type=int, metavar="N", help="CPUs to fill (a run counts env.n_envs)")
    x.add_argument("--ray-address", metavar="HOST:PORT", help="an existing Ray cluster (or auto); default: a private local instance")
    x.add_argument("--gpus-per-trial", type=float, metavar="F", help="Ray: GPU (fraction) reserved per run")
    x.add_argument("--storage", type=Path, metavar="PATH", help="root of experiment folders (default runs/; shared storage on a multi-node cluster)")
    x.add_argument("--sweep", type=Path, metavar="FILE", help="a search from configs/sweeps/*.yaml through Ray Tune")
    args = p.parse_intermixed_args(argv)  # KEY=VALUE may come before or after the flags
    args.experiment = any(getattr(args, k) is not None for k in EXPERIMENT_FLAGS)
    if args.experiment:
        if args.resume is not None or args.run_dir is not None:
            p.error("--resume and --run-dir are for single runs; rerun an experiment's command to resume it")
        if args.seed is not None and args.seeds is not None:
            p.error("give --seeds (an experiment) or --seed (one run), not both")
        if args.config is None and args.sweep is None:
            p.error("--config is required (or --sweep FILE)")
        return args
    if args.resume is not None:
        extra = [o for o in args.overrides if not o.startswith("train.total_timesteps=")]  # --max-wall-time is allowed
        if args.config or args.seed is not None or args.device or args.run_dir or args.wandb or args.dry_run or extra:
            p.error("--resume takes only RUN_DIR, --max-wall-time and optionally train.total_timesteps=N "
                    "(the run keeps its config)")
    elif args.config is None:
        p.error("--config is required (or --resume RUN_DIR)")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    deadline = None if args.max_wall_time is None else time.time() + args.max_wall_time
    command = ["train.py", *argv]
    if args.sweep is not None:
        from agents.experiments.request import SweepRequest
        from agents.experiments.sweep import run_sweep

        return run_sweep(build_request(SweepRequest, args), command)
    if args.experiment:
        from agents.experiments.experiment import run_experiment
        from agents.experiments.request import ExperimentRequest

        return run_experiment(build_request(ExperimentRequest, args), command, deadline=deadline)
    from agents.training.request import TrainRequest, run_training

    return run_training(build_request(TrainRequest, args), command, deadline=deadline)


if __name__ == "__main__":
    run_cli(main)
