"""Sweep files (``configs/sweeps/*.yaml``): a base config, a search space, a budget and the
metric, validated up front with every dimension's values loaded into the base config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agents.config import MAX_TRAIN_SEED, ExperimentConfig, load_config
from agents.errors import UserError, did_you_mean
from agents.experiments.plan import RESERVED_KEYS, check_name
from agents.rundir.layout import PROJECT_ROOT
from envs.checks import first_error_line


class Dimension(BaseModel):
    """One search dimension: exactly one of choice, uniform, loguniform, randint."""

    model_config = ConfigDict(extra="forbid")
    choice: list[Any] | None = None
    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    randint: tuple[int, int] | None = None  # [low, high] inclusive

    @model_validator(mode="after")
    def _one(self) -> "Dimension":
        given = [k for k in ("choice", "uniform", "loguniform", "randint") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of choice, uniform, loguniform, randint")
        lo_hi = self.uniform or self.loguniform or self.randint
        if lo_hi is not None and not lo_hi[0] < lo_hi[1]:
            raise ValueError(f"{given[0]}: low must be below high (got {list(lo_hi)})")
        if self.loguniform is not None and self.loguniform[0] <= 0:
            raise ValueError("loguniform: both bounds must be positive")
        if self.choice is not None and not self.choice:
            raise ValueError("choice: list at least one value")
        return self

    def probe_values(self) -> list[Any]:
        """Values whose configs are loaded up front to validate the dimension."""
        if self.choice is not None:
            return list(self.choice)
        return list(self.uniform or self.loguniform or self.randint)  # type: ignore[arg-type]


class Asha(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grace_period: int = Field(2000, ge=1)  # [env steps] before a trial may be stopped
    reduction_factor: float = Field(3, gt=1)


class SweepSpec(BaseModel):
    """``configs/sweeps/*.yaml``: a base config, a search space, a budget and the metric."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None  # experiment name; default: the sweep file's name
    config: str  # base experiment YAML, relative to the project root or absolute
    overrides: list[str] = Field(default_factory=list)  # dotted KEY=VALUE applied to the base
    space: dict[str, Dimension]
    seeds: list[int] = Field(default_factory=lambda: [0])  # each trial draws one (a search dimension)
    budget: int = Field(ge=1)  # number of trials
    metric: str = "eval/return"  # a metrics.csv column logged by the periodic evaluation
    mode: Literal["max", "min"] = "max"
    search: Literal["random", "optuna"] = "random"
    asha: Asha | None = Field(default_factory=Asha)  # null: no early stopping
    max_concurrent: int | None = Field(None, ge=1)


def load_sweep(path: Path, overrides: list[str]) -> tuple[SweepSpec, ExperimentConfig, Path]:
    """Read and validate a sweep file: every dimension's values are loaded into the base config."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"sweep file not found: {path} (see configs/sweeps/)")
    try:
        data = yaml.safe_load(path.read_text())
        spec = SweepSpec.model_validate(data)
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        names = list(SweepSpec.model_fields) if len(err["loc"]) == 1 else []
        hint = did_you_mean(err["loc"][-1], names) if err["type"] == "extra_forbidden" else ""
        raise UserError(first_error_line(exc, str(path), where, f"{err['msg']}{hint}")) from None
    base_path = Path(spec.config)
    if not base_path.is_absolute():
        base_path = (PROJECT_ROOT / base_path) if not base_path.exists() else base_path.resolve()
    for s in spec.seeds:
        if not 0 <= s < MAX_TRAIN_SEED:
            raise UserError(f"{path}: seeds: {s} is outside [0, {MAX_TRAIN_SEED})")
    all_overrides = [*spec.overrides, *overrides]
    base = load_config(base_path, all_overrides)
    for key, dim in spec.space.items():
        if key in RESERVED_KEYS:
            raise UserError(f"{path}: space.{key}: the sweep sets this key itself ({RESERVED_KEYS[key]})")
        for value in dim.probe_values():
            try:
                load_config(base_path, [*all_overrides, f"{key}={json.dumps(value)}"])
            except UserError as exc:
                raise UserError(f"{path}: space.{key}={value}: {exc}") from None
    if base.train.eval_freq <= 0 or base.train.eval_freq >= base.train.total_timesteps:
        raise UserError(f"{path}: the sweep's metric comes from the periodic evaluation: set train.eval_freq "
                        f"(now {base.train.eval_freq}) between 1 and train.total_timesteps ({base.train.total_timesteps})")
    if not spec.metric.startswith("eval/"):
        raise UserError(f"{path}: metric {spec.metric!r}: use a periodic evaluation metric such as eval/return")
    check_name(spec.name or path.stem, f"{path}: name")
    return spec, base, base_path
