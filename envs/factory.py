"""Build environments from data-only config, checking every key first.

highway-env ignores misspelt config keys silently (``configure`` is a plain dict update), so
the keys are checked here against the env class's ``default_config()`` and the nested
observation/action keys against their types' constructors; laneforge's own envs also check
their values (:mod:`envs.base`). Where highway-env takes a dotted import path
(``other_vehicles_type``) the config takes a name from :data:`DRIVER_TYPES`. Every error is an
:class:`EnvConfigError` whose one line starts with the key (``env.config.zone_length: ...``).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import highway_env  # noqa: F401  (registers highway-env's ids, also in spawn/forkserver workers)
from gymnasium.envs.registration import load_env_creator
from highway_env.envs.common import action as hw_action
from highway_env.envs.common import observation as hw_obs
from highway_env.envs.intersection_env import IntersectionEnv
from highway_env.utils import class_from_path

import envs  # noqa: F401  (registers the laneforge/ ids)
from envs.checks import (
    HIGHWAY_RULES,
    MAX_VEHICLES,
    EnvConfigError,
    Number,
    check_config,
    check_keys,
    config_error,
    within,
)
from envs.drivers import DRIVER_CLASS_PATHS
from envs.sb3_vec import VectorEnvAdapter
from envs.suggest import did_you_mean

# Other drivers by name -> highway-env class path. Config never holds an import path.
DRIVER_TYPES: dict[str, str] = {
    "idm": "highway_env.vehicle.behavior.IDMVehicle",
    "linear": "highway_env.vehicle.behavior.LinearVehicle",
    "aggressive": "highway_env.vehicle.behavior.AggressiveVehicle",
    "defensive": "highway_env.vehicle.behavior.DefensiveVehicle",
    **DRIVER_CLASS_PATHS,  # laneforge's IDM/MOBIL profiles: idm_normal, idm_aggressive, idm_defensive
}
_DRIVER_BY_PATH = {path: name for name, path in DRIVER_TYPES.items()}

OBSERVATION_TYPES: dict[str, type] = {
    "Kinematics": hw_obs.KinematicObservation,
    "OccupancyGrid": hw_obs.OccupancyGridObservation,
    "GrayscaleObservation": hw_obs.GrayscaleObservation,
    "TimeToCollision": hw_obs.TimeToCollisionObservation,
    "KinematicsGoal": hw_obs.KinematicsGoalObservation,
    "AttributesObservation": hw_obs.AttributesObservation,
    "LidarObservation": hw_obs.LidarObservation,
    "ExitObservation": hw_obs.ExitObservation,
    "MultiAgentObservation": hw_obs.MultiAgentObservation,
    "TupleObservation": hw_obs.TupleObservation,
}
ACTION_TYPES: dict[str, type] = {
    "DiscreteMetaAction": hw_action.DiscreteMetaAction,
    "DiscreteAction": hw_action.DiscreteAction,
    "ContinuousAction": hw_action.ContinuousAction,
    "MultiAgentAction": hw_action.MultiAgentAction,
}
# Env ids that highway-env 1.12 itself marks out of date, with the id to use instead.
OUTDATED_IDS: dict[str, str] = {}


def registered_ids() -> list[str]:
    return sorted(gym.registry)


def check_env_id(env_id: str, key: str = "env.id") -> None:
    if env_id not in gym.registry:
        raise config_error(key, f"unknown environment '{env_id}'{did_you_mean(env_id, gym.registry)}; "
                                "see `python -c \"import gymnasium, envs; print(list(gymnasium.registry))\"` "
                                "for the ids")


def newer_version(env_id: str) -> str | None:
    """The newest registered version of the same env when ``env_id`` is not it."""
    spec = gym.spec(env_id)
    if spec.version is None:
        return None
    versions = [s for s in gym.registry.values()
                if s.namespace == spec.namespace and s.name == spec.name and s.version is not None]
    newest = max(versions, key=lambda s: s.version)
    return newest.id if newest.version > spec.version else None


def env_class(env_id: str) -> type | None:
    """The class behind a registered id, or None when the entry point is not a class."""
    check_env_id(env_id)
    entry = gym.spec(env_id).entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    return creator if inspect.isclass(creator) else None


def default_env_config(env_id: str) -> dict[str, Any] | None:
    """highway-env style ``default_config()`` of the id's class (None for other envs)."""
    cls = env_class(env_id)
    if cls is None or not hasattr(cls, "default_config"):
        return None
    return cls.default_config()


