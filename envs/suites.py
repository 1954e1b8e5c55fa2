"""Scenario suites: named lists of env scenarios, each tagged ``seen`` or ``unseen``.

A suite file (``configs/suites/*.yaml``) is data only::

    name: highway_generalization        # optional; default: the file's stem
    description: free text              # optional
    scenarios:
      - name: dense_traffic             # unique in the suite; letters, digits, _ . -
        env_id: highway-fast-v0         # a registered id (highway-env's or laneforge/)
        split: unseen                   # seen (inside the training distribution) | unseen
        env_config: {vehicles_density: 2.0}   # overrides of the env's default_config()
        twin:                           # optional: the same scenario on a batched simulator
          env_id: laneforge/FastHighway-v0
          env_config: {vehicles_density: 2.0}

A scenario on a batched env may name a ``family`` (a family file; its ``config`` under the
scenario's ``env_config``): every episode then plays a scenario drawn from it, from
``family_seed`` (default 1,000,000, above every training seed: held-out draws of the family a
run trained on). With ``on_highway_env: true`` each draw is played on highway-env instead
(highway-fast-v0, or the drawn hazard's laneforge env: :func:`highway_env_draw`), so held-out
draws are judged on the reference simulator too; ``--simulator twin`` plays them on the
batched env. Its family must draw only what highway-env simulates.

A ``twin`` is used when evaluation asks for it (``evaluate.py --simulator twin``): thousands of
episodes in seconds, for learning curves and sweeps; final numbers stay on ``env_id``. It must
be a batched env, and every setting it shares with ``env_id`` must have the same value there
(the rendering keys and the observation and action, which evaluation forces from the run,
aside): a twin that simulates another scenario is refused.

:func:`load_suite` checks everything it can without building an env: unknown keys, types,
duplicate names, the env id, every ``env_config`` key and, for laneforge's envs, every value
(``envs.factory.check_env_config``). A bad
file raises :class:`SuiteError` (a ``ValueError``) naming the file and the key path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from envs.checks import first_error_line, validate_file_data
from envs.factory import (
    EnvConfigError,
    batched_twin_ids,
    check_env_config,
    default_env_config,
    to_highway_config,
)
from envs.families import Family, FamilyError, FamilySampler, load_family
from envs.suggest import did_you_mean
from envs.yamlfile import read_yaml_file

SPLITS = ("seen", "unseen")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class SuiteError(ValueError):
    """A suite file that cannot be used; the message names the file and the key path."""


SIMULATORS = ("highway-env", "twin")
HELD_OUT_SEED = 1_000_000  # a family scenario's default draw seed: above every training seed (< 1,000,000)
# Keys a twin need not share with its scenario: how it is drawn, and what evaluation forces.
TWIN_FREE_KEYS = {"observation", "action", "screen_width", "screen_height", "centering_position", "scaling",
                  "show_trajectories", "render_agent", "offscreen_rendering", "manual_control",
                  "real_time_rendering"}


@dataclass(frozen=True)
class Twin:
    """A batched simulator's version of a scenario (see the module docstring)."""

    env_id: str
    env_config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """One evaluation scenario: an env id with config overrides and a split tag, and
    optionally its batched twin."""

    name: str
    split: Literal["seen", "unseen"]
    env_id: str
    env_config: dict[str, Any] = field(default_factory=dict)
    twin: Twin | None = None
    family: Family | None = None  # each episode's scenario drawn from it (batched envs)
    family_seed: int = HELD_OUT_SEED
    on_highway_env: bool = False  # with a family: each draw played on highway-env (highway_env_draw)

    def on(self, simulator: str) -> Scenario:
        """The scenario as ``simulator`` judges it: its twin's env for "twin" where it has
        one, a family's draws on its batched env for "twin" (without one, or for
        "highway-env": itself)."""
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator: must be one of {', '.join(SIMULATORS)}, got {simulator!r}")
        if simulator == "twin" and self.twin is not None:
            return replace(self, env_id=self.twin.env_id, env_config=dict(self.twin.env_config), twin=None)
        if simulator == "twin" and self.on_highway_env:  # the family's draws on its batched env
            return replace(self, on_highway_env=False)
        return self

    def episode_sampler(self, seed: int) -> FamilySampler:
        """The family draws of episode ``seed`` played alone (one env: a recorded episode, or a
        draw played on highway-env)."""
        return FamilySampler(self.family, self.family_seed + seed, 1)


