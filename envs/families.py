"""Scenario families: distributions over the config keys that may differ between the envs of
one batch, drawn again at every reset of each env.

A family file (``configs/families/*.yaml``) is data only::

    name: density_mix                    # optional; default: the file's stem
    description: free text               # optional
    env_id: laneforge/FastHighway-v0     # a batched env (its per-env keys are what may be drawn)
    config: {vehicles_count: 30}         # shared by every env of the batch
    draw:                                # per-env keys, drawn at every reset of each env
      vehicles_density: {uniform: [0.5, 2.5]}
      duration: {choice: [20, 30, 40], weights: [1, 2, 1]}
      initial_lane_id: {choice: [null, 0, 1, 2]}
    scenarios: 100                       # optional: N distinct draws made once from the seed

A scenario is one parameter draw; traffic is drawn afresh at every reset whatever the family.
With ``scenarios: N`` the N draws are made once from the seed and every reset picks one of them
(the "number of training maps" axis of PGDrive and Procgen). :func:`load_family` checks
everything it can without building an env, every drawable value included; a bad file raises
:class:`FamilyError` (a ``ValueError``) naming the file and the key.

:class:`FamilySampler` gives env b its draws from its own seeded stream, so env b's scenarios do
not depend on the batch size or on when the other envs reset.
"""

from __future__ import annotations

import bisect
import itertools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from envs.checks import EnvConfigError, first_error_line, validate_file_data
from envs.factory import check_env_config, check_env_id, per_env_draw_rules, per_env_keys
from envs.suggest import did_you_mean
from envs.yamlfile import read_yaml_file

TABLE_STREAM = 2**31  # the stream key of the N-scenario table (env streams are 0 .. B-1)


class FamilyError(ValueError):
    """A family file that cannot be used; the message names the file and the key path."""


# Counts: ``uniform: [low, high]`` draws an integer from low to high, both included.
INTEGER_KEYS = ("lanes_count", "vehicles_count")
# Checking every combination of the drawn keys' extremes stops at this many (then: each key alone).
MAX_COMBINATIONS = 4096


@dataclass(frozen=True)
class Distribution:
    """``uniform`` over [low, high] (integers, both included, when ``integer``), or a ``choice``
    among values (weights: relative, optional)."""

    kind: str
    values: tuple
    weights: tuple[float, ...] | None = None
    integer: bool = False

    def sample(self, rng: np.random.Generator) -> Any:
        return _sampler(self)(rng)

    @cached_property
    def _cdf(self) -> np.ndarray:
        cdf = np.cumsum(np.asarray(self.weights) / np.sum(self.weights))
        return cdf / cdf[-1]

    def extremes(self) -> tuple:
        """The values that checking the family must try (both ends, or every choice)."""
        return self.values


