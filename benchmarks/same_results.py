"""Same seed, same results: a refactoring changed no number.

Trains and evaluates the same tiny runs from two source trees (``--before``, e.g. a
``git worktree`` of the commit before a redesign, and ``--after``, default this tree) and
compares what a user gets:

- ``config.yaml``: identical text;
- ``model.zip``: identical tensors (every parameter and optimizer tensor, bit for bit);
- ``metrics.csv``: identical, leaving out wall-clock columns (``time/*`` rates and times);
- ``eval/<suite>/report.json``: identical, leaving out ``created``, ``run_dir`` and the CIs
  (``--ci`` keeps the CIs).

Exit 0 when everything matches, 1 with the differences listed otherwise.

    git worktree add /tmp/lf-before <commit>
    python benchmarks/same_results.py --before /tmp/lf-before
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["env.config.vehicles_count=5", "env.config.duration=8", "--wandb", "disabled", "train.progress_bar=false"]
RUNS = {
    "dqn": ["--config", "configs/highway_dqn.yaml", *SMALL, "train.total_timesteps=300", "algo.learning_starts=50",
            "algo.buffer_size=1000", "train.eval_freq=100", "train.eval_episodes=2", "train.checkpoint_freq=100",
            "network.net_arch=[32,32]"],
    "ppo_fast": ["--config", "configs/fast_highway_ppo.yaml", "--wandb", "disabled", "train.progress_bar=false",
                 "env.n_envs=8", "algo.n_steps=32", "algo.batch_size=64", "algo.n_epochs=2",
                 "train.total_timesteps=512", "train.eval_freq=256", "train.eval_episodes=2",
                 "train.checkpoint_freq=256", "network.net_arch=[32,32]"],
}
EVAL = ["--suite", "configs/suites/smoke.yaml", "--episodes", "3", "--no-video", "--no-progress", "--wandb", "disabled"]
WALL_CLOCK = ("time/", "wall")
VOLATILE_REPORT_KEYS = {"created", "run_dir"}


def run(tree: Path, args: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree), "WANDB_MODE": "disabled", "WANDB_ERROR_REPORTING": "false"}
    proc = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(args[:3])} exited {proc.returncode}: {proc.stderr[-1500:]}")


def produce(tree: Path, out: Path) -> dict[str, Path]:
    folders = {}
    for name, args in RUNS.items():
        run_dir = out / name
        run(tree, ["train.py", *args, "--run-dir", str(run_dir)])
        run(tree, ["evaluate.py", str(run_dir), *EVAL])
        folders[name] = run_dir
    return folders


def tensors(path: Path) -> dict[str, bytes]:
    """Every tensor file in SB3's zip (policy.pth, policy.optimizer.pth, ...) as raw bytes of
    its loaded tensors, so that zip metadata (timestamps) does not count."""
    import torch

    out = {}
    with zipfile.ZipFile(path) as zf:
        for name in zf.namelist():
            if name.endswith(".pth"):
                state = torch.load(io.BytesIO(zf.read(name)), map_location="cpu", weights_only=True)
                flat = _flatten(state)
                out.update({f"{name}:{k}": v for k, v in flat.items()})
    return out


def _flatten(obj, prefix: str = "") -> dict[str, bytes]:
    import torch

    if isinstance(obj, torch.Tensor):
        return {prefix: obj.detach().cpu().contiguous().numpy().tobytes()}
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}.{k}"))
        return out
    if isinstance(obj, (list, tuple)):
        out = {}
        for i, v in enumerate(obj):
            out.update(_flatten(v, f"{prefix}[{i}]"))
        return out
    return {prefix: repr(obj).encode()}


def metrics(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: v for k, v in r.items() if not any(w in k for w in WALL_CLOCK)} for r in rows]


def report(path: Path, keep_ci: bool) -> dict:
    def clean(x):
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()
                    if k not in VOLATILE_REPORT_KEYS and (keep_ci or k != "ci95")}
        if isinstance(x, list):
            return [clean(v) for v in x]
        return x

    return clean(json.loads(path.read_text()))


def compare(a: Path, b: Path, keep_ci: bool) -> list[str]:
    problems = []
    if (a / "config.yaml").read_text() != (b / "config.yaml").read_text():
        problems.append("config.yaml differs")
    ta, tb = tensors(a / "model.zip"), tensors(b / "model.zip")
    if ta.keys() != tb.keys():
        problems.append(f"model.zip holds other tensors: {sorted(set(ta) ^ set(tb))[:5]}")
    else:
        diff = [k for k in ta if ta[k] != tb[k]]
        if diff:
            problems.append(f"model.zip: {len(diff)} tensors differ, e.g. {diff[:3]}")
    ma, mb = metrics(a / "metrics.csv"), metrics(b / "metrics.csv")
    if ma != mb:
        problems.append(f"metrics.csv differs ({len(ma)} vs {len(mb)} rows)")
    ra, rb = (report(p / "eval" / "smoke" / "report.json", keep_ci) for p in (a, b))
    if ra != rb:
        problems.append("report.json differs")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--ci", action="store_true", help="compare the CIs in report.json too")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lf-same-") as tmp:
        before = produce(args.before.resolve(), Path(tmp) / "before")
        after = produce(args.after.resolve(), Path(tmp) / "after")
        failures = {name: compare(before[name], after[name], args.ci) for name in RUNS}
    for name, problems in failures.items():
        print(f"{name}: {'identical' if not problems else '; '.join(problems)}")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