@dataclass(frozen=True)
class Suite:
    """A named, validated list of scenarios (names are unique)."""

    name: str
    scenarios: tuple[Scenario, ...]
    description: str = ""
    path: Path | None = None

    def names(self) -> list[str]:
        return [s.name for s in self.scenarios]

    def split(self, split: str) -> list[Scenario]:
        if split not in SPLITS:
            raise ValueError(f"split: must be one of {', '.join(SPLITS)}, got {split!r}")
        return [s for s in self.scenarios if s.split == split]

    @property
    def seen(self) -> list[Scenario]:
        return self.split("seen")

    @property
    def unseen(self) -> list[Scenario]:
        return self.split("unseen")

    def get(self, name: str) -> Scenario:
        for s in self.scenarios:
            if s.name == name:
                return s
        raise ValueError(f"scenario: no scenario '{name}' in suite '{self.name}'"
                         f"{did_you_mean(name, self.names())}; "
                         f"valid: {', '.join(self.names())}")


# ---------------------------------------------------------------- schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _TwinModel(_Strict):
    env_id: str
    env_config: dict[str, Any] = Field(default_factory=dict)


class _ScenarioModel(_Strict):
    name: str
    env_id: str
    split: Literal["seen", "unseen"]
    env_config: dict[str, Any] = Field(default_factory=dict)
    twin: _TwinModel | None = None
    family: str | None = None
    family_seed: int = Field(HELD_OUT_SEED, ge=0)
    on_highway_env: bool = False

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be a non-empty name of letters, digits, '_', '.' or '-'")
        return v


class _SuiteModel(_Strict):
    name: str | None = None
    description: str = ""
    scenarios: list[_ScenarioModel] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.match(v):
            raise ValueError("must be a non-empty name of letters, digits, '_', '.' or '-'")
        return v


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    problem = None
    if err["type"] == "extra_forbidden":
        model = (_TwinModel if "twin" in loc else _ScenarioModel if "scenarios" in loc[:1] else _SuiteModel)
        problem = (f"unknown key{did_you_mean(loc[-1], model.model_fields)}; "
                   f"valid keys: {', '.join(model.model_fields)}")
    elif err["type"] == "missing":
        problem = "missing required key"
    elif err["type"] == "literal_error":
        problem = f"must be one of {', '.join(SPLITS)} (got {err.get('input')!r})"
    return first_error_line(exc, source, _loc(loc), problem)


# ---------------------------------------------------------------- loading


def parse_suite(data: Any, source: str = "suite", default_name: str = "suite") -> Suite:
    """Validate already-parsed YAML data; errors name ``source`` and the key path."""
    model = validate_file_data(_SuiteModel, data, source, SuiteError, "with a 'scenarios' list", _format)
    seen_names: set[str] = set()
    scenarios = []
    for i, sc in enumerate(model.scenarios):
        key = f"scenarios[{i}]"
        if sc.name in seen_names:
            raise SuiteError(f"{source}: {key}.name: duplicate scenario name '{sc.name}'")
        seen_names.add(sc.name)
        _check_env(sc.env_id, sc.env_config, key, source)
        twin = _check_twin(sc, key, source) if sc.twin is not None else None
        family = _check_family(sc, key, source) if sc.family is not None else None
        config = {**(family.config if family else {}), **sc.env_config}
        if sc.on_highway_env:
            _check_on_highway_env(family, key, source)
        scenarios.append(Scenario(name=sc.name, split=sc.split, env_id=sc.env_id, env_config=config,
                                  twin=twin, family=family, family_seed=sc.family_seed, on_highway_env=sc.on_highway_env))
    return Suite(name=model.name or default_name, scenarios=tuple(scenarios), description=model.description)