@dataclass(frozen=True)
class Family:
    name: str
    env_id: str
    draws: dict[str, Distribution]
    config: dict[str, Any] = field(default_factory=dict)
    scenarios: int | None = None
    description: str = ""
    path: Path | None = None

    @cached_property
    def samplers(self) -> list[tuple[str, Any]]:
        """(key, draw function) per drawn key in draw order (sorted keys), built once."""
        return [(key, _sampler(self.draws[key])) for key in sorted(self.draws)]

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the draw functions (closures; rebuilt on first use), for worker processes."""
        return {k: v for k, v in self.__dict__.items() if k != "samplers"}

    def summary(self) -> str:
        """One line per drawn key, for --dry-run and logs."""
        lines = [f"family {self.name} on {self.env_id}"
                 + (f", {self.scenarios} distinct scenarios" if self.scenarios else ", a new draw at every reset")]
        for key, dist in self.draws.items():
            if dist.kind == "uniform":
                whole = " (integers)" if dist.integer else ""
                lines.append(f"  {key}: uniform [{dist.values[0]}, {dist.values[1]}]{whole}")
            else:
                weights = f" weights {list(dist.weights)}" if dist.weights else ""
                lines.append(f"  {key}: choice {list(dist.values)}{weights}")
        if self.config:
            lines.append(f"  shared config: {self.config}")
        return "\n".join(lines)


# ---------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _DistModel(_Strict):
    uniform: list[float] | None = Field(default=None, min_length=2, max_length=2)
    choice: list[Any] | None = Field(default=None, min_length=1)
    weights: list[float] | None = None


class _FamilyModel(_Strict):
    name: str | None = None
    description: str = ""
    env_id: str
    config: dict[str, Any] = Field(default_factory=dict)
    draw: dict[str, _DistModel] = Field(min_length=1)
    scenarios: int | None = Field(default=None, ge=1)


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _format(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    problem = None
    if err["type"] == "extra_forbidden":
        model = _DistModel if loc[:1] == ("draw",) else _FamilyModel
        problem = f"unknown key{did_you_mean(loc[-1], model.model_fields)}; valid keys: {', '.join(model.model_fields)}"
    elif err["type"] == "missing":
        problem = "missing required key"
    return first_error_line(exc, source, _loc(loc), problem)


def _distribution(key: str, spec: _DistModel, source: str) -> Distribution:
    where = f"{source}: draw.{key}"
    if (spec.uniform is None) == (spec.choice is None):
        raise FamilyError(f"{where}: give exactly one of uniform: [low, high] or choice: [values]")
    if spec.uniform is not None:
        low, high = spec.uniform
        if spec.weights is not None:
            raise FamilyError(f"{where}.weights: weights go with choice, not uniform")
        if not low <= high:
            raise FamilyError(f"{where}.uniform: low must not exceed high (got [{low}, {high}])")
        if key == "initial_lane_id":
            raise FamilyError(f"{where}.uniform: a lane index is drawn with choice: [null, 0, 1, ...], not uniform")
        if key in INTEGER_KEYS:
            if low != int(low) or high != int(high):
                raise FamilyError(f"{where}.uniform: {key} is a count; give whole numbers (got [{low}, {high}])")
            return Distribution("uniform", (int(low), int(high)), integer=True)
        return Distribution("uniform", (low, high))
    if spec.weights is not None:
        if len(spec.weights) != len(spec.choice) or not all(w > 0 for w in spec.weights):
            raise FamilyError(f"{where}.weights: give one positive weight per choice ({len(spec.choice)})")
        return Distribution("choice", tuple(spec.choice), tuple(spec.weights))
    return Distribution("choice", tuple(spec.choice))


def parse_family(data: Any, source: str = "family", default_name: str = "family") -> Family:
    """Validate already-parsed YAML data; errors name ``source`` and the key."""
    model = validate_file_data(_FamilyModel, data, source, FamilyError, "with env_id and draw", _format)
    try:
        check_env_id(model.env_id, key="env_id")
        check_env_config(model.env_id, model.config, key="config")
    except EnvConfigError as exc:
        raise FamilyError(f"{source}: {exc}") from None
    allowed = per_env_keys(model.env_id)
    drawn_config, key_context = per_env_draw_rules(model.env_id) if allowed else (dict, lambda key: {})
    if not allowed:
        raise FamilyError(f"{source}: env_id: '{model.env_id}' cannot vary its scenario per env; a family needs a "
                          "batched env such as laneforge/FastHighway-v0")
    draws = {}
    for key, spec in model.draw.items():
        if key not in allowed:
            raise FamilyError(f"{source}: draw.{key}: not a per-env key of {model.env_id}{did_you_mean(key, allowed)}; "
                              f"drawable: {', '.join(allowed)}")
        if key in model.config:
            raise FamilyError(f"{source}: config.{key}: also drawn under draw.{key}; keep one")
        draws[key] = _distribution(key, spec, source)
        for value in draws[key].extremes():
            try:
                check_env_config(model.env_id, {**model.config, **key_context(key), key: value}, key="draw")
            except EnvConfigError as exc:
                raise FamilyError(f"{source}: {exc}") from None
    _check_combinations(model.env_id, model.config, draws, source, drawn_config)
    return Family(name=model.name or default_name, env_id=model.env_id, draws=draws, config=dict(model.config),
                  scenarios=model.scenarios, description=model.description)


def _check_combinations(env_id: str, config: dict[str, Any], draws: dict[str, Distribution], source: str,
                        drawn_config=dict) -> None:
    """Every combination of the drawn keys' extremes must be a valid config (e.g. an initial
    lane that exists on the fewest lanes drawn); each key alone was checked before."""
    keys = sorted(draws)
    grids = [draws[k].extremes() for k in keys]
    if len(keys) < 2 or np.prod([len(g) for g in grids], dtype=float) > MAX_COMBINATIONS:
        return
    for values in itertools.product(*grids):
        combo = dict(zip(keys, values))
        try:
            check_env_config(env_id, {**config, **drawn_config(combo)}, key="draw")
        except EnvConfigError as exc:
            together = ", ".join(f"{k} {v!r}" for k, v in combo.items())
            raise FamilyError(f"{source}: {exc} (drawn together with {together}); narrow the draws so "
                              "that every combination is valid") from None


def load_family(path: str | Path) -> Family:
    """Read and validate a family YAML file (see the module docstring for the format)."""
    path = Path(path)
    data = read_yaml_file(path, "family", "e.g. configs/families/highway_density.yaml", FamilyError)
    return replace(parse_family(data, source=str(path), default_name=path.stem), path=path)


# ---------------------------------------------------------------- drawing


def _sampler(dist: Distribution):
    """A closure drawing from ``dist`` (the per-call branching done once; a family keeps one per
    key, :attr:`Family.samplers`)."""
    values = dist.values
    if dist.kind == "uniform":
        low, high = values
        if dist.integer:
            return lambda rng: int(rng.integers(low, high + 1))
        # rng.uniform(low, high) computes low + (high - low) * rng.random() in doubles: the same
        # numbers from the same stream, at a third of the call's cost
        low, span = float(low), float(high) - float(low)
        return lambda rng: low + span * rng.random()
    if dist.weights is None:  # rng.choice(n): the same draw
        count = len(values)
        return lambda rng: values[int(rng.integers(0, count))]
    # rng.choice(n, p=weights / sum) draw for draw (its inverse-CDF search: the first edge above
    # the uniform draw), at a tenth of its cost
    cdf = dist._cdf.tolist()
    return lambda rng: values[bisect.bisect_right(cdf, rng.random())]


def _draw(family: Family, rng: np.random.Generator) -> dict[str, Any]:
    return {key: sample(rng) for key, sample in family.samplers}


class FamilySampler:
    """Draws for the envs of one batch: env b from its own stream ``default_rng([seed, b])``;
    with ``family.scenarios`` N, every draw picks one of N scenarios drawn once from the seed.

    :meth:`get_state` / :meth:`set_state` carry the streams and the draw statistics across a
    resumed run (a training checkpoint holds them), so a resumed run goes on drawing where it
    stopped and its statistics count every draw of the run."""

    RECENT = 4096  # the latest draws kept as they were (``recent``); statistics count all

    def __init__(self, family: Family, seed: int, num_envs: int) -> None:
        self.family, self.seed = family, int(seed)
        self._streams = [np.random.default_rng([self.seed, b]) for b in range(num_envs)]
        self.table = self._table()
        self.recent: deque[dict[str, Any]] = deque(maxlen=self.RECENT)
        self._picked: set[int] = set()
        self._count = 0
        # per uniform key [sum, min, max]; per choice key {str(value): count}
        self._sums: dict[str, list[float]] = {}
        self._counts: dict[str, dict[str, int]] = {key: {} for key, d in family.draws.items() if d.kind != "uniform"}

    def _table(self) -> list[dict[str, Any]] | None:
        """The N scenarios of ``family.scenarios`` N, drawn once from the seed (None: no limit)."""
        if not self.family.scenarios:
            return None
        table_rng = np.random.default_rng([self.seed, TABLE_STREAM])
        return [_draw(self.family, table_rng) for _ in range(self.family.scenarios)]

    def draw(self, envs: Sequence[int]) -> list[dict[str, Any]]:
        """The next scenario of each env in ``envs`` (config updates of the per-env keys)."""
        out = []
        for b in envs:
            rng = self._streams[int(b)]
            if self.table is not None:
                index = int(rng.integers(len(self.table)))
                self._picked.add(index)
                scenario = dict(self.table[index])
            else:
                scenario = _draw(self.family, rng)
            self._record(scenario)
            out.append(scenario)
        return out

    def _record(self, scenario: dict[str, Any]) -> None:
        self._count += 1
        self.recent.append(scenario)
        for key, value in scenario.items():
            counts = self._counts.get(key)
            if counts is not None:
                name = str(value)
                counts[name] = counts.get(name, 0) + 1
                continue
            value = float(value)
            total = self._sums.get(key)
            if total is None:
                total = self._sums[key] = [0.0, value, value]
            total[0] += value
            if value < total[1]:  # min() and max(), keeping the first of equal values as they do
                total[1] = value
            if value > total[2]:
                total[2] = value

    def statistics(self) -> dict[str, Any]:
        """What was drawn so far: per key the mean, min and max (numbers) or the count of each
        value (choices), and with N scenarios how many distinct ones were used."""
        stats: dict[str, Any] = {"draws": self._count, "keys": {}}
        for key in self.family.draws:
            if key in self._counts:
                stats["keys"][key] = {"counts": dict(self._counts[key])}
            elif key in self._sums:
                total, low, high = self._sums[key]
                stats["keys"][key] = {"mean": total / self._count, "min": low, "max": high}
            else:
                stats["keys"][key] = {"counts": {}}
        if self.table is not None:
            stats["scenarios"] = len(self.table)
            stats["distinct_used"] = len(self._picked)
        return stats

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state: each env's stream and the statistics so far."""
        return {"seed": self.seed, "streams": [rng.bit_generator.state for rng in self._streams],
                "count": self._count, "sums": self._sums, "counts": self._counts, "picked": sorted(self._picked)}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`get_state` of a sampler of the same family and batch size (its seed
        is taken over: a resumed run seeds its envs anew, its family draws go on)."""
        if len(state["streams"]) != len(self._streams):
            raise ValueError(f"family sampler state with {len(state['streams'])} envs does not fit this sampler "
                             f"({len(self._streams)} envs)")
        if int(state["seed"]) != self.seed:  # the run's own N scenarios, not a table of the resumed seed
            self.seed = int(state["seed"])
            self.table = self._table()
        for rng, saved in zip(self._streams, state["streams"]):
            rng.bit_generator.state = saved
        self._count, self._picked = int(state["count"]), set(state["picked"])
        self._sums = {k: list(v) for k, v in state["sums"].items()}
        self._counts = {k: dict(v) for k, v in state["counts"].items()}
