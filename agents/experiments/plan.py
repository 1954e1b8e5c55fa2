"""The plan of an experiment: seeds x grid values, each a validated config and a run folder
named deterministically (no timestamp), so running the experiment again finds its runs."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.config import MAX_TRAIN_SEED, ExperimentConfig, load_config, parse_config
from agents.errors import UserError
from agents.rundir.layout import sanitize

# Keys a grid or a search space may not set: the experiment sets them itself.
RESERVED_KEYS = {"train.seed": "use --seeds", "logging.experiment": "use --name"}
MAX_SEEDS = 10_000


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` -> [0, 1, 2, 3, 4]; ``"0,2,5"``; ``"0-2,7"``. Raises UserError."""
    seeds: list[int] = []
    hint = "use a range like 0-4 or a list like 0,2,5 of integers in [0, 1000000)"
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserError(f"--seeds {text!r}: cannot read {part.strip()!r}; {hint}")
        lo = int(m[1])
        hi = int(m[2]) if m[2] is not None else lo
        if hi < lo:
            raise UserError(f"--seeds {text!r}: the range {lo}-{hi} runs backwards; write {hi}-{lo}")
        if hi >= MAX_TRAIN_SEED:
            raise UserError(f"--seeds {text!r}: seed {hi} is too large; {hint} (larger seeds are reserved for evaluation)")
        seeds.extend(range(lo, hi + 1))
        if len(seeds) > MAX_SEEDS:
            raise UserError(f"--seeds {text!r}: more than {MAX_SEEDS} seeds; {hint}")
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise UserError(f"--seeds {text!r}: seed {dup[0]} is listed twice")
    return seeds


def split_values(text: str) -> list[str]:
    """Split at commas outside brackets: ``"[64,64],[32]"`` -> ``["[64,64]", "[32]"]``."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    return out


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """``["network.type=mlp,attention", ...]`` -> ``[("network.type", ["mlp", "attention"]), ...]``."""
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise UserError(f"--grid {item!r}: use KEY=V1,V2,... with a dotted config key, e.g. network.type=mlp,attention")
        if key in RESERVED_KEYS:
            raise UserError(f"--grid {key}: the experiment sets this key itself; {RESERVED_KEYS[key]}")
        if key in (k for k, _ in grid):
            raise UserError(f"--grid {key}: given twice; list all its values in one --grid")
        values = split_values(raw)
        if any(v == "" for v in values):
            raise UserError(f"--grid {item!r}: an empty value; separate values with single commas")
        if len(set(values)) != len(values):
            raise UserError(f"--grid {item!r}: a value is listed twice")
        grid.append((key, values))
    return grid


def check_name(name: str, what: str = "--name") -> str:
    if not name or sanitize(name) != name:
        raise UserError(f"{what} {name!r}: use letters, digits, '_', '.', '-' only")
    return name


@dataclass
class Trial:
    """One run of an experiment: its resolved config and its run folder."""

    name: str
    run_dir: Path
    seed: int
    grid: dict[str, str]
    cfg: ExperimentConfig = field(repr=False)

    @property
    def cpus(self) -> int:
        return self.cfg.env.n_envs

    def spec(self, argv: list[str]) -> dict[str, Any]:
        return {"name": self.name, "run_dir": str(self.run_dir), "seed": self.seed, "grid": self.grid,
                "config": self.cfg.model_dump(mode="json"), "argv": argv}

    @staticmethod
    def from_spec(spec: dict[str, Any]) -> "Trial":
        cfg = parse_config(spec["config"], source=f"{spec['run_dir']} (trial config)")
        return Trial(spec["name"], Path(spec["run_dir"]), int(spec["seed"]), dict(spec["grid"]), cfg)


def trial_name(cfg: ExperimentConfig, grid: dict[str, str]) -> str:
    """``<env>__<algo>__<network>[__<key>-<value>...]__s<seed>``: deterministic, no timestamp."""
    parts = [sanitize(cfg.env.id), cfg.algo.name, cfg.network.type]
    for key, raw in grid.items():
        if key not in ("env.id", "algo.name", "network.type"):
            parts.append(f"{key}-{sanitize(raw) or 'x'}")
    parts.append(f"s{cfg.train.seed}")
    return "__".join(parts)


def plan(config: Path, overrides: list[str], grid: list[tuple[str, list[str]]], seeds: list[int] | None,
         name: str | None, root: Path) -> tuple[str, list[Trial]]:
    """Load and validate every combination's config up front; returns (experiment, trials)."""
    base = load_config(config, overrides)
    experiment = check_name(name or base.logging.experiment or Path(config).stem)
    seeds = seeds if seeds is not None else [base.train.seed]
    keys = [k for k, _ in grid]
    trials: list[Trial] = []
    for values in itertools.product(*(v for _, v in grid)):
        combo = dict(zip(keys, values))
        for seed in seeds:
            extra = [f"{k}={v}" for k, v in combo.items()] + [f"train.seed={seed}"]
            try:
                cfg = load_config(config, [*overrides, *extra])
            except UserError as exc:
                where = " ".join(f"{k}={v}" for k, v in combo.items())
                raise UserError(f"--grid {where}: {exc}") from None
            cfg.logging.experiment = experiment
            cfg.logging.tags = list(dict.fromkeys([*cfg.logging.tags, *(f"{k}={v}"[:64] for k, v in combo.items())]))
            trials.append(Trial(trial_name(cfg, combo), root / experiment / trial_name(cfg, combo), seed, combo, cfg))
    names = [t.name for t in trials]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise UserError(f"two grid combinations give the same run name {clash[0]!r}; "
                        "use grid values that differ in letters or digits")
    return experiment, trials