def _constructor_params(cls: type) -> set[str]:
    """Keyword parameters accepted along the MRO (highway-env types pass **kwargs up)."""
    params: set[str] = set()
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and name not in ("self", "env"):
                params.add(name)
    return params


def _check_typed_section(section: Any, types: Mapping[str, type], key: str, default_type: str) -> None:
    if not isinstance(section, Mapping):
        raise config_error(key, "must be a mapping with a 'type' key", section)
    type_name = section.get("type", default_type)
    if not isinstance(type_name, str) or type_name not in types:
        raise config_error(f"{key}.type", f"unknown type '{type_name}'{did_you_mean(type_name, types)}; "
                                          f"valid: {', '.join(types)}")
    if type_name in ("MultiAgentObservation", "TupleObservation", "MultiAgentAction"):
        return  # nested configs: their inner sections are checked when highway-env builds them
    allowed = sorted(_constructor_params(types[type_name]) | {"type"})
    for name in section:
        if name not in allowed:
            raise config_error(f"{key}.{name}", f"unknown parameter for {type_name}"
                                                f"{did_you_mean(name, allowed)}; valid: {', '.join(allowed)}")


def _check_driver_name(name: Any, key: str) -> None:
    if not isinstance(name, str) or name not in DRIVER_TYPES:
        raise config_error(key, f"unknown driver type '{name}'{did_you_mean(name, DRIVER_TYPES)}; "
                                f"use a name, one of: {', '.join(DRIVER_TYPES)} (import paths are not accepted)")


def check_env_config(env_id: str, config: Mapping[str, Any], key: str = "env.config") -> None:
    """Raise :class:`EnvConfigError` naming the first key highway-env would silently ignore,
    and, for envs that check their values (laneforge's scenarios), the first bad value."""
    check_env_id(env_id)
    defaults = default_env_config(env_id)
    if defaults is None:
        if config:
            raise config_error(key, f"'{env_id}' takes no config dict (it is not a highway-env style env); "
                                    "remove the env.config section")
        return
    cls = env_class(env_id)
    check_keys(config, defaults, env_id, prefix=f"{key}.", unused=getattr(cls, "UNUSED_KEYS", None))
    for section, types in (("observation", OBSERVATION_TYPES), ("action", ACTION_TYPES)):
        if section in config:
            _check_typed_section(config[section], types, f"{key}.{section}", defaults[section].get("type", ""))
    rows = (config.get("observation") or {}).get("vehicles_count") if isinstance(config.get("observation"), Mapping) else None
    if rows is not None:  # observation rows are allocated per step: bounded like the traffic
        Number(low=1, high=MAX_VEHICLES + 1, integer=True)(f"{key}.observation.vehicles_count", rows, config)
    if "other_vehicles_type" in config:
        _check_driver_name(config["other_vehicles_type"], f"{key}.other_vehicles_type")
    try:
        if hasattr(cls, "check_config"):  # laneforge's envs check all their values
            cls.check_config(config)
        else:  # highway-env's own envs: the values of highway-env's shared keys (a huge count hangs)
            merged = {**defaults, **config}
            check_config(merged, {k: r for k, r in HIGHWAY_RULES.items()
                                  if k in config and (k != "initial_lane_id" or "lanes_count" in merged)})
    except EnvConfigError as exc:
        raise within(key, exc) from exc