def _check_env(env_id: str, env_config: dict[str, Any], key: str, source: str) -> None:
    """The id and config under ``key`` (a scenario or its twin), or SuiteError naming the key."""
    try:
        check_env_config(env_id, env_config, key=f"{key}.env_config")
    except EnvConfigError as exc:
        msg = str(exc)
        if msg.startswith("env.id"):
            msg = f"{key}.env_id{msg[len('env.id'):]}"
        raise SuiteError(f"{source}: {msg}") from None


def _check_family(sc: _ScenarioModel, key: str, source: str) -> Family:
    """The scenario's family, if it loads and fits the scenario's env and config."""
    try:
        family = load_family(sc.family)
    except FamilyError as exc:
        raise SuiteError(f"{source}: {key}.family: {exc}") from None
    if family.env_id != sc.env_id:
        raise SuiteError(f"{source}: {key}.family: draws for {family.env_id}, not the scenario's {sc.env_id}")
    if sc.twin is not None:
        raise SuiteError(f"{source}: {key}.family: a family scenario runs on its batched env already; drop the twin")
    drawn = sorted(set(family.draws) & set(sc.env_config))
    if drawn:
        raise SuiteError(f"{source}: {key}.env_config.{drawn[0]}: drawn by the family ({family.name}); remove it")
    return family


# Family keys that only FastHighway has: a family drawing them has no highway-env counterpart.
FAST_ONLY_DRAWS = ("driver_mix", "driver_ranges", "ego_speed")


def _check_on_highway_env(family: Family | None, key: str, source: str) -> None:
    """``on_highway_env`` needs a family whose every draw highway-env can simulate."""
    if family is None:
        raise SuiteError(f"{source}: {key}.on_highway_env: plays a family's draws on highway-env; name a family")
    fast = [k for k in FAST_ONLY_DRAWS if k in family.draws or k in family.config]
    if fast:
        raise SuiteError(f"{source}: {key}.on_highway_env: the family sets {fast[0]}, which only FastHighway "
                         "simulates; judge this family on its batched env (drop on_highway_env)")


def highway_env_draw(scenario: Scenario, seed: int) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Episode ``seed`` of a family scenario played on highway-env: (the draw, highway-env's env
    id, its config). The draw is the one a single batched env of the scenario plays for that
    seed (the same stream as its recorded episodes); envs.fast_highway.hazards maps it to
    highway-fast-v0 or the hazard's laneforge env."""
    from envs.fast_highway.hazards import applicable, highway_env_scenario

    draw = applicable(scenario.episode_sampler(seed).draw([0])[0])
    env_id, update = highway_env_scenario({**scenario.family.config, **draw})
    return draw, env_id, {**{k: v for k, v in scenario.env_config.items() if k in ("observation", "action")}, **update}


def _check_twin(sc: _ScenarioModel, key: str, source: str) -> Twin:
    """The scenario's twin, if it is a batched env with a valid config that simulates the
    same scenario (every shared setting equal); else SuiteError naming the key."""
    twin = sc.twin
    assert twin is not None
    _check_env(twin.env_id, twin.env_config, f"{key}.twin", source)
    if twin.env_id not in batched_twin_ids():
        raise SuiteError(f"{source}: {key}.twin.env_id: '{twin.env_id}' is not a batched simulator; a twin is "
                         f"one of: {', '.join(batched_twin_ids())}")
    own = {**(default_env_config(sc.env_id) or {}), **to_highway_config(sc.env_config)}
    theirs = {**(default_env_config(twin.env_id) or {}), **to_highway_config(twin.env_config)}
    for name in sorted((set(own) & set(theirs)) - TWIN_FREE_KEYS):
        if own[name] != theirs[name]:
            raise SuiteError(f"{source}: {key}.twin.env_config.{name}: {theirs[name]!r} differs from the scenario's "
                             f"{own[name]!r}; a twin must simulate the same scenario (set {name}: {own[name]!r} in "
                             "the twin, or drop the twin)")
    return Twin(env_id=twin.env_id, env_config=dict(twin.env_config))


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite YAML file (see the module docstring for the format)."""
    path = Path(path)
    data = read_yaml_file(path, "suite", "e.g. configs/suites/highway_generalization.yaml", SuiteError)
    suite = parse_suite(data, source=str(path), default_name=path.stem)
    return Suite(name=suite.name, scenarios=suite.scenarios, description=suite.description, path=path)
