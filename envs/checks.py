"""Env config checks: the one error type, the one message format and the rules every laneforge env uses.

highway-env applies a config with a plain ``dict.update``: a misspelt key or an impossible
value is silently kept. laneforge's envs declare a rule per key instead (:class:`Number`,
:class:`Pair`, or a function of the same signature such as :func:`lane_index`) and check the whole
config with :func:`check_config`. Every failure is an :class:`EnvConfigError` with one line,
``key: what is wrong (got value)``; a caller that knows where the config came from puts its
path in front with :func:`within` (``env.config.zone_length: must be > 0 (got -5)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from envs.suggest import did_you_mean

# A rule checks one key: rule(key, value, whole_config); it raises EnvConfigError or returns.
Rule = Callable[[str, Any, Mapping[str, Any]], None]
_UNSET = object()


class EnvConfigError(ValueError):
    """An env id or env parameter that cannot work; the message names the key."""


def config_error(key: str, problem: str, value: Any = _UNSET) -> EnvConfigError:
    """The project's one message format for env config errors: ``key: problem (got value)``."""
    got = "" if value is _UNSET else f" (got {value!r})"
    return EnvConfigError(f"{key}: {problem}{got}")


def within(prefix: str, exc: EnvConfigError) -> EnvConfigError:
    """The same error with its key under ``prefix`` (``env.config`` + ``zone_length``)."""
    return EnvConfigError(f"{prefix}.{exc}")


def check_keys(config: Iterable[str], valid: Iterable[str], owner: str, prefix: str = "",
               unused: Mapping[str, str] | None = None) -> None:
    """Every key of ``config`` must be in ``valid``; ``unused`` names inherited keys the owner
    leaves out on purpose, with the reason."""
    valid = sorted(valid)
    for name in config:
        if unused and name in unused:
            raise config_error(f"{prefix}{name}", f"{owner} does not use this highway-env key "
                                                  f"({unused[name]}); remove it")
        if name not in valid:
            raise config_error(f"{prefix}{name}", f"unknown key for {owner}{did_you_mean(name, valid)}; "
                                                  f"valid keys: {', '.join(valid)}")


def check_config(config: Mapping[str, Any], rules: Mapping[str, Rule]) -> None:
    """Apply each rule to its key, in the rules' order, where the config has the key."""
    for key, rule in rules.items():
        if key in config:
            rule(key, config[key], config)


@dataclass(frozen=True)
class Number:
    """A number (an integer if ``integer``; never a bool) in ``[low, high]``, above ``low`` if ``strict``."""

    low: float | None = None
    high: float | None = None
    strict: bool = False
    integer: bool = False

    def __call__(self, key: str, value: Any, config: Mapping[str, Any] | None = None) -> None:
        kind = int if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise config_error(key, f"must be {'an integer' if self.integer else 'a number'}", value)
        if self.low is not None and (value <= self.low if self.strict else value < self.low):
            raise config_error(key, f"must be {'>' if self.strict else '>='} {self.low}", value)
        if self.high is not None and value > self.high:
            raise config_error(key, f"must be <= {self.high}", value)


@dataclass(frozen=True)
class Pair:
    """A ``[min, max]`` list of two :class:`Number` s with ``min <= max`` (``min < max`` if ``distinct``)."""

    item: Number = Number()
    distinct: bool = False

    def __call__(self, key: str, value: Any, config: Mapping[str, Any] | None = None) -> None:
        if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
            raise config_error(key, "must be a [min, max] pair", value)
        for i, v in enumerate(value):
            self.item(f"{key}[{i}]", v)
        lo, hi = value
        if lo > hi or (self.distinct and lo == hi):
            bound = "smaller than" if self.distinct else "at most"
            raise config_error(key, f"min must be {bound} max", list(value))


def lane_index(key: str, value: Any, config: Mapping[str, Any]) -> None:
    """A rule: null (a random lane) or one of the config's ``lanes_count`` lanes (0 = leftmost)."""
    if value is None:
        return
    lanes = config["lanes_count"]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < lanes:
        raise config_error(key, f"must be null (a random lane) or a lane index from 0 to {lanes - 1} "
                                f"(lanes_count is {lanes})", value)


POSITIVE = Number(low=0, strict=True)
NON_NEGATIVE = Number(low=0)
COUNT = Number(low=0, integer=True)

# highway-env's own keys (``HighwayEnv.default_config()``), wherever an env has them.
# Upper bounds where highway-env would build the scene for minutes or exhaust memory (each
# vehicle is a Python object): a config asking for more is an error, not a hang.
MAX_LANES = 20
MAX_VEHICLES = 1000
HIGHWAY_RULES: dict[str, Rule] = {
    "simulation_frequency": POSITIVE,  # [Hz]
    "policy_frequency": POSITIVE,  # [Hz]
    "lanes_count": Number(low=1, high=MAX_LANES, integer=True),
    "vehicles_count": Number(low=0, high=MAX_VEHICLES, integer=True),
    "vehicles_density": POSITIVE,  # higher is denser
    "duration": POSITIVE,  # [s]
    "initial_lane_id": lane_index,
    "collision_reward": Number(),
    "right_lane_reward": Number(),
    "high_speed_reward": Number(),
    "reward_speed_range": Pair(distinct=True),  # [m/s]
}


def first_error_line(exc: Any, source: str, path: str | None, problem: str | None = None) -> str:
    """One line for a pydantic ``ValidationError``'s first error: ``source: path: problem``
    (default problem: pydantic's message and the value given), ``(and N more)`` when it has
    more. The project's config, suite and sweep files all report through it."""
    errors = exc.errors()
    if problem is None:
        value = errors[0].get("input")
        problem = errors[0]["msg"] + ("" if isinstance(value, Mapping) else f" (got {value!r})")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{source}: {problem}{more}" if path is None else f"{source}: {path}: {problem}{more}"


def validate_file_data(model: type, data: Any, source: str, error: type[Exception], shape: str,
                       format_error: Callable[[Any, str], str]) -> Any:
    """A data file's parsed YAML as the pydantic ``model`` (suites, families): a top level that
    is not a mapping, or the model's first validation error, raises ``error`` with one line
    naming ``source`` (``shape`` says what the top level holds)."""
    from pydantic import ValidationError

    if not isinstance(data, Mapping):
        raise error(f"{source}: the top level must be a mapping {shape}")
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise error(format_error(exc, source)) from None