@contextmanager
def _rejected_config(env_id: str) -> Iterator[None]:
    """Errors raised while an env is built blame its config: the env's own checks name the key."""
    try:
        yield
    except EnvConfigError as exc:
        raise within("env.config", exc) from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise EnvConfigError(f"env.config: {env_id} rejected its config: {exc}") from exc


def to_highway_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Translate names to what highway-env expects (driver names -> class paths)."""
    out = dict(config)
    obs = out.get("observation")
    if isinstance(obs, Mapping) and isinstance(obs.get("observation_shape"), list):
        # GrayscaleObservation concatenates this with a tuple; YAML can only give a list.
        out["observation"] = {**obs, "observation_shape": tuple(obs["observation_shape"])}
    if "other_vehicles_type" in out:
        out["other_vehicles_type"] = DRIVER_TYPES[out["other_vehicles_type"]]
    return out


def make_env(
    env_id: str,
    config: Mapping[str, Any] | None = None,
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
) -> gym.Env:
    """Make one env from a checked config. Module-level so subprocess workers can unpickle it."""
    config = dict(config or {})
    check_env_config(env_id, config)
    kwargs: dict[str, Any] = {}
    if default_env_config(env_id) is not None:
        kwargs["config"] = to_highway_config(config)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    traffic = TrafficClassIsolation.written_class(env_class(env_id), kwargs.get("config", {}))
    # highway-env's constructor already resets once: its class writes are contained from here
    with _rejected_config(env_id), warnings.catch_warnings(), TrafficClassIsolation.contained(traffic) as own:
        # gymnasium warns that some highway-env ids are out of date; the CLI says so once
        # (see newer_version) instead of on every env construction.
        warnings.simplefilter("ignore", DeprecationWarning)
        env = gym.make(env_id, **kwargs)
    return env if traffic is None else TrafficClassIsolation(env, traffic, own)


_ABSENT = object()


class TrafficClassIsolation(gym.Wrapper):
    """Keeps an env's writes to its traffic class's constants inside the env's own calls.

    highway-env's IntersectionEnv._make_vehicles sets DISTANCE_WANTED, COMFORT_ACC_MAX and
    COMFORT_ACC_MIN on the traffic *class* (IDMVehicle by default) at every reset, for the
    whole process: after one intersection episode, every highway, merge or roundabout env in
    the same process (a suite evaluation, a sequential experiment, FastHighway's constants)
    would drive with the intersection's IDM. This wrapper puts the env's own values in place
    around each of its reset/step calls and restores what was there before afterwards, so the
    intersection behaves as highway-env made it and nothing else changes.
    """

    ATTRIBUTES = ("DISTANCE_WANTED", "COMFORT_ACC_MAX", "COMFORT_ACC_MIN")

    def __init__(self, env: gym.Env, traffic: type, own: Mapping[str, Any]) -> None:
        super().__init__(env)
        self._traffic = traffic  # the class highway-env writes to (its other_vehicles_type)
        self._own = dict(own)  # the env's values, as its constructor's reset left them

    @staticmethod
    def written_class(env_cls: type | None, config: Mapping[str, Any]) -> type | None:
        """The traffic class an env of ``env_cls`` with ``config`` writes to; None when it writes none."""
        if env_cls is None or not issubclass(env_cls, IntersectionEnv):
            return None
        return class_from_path({**env_cls.default_config(), **config}["other_vehicles_type"])

    @classmethod
    @contextmanager
    def contained(cls, traffic: type | None) -> Iterator[dict[str, Any]]:
        """Undo the block's writes to ``traffic`` on exit; the yielded dict then holds them."""
        own: dict[str, Any] = {}
        if traffic is None:
            yield own
            return
        outside = cls.snapshot(traffic)
        try:
            yield own
        finally:
            own.update(cls.snapshot(traffic))
            cls.swap(traffic, outside)

    @classmethod
    def snapshot(cls, traffic: type) -> dict[str, Any]:
        return {name: traffic.__dict__.get(name, _ABSENT) for name in cls.ATTRIBUTES}

    @staticmethod
    def swap(traffic: type, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if value is _ABSENT:
                if name in traffic.__dict__:
                    delattr(traffic, name)
            else:
                setattr(traffic, name, value)

    def _isolated(self, method, *args, **kwargs):
        own = self._own
        try:
            with self.contained(self._traffic) as own:
                self.swap(self._traffic, self._own)
                return method(*args, **kwargs)
        finally:
            self._own = own  # the env's values, as its call left them

    def reset(self, **kwargs):
        return self._isolated(self.env.reset, **kwargs)

    def step(self, action):
        return self._isolated(self.env.step, action)


def is_batched(env_id: str) -> bool:
    """True for ids registered with a ``vector_entry_point`` (all envs step as one batch in
    this process, no subprocess per env)."""
    try:
        return gym.spec(env_id).vector_entry_point is not None
    except gym.error.Error:
        return False


def make_batched_vec_env(env_id: str, n_envs: int, config: Mapping[str, Any] | None, seed: int | None,
                         max_episode_steps: int | None = None, family: Any = None) -> Any | None:
    """An SB3 VecEnv that steps all ``n_envs`` as one batch, for ids registered with a
    ``vector_entry_point`` (laneforge/FastHighway-v0): the VectorEnv it builds, through
    :class:`envs.sb3_vec.VectorEnvAdapter`; None for every other id (subprocess/dummy VecEnvs).
    ``family``: a sampler that draws each env's per-env keys at every reset."""
    if not is_batched(env_id):
        return None
    config = dict(config or {})
    check_env_config(env_id, config)
    with _rejected_config(env_id):
        venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", config=config,
                            max_episode_steps=max_episode_steps)
    if family is not None:  # an envs.families.FamilySampler: each env's scenario drawn at its resets
        venv.unwrapped.core.set_family(family)
    return VectorEnvAdapter(venv, seed)


def per_env_keys(env_id: str) -> tuple[str, ...]:
    """The config keys that may differ between the envs of one batch of ``env_id`` (its vector
    env's ``per_env_config_keys``); empty for envs that are not batched."""
    if not is_batched(env_id):
        return ()
    entry = gym.spec(env_id).vector_entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    return tuple(getattr(creator, "per_env_config_keys", ()))


def per_env_draw_rules(env_id: str) -> tuple:
    """(drawn_config, drawn_key_context) of ``env_id``'s vector env: how a family's draw is applied
    and the context a drawn key is checked in (identity and none where the env has none)."""
    entry = gym.spec(env_id).vector_entry_point
    creator = load_env_creator(entry) if isinstance(entry, str) else entry
    return (getattr(creator, "drawn_config", dict), getattr(creator, "drawn_key_context", lambda key: {}))


def batched_twin_ids() -> list[str]:
    """Registered ids of laneforge's batched simulators (twins of highway-env scenarios);
    gymnasium's own vectorized classics (CartPole) are batched but not twins."""
    return [i for i in registered_ids() if i.startswith(f"{envs.NAMESPACE}/") and is_batched(i)]


def make_batched_core(env_id: str, n_envs: int, config: Mapping[str, Any] | None = None) -> Any:
    """The batched simulator core of ``n_envs`` envs for an id registered with a
    ``vector_entry_point`` (laneforge/FastHighway-v0's ``FastHighwayCore``: numpy in, numpy out,
    no autoreset), for evaluation that steps many episodes at once; the config is checked as
    :func:`make_env` checks it."""
    if env_id not in batched_twin_ids():
        raise config_error("env_id", f"'{env_id}' is not a batched simulator (batched: {', '.join(batched_twin_ids())})")
    config = dict(config or {})
    check_env_config(env_id, config)
    with _rejected_config(env_id):
        venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", config=config)
    return venv.unwrapped.core
