"""Gymnasium interfaces of FastHighway: a VectorEnv stepping B envs at once, and a single Env.

``gymnasium.make_vec("laneforge/FastHighway-v0", num_envs=B, config=...)`` builds
:class:`FastHighwayVectorEnv` (same-step autoreset: a finished env is reset inside ``step``,
its last observation and info in ``infos["final_obs"]`` / ``infos["final_info"]``);
``gymnasium.make("laneforge/FastHighway-v0", config=...)`` builds :class:`FastHighwayEnv`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from highway_env.envs.common.action import DiscreteMetaAction
from highway_env.vehicle.controller import MDPVehicle

from envs.checks import config_error
from envs.drive_probe import REFERENCE_SPEED, Goal, batch_row

from . import hazards, observe
from .config import default_config, resolve_config
from .sim import EnvScenarios, SimParams, SimState, closest_lane, simulate, spawn

# Config keys that may differ between the envs of one batch (FastHighwayCore.set_scenarios).
PER_ENV_KEYS = EnvScenarios.KEYS
from .xp import NumpyOps, make_ops

_CODE = {"LANE_LEFT": 0, "IDLE": 1, "LANE_RIGHT": 2, "FASTER": 3, "SLOWER": 4}


def _action_codes(action_config: Mapping[str, Any]) -> np.ndarray:
    longi, lat = action_config.get("longitudinal", True), action_config.get("lateral", True)
    table = (DiscreteMetaAction.ACTIONS_ALL if longi and lat
             else DiscreteMetaAction.ACTIONS_LONGI if longi else DiscreteMetaAction.ACTIONS_LAT)
    return np.array([_CODE[table[i]] for i in range(len(table))], np.int64)


def _check_num_envs(num_envs: Any) -> int:
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs must be an integer >= 1 (the batch size B), got {num_envs!r}")
    return int(num_envs)


class FastHighwayCore:
    """The batched simulator with highway-env's episode logic; numpy in, numpy out.

    ``state`` holds backend arrays (numpy, or torch tensors on ``config["device"]``); the
    methods return numpy arrays whatever the backend.
    """

    def __init__(self, num_envs: int, config: Mapping[str, Any] | None = None) -> None:
        self.num_envs = _check_num_envs(num_envs)
        self.config = resolve_config(config)
        self.xp = make_ops(self.config["backend"], str(self.config["device"]))
        speeds = self.config["action"].get("target_speeds")
        self.params = SimParams(
            lanes=self.config["lanes_count"],
            vehicles=self.config["vehicles_count"] + 1,
            simulation_frequency=self.config["simulation_frequency"],
            policy_frequency=self.config["policy_frequency"],
            traffic_collisions=bool(self.config["traffic_collisions"]),
            target_speeds=(np.array(speeds, dtype=np.float64) if speeds is not None
                           else MDPVehicle.DEFAULT_TARGET_SPEEDS.copy()),
            ego_spacing=float(self.config["ego_spacing"]),
            vehicles_density=float(self.config["vehicles_density"]),
            initial_lane_id=self.config["initial_lane_id"],
            xp=self.xp,
        )
        self.codes = _action_codes(self.config["action"])
        self._codes_xp = self.xp.asarray(self.codes)
        self.observer = observe.KinematicsObserver(self.config["observation"])
        self.rng = np.random.default_rng()
        self.scenarios: EnvScenarios | None = None  # per-env values (set_scenarios); None: config's for all
        self.family: Any = None  # a FamilySampler drawing each env's values at its resets (set_family)
        self.drawn: list[dict[str, Any] | None] = [None] * self.num_envs  # each env's current family draw
        # the config's own values as per-env arrays where spawning needs them (driver profiles)
        uniform = EnvScenarios.uniform(self.config, self.num_envs)
        self._config_scenarios = uniform if uniform.custom_drivers() or uniform.has_hazards() else None
        self._fit_drivers(uniform.custom_drivers())
        self._fit_hazards(uniform.has_hazards())
        self.params = replace(self.params, vehicles=int(uniform.slots.max()))  # (no scene yet to pad)
        self.state = spawn(self.params, self.rng, self.num_envs, self._config_scenarios).to(self.xp)

    def seed(self, seed: int | list[int] | None) -> None:
        self.rng = np.random.default_rng(seed)

    def set_state(self, state: SimState) -> None:
        """Replace the scene by a copy of a numpy state (e.g. from :func:`state_from_highway`)."""
        state = state.copy()
        self._fit_lanes(int(state.lanes.max()))
        self._fit_drivers(state.custom_drivers())
        self._fit_hazards(state.has_hazards(self.params.traffic_collisions))
        self.params = replace(self.params, vehicles=state.x.shape[1], padded=self.params.padded or not state.present.all())
        # x, y and heading are never -0.0 in a simulation (see SimState); + 0.0 maps -0.0 to +0.0
        for a in (state.x, state.y, state.heading):
            a += 0.0
        # lane is the closest lane of each vehicle, as after any frame (the simulator relies on it)
        state.lane[:] = closest_lane(NumpyOps(), state.x, state.y, state.heading, state.lanes[:, None])
        self.state = state.to(self.xp)

    def set_scenarios(self, configs: list[Mapping[str, Any]] | None) -> None:
        """Give env b its own values of :data:`PER_ENV_KEYS` from ``configs[b]`` (a config update
        on this core's config; the other keys must be this core's), from the next reset of each
        env on; None: the config's values for all. Checked whole before anything changes."""
        if configs is None:
            self.use_scenarios(None)
            return
        if len(configs) != self.num_envs:
            raise ValueError(f"per-env configs: give one dict per env ({self.num_envs}), got {len(configs)}")
        resolved = []
        for b, update in enumerate(configs):
            if not isinstance(update, Mapping):
                raise ValueError(f"per-env configs[{b}]: give a dict of config keys, got {update!r}")
            shared = sorted(k for k in update if k not in PER_ENV_KEYS and update[k] != self.config.get(k))
            if shared:
                raise config_error(shared[0], f"cannot differ between the envs of one batch (per env: "
                                              f"{', '.join(PER_ENV_KEYS)}); set it for the whole batch", update[shared[0]])
            resolved.append(resolve_config({**self.config, **update}))
        self.use_scenarios(EnvScenarios.from_configs(resolved))

    def use_scenarios(self, scenarios: EnvScenarios | None) -> None:
        """Per-env values already checked (:meth:`set_scenarios` and the vector env's reset check
        them), from the next reset of each env on; None: the config's values for all."""
        self.scenarios = scenarios
        if scenarios is not None:
            self._durations = self.xp.asarray(scenarios.duration)
            self._fit_lanes(int(scenarios.lanes_count.max()))
            self._fit_drivers(scenarios.custom_drivers())
            self._fit_hazards(scenarios.has_hazards())
            self._fit_vehicles(scenarios.slots)

    def _fit_lanes(self, lanes: int) -> None:
        """Make room for a road of ``lanes`` lanes in the batch (the neighbour tables span
        ``params.lanes`` lanes; each env's road keeps its own count, ``state.lanes``)."""
        if lanes > self.params.lanes:
            self.params = replace(self.params, lanes=lanes)

    def _fit_vehicles(self, counts: np.ndarray) -> None:
        """Make room for envs of ``counts`` vehicles (ego included): the batch holds the most
        of them, and envs with fewer have absent slots (the running envs' scenes are padded)."""
        most = int(counts.max())
        if most > self.params.vehicles:
            self.state = self.state.numpy(self.xp).padded(most).to(self.xp)
            self.params = replace(self.params, vehicles=most, padded=True)
        if (counts < self.params.vehicles).any() and not self.params.padded:
            self.params = replace(self.params, padded=True)

    def _fit_hazards(self, hazards: bool) -> None:
        """Simulate obstacles, braking vehicles and per-slot collision checks from now on when an
        env has a hazard (its scenes may also leave slots absent: dropped traffic)."""
        if hazards and not self.params.hazards:
            self.params = replace(self.params, hazards=True, padded=True)

    def _fit_drivers(self, custom: bool) -> None:
        """Simulate with each vehicle's own IDM/MOBIL parameters from now on when some may differ
        from highway-env's defaults (with the defaults, both ways give the same bits)."""
        if custom and not self.params.drivers:
            self.params = replace(self.params, drivers=True)

    def set_family(self, sampler: Any) -> None:
        """Draw each env's values of :data:`PER_ENV_KEYS` from ``sampler`` (an
        :class:`envs.families.FamilySampler`) at every reset of that env, from the next one on;
        None: back to the config's values for all."""
        self.family = sampler
        if sampler is None:
            self.drawn = [None] * self.num_envs
            self.use_scenarios(None)

    def _draw_scenarios(self, mask: np.ndarray | None) -> None:
        """New draws from the family for the envs about to be spawned."""
        envs = np.arange(self.num_envs) if mask is None else np.flatnonzero(mask)
        if self.scenarios is None:
            self.scenarios = EnvScenarios.uniform(self.config, self.num_envs)
        draws = [hazards.applicable(d) for d in self.family.draw(envs)]
        for b, d in zip(envs, draws):
            self.drawn[b] = d
        drawn = EnvScenarios.from_configs(draws, base=self.config)
        self.scenarios.assign(envs, drawn)
        self.use_scenarios(self.scenarios)

    def reset_envs(self, mask: np.ndarray | None = None) -> None:
        """Fresh scenes for envs ``mask`` (all by default); with a family, fresh draws first."""
        if self.family is not None and (mask is None or mask.any()):
            self._draw_scenarios(mask)
        scenarios = self.scenarios if self.scenarios is not None else self._config_scenarios
        if mask is None:
            self.state = spawn(self.params, self.rng, self.num_envs, scenarios).to(self.xp)
            return
        count = int(mask.sum())
        if count:
            rows = None if scenarios is None else scenarios.rows(mask)
            fresh = spawn(self.params, self.rng, count, rows).to(self.xp)
            self.state.assign(self.xp.asarray(mask), fresh)

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        rows = None if rows is None else self.xp.asarray(rows)
        return self.observer.observe(self.xp, self.state, rows, self.rng, self.params.hazards, self.params.padded)

    def step(self, actions: np.ndarray, on_frame=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """One policy step of every env: (reward, terminated, truncated, info), numpy arrays."""
        actions = np.asarray(actions).reshape(self.num_envs).astype(np.int64)
        if actions.size and (actions.min() < 0 or actions.max() >= len(self.codes)):
            raise ValueError(f"actions must be integers in [0, {len(self.codes)}), got {actions}")
        simulate(self.state, self.params, self._codes_xp[self.xp.asarray(actions)], on_frame)
        info = self._info()
        work_zone = self.state.zone_end < np.inf if self.params.hazards else None
        rew = self.xp.to_numpy(observe.reward(self._terms, self.config, self.xp, work_zone))
        term = self.xp.to_numpy(observe.terminated(self.xp, self.state, self.config, self.params.hazards))
        duration = self.config["duration"] if self.scenarios is None else self._durations
        trunc = self.xp.to_numpy(observe.truncated(self.state, duration))
        info["action"] = actions.copy()
        return rew.astype(np.float64), term, trunc, info

    def _info(self) -> dict[str, Any]:
        xp, s = self.xp, self.state
        self._terms = observe.reward_terms(xp, s, self.config)
        info = {"speed": xp.to_numpy(s.speed[:, 0]).copy(), "crashed": xp.to_numpy(s.crashed[:, 0]).copy(),
                "rewards": {k: xp.to_numpy(v).copy() for k, v in self._terms.items()}}
        if self.params.hazards:  # keys of some envs only, each with its _key mask
            info.update(observe.hazard_info(xp, s))
        return info

    def info_at_reset(self) -> dict[str, Any]:
        return self._info()

    def drive_state(self) -> dict[str, np.ndarray]:
        """The ego's drive state in every env, as :func:`envs.drive_probe.read` reads highway-env."""
        return observe.drive_state(self.xp, self.state)

    def drive_goal(self, env: int = 0) -> Goal:
        """highway-env's highway has no goal: progress is distance / (duration x 30 m/s), with
        env ``env``'s duration."""
        duration = self.config["duration"] if self.scenarios is None else self.scenarios.duration[env]
        return Goal("distance", float(duration) * REFERENCE_SPEED)


def _config_option(options: dict | None) -> dict[str, Any]:
    """highway-env's ``reset(options={"config": {...}})``: the config update it asks for; any
    other option is refused (FastHighway has none)."""
    options = dict(options or {})
    update = options.pop("config", None) or {}
    if options:
        raise ValueError(f"reset(options={options!r}): FastHighway takes only options['config'] (a config update, "
                         "as highway-env)")
    if not isinstance(update, Mapping):
        raise ValueError(f"reset(options['config']={update!r}): give a dict of config keys")
    return dict(update)


def _split_per_env(options: dict | None, config: Mapping[str, Any],
                   num_envs: int) -> tuple[dict | None, EnvScenarios | None]:
    """A vector reset's options with a list of per-env configs split into the update shared by
    the batch and each env's values of :data:`PER_ENV_KEYS`, all checked against the config they
    make (nothing is applied here: a bad list leaves the env as it was)."""
    if not options or not isinstance(options.get("config"), (list, tuple)):
        return options, None
    configs = list(options["config"])
    if len(configs) != num_envs or not all(isinstance(c, Mapping) for c in configs):
        raise ValueError(f"reset(options['config']=[...]): give one dict of config keys per env ({num_envs})")
    shared = {k: v for k, v in configs[0].items() if k not in PER_ENV_KEYS}
    for b, update in enumerate(configs):
        others = {k: v for k, v in update.items() if k not in PER_ENV_KEYS}
        for key in sorted(set(others) ^ set(shared) | {k for k in others if others[k] != shared.get(k)}):
            raise config_error(key, f"env {b} has {update.get(key, '(not set)')!r}, env 0 "
                                    f"{configs[0].get(key, '(not set)')!r}: only {', '.join(PER_ENV_KEYS)} may "
                                    "differ inside one batch; give the others the same value in every env")
    base = resolve_config({**config, **shared})
    resolved = [resolve_config({**base, **{k: v for k, v in update.items() if k in PER_ENV_KEYS}})
                for update in configs]
    return {**options, "config": shared}, EnvScenarios.from_configs(resolved)


class _Reconfigurable:
    """highway-env's configuration patterns on a FastHighway env: ``env.unwrapped.config[key] =
    value`` (or ``configure({...})``) followed by ``reset()``, and ``reset(options={"config":
    {...}})``. At reset a changed config is checked whole and the simulator rebuilt from it
    (road, traffic, observation, spaces): applied entirely or refused with the key named, never
    half-applied. The random stream carries on unless the reset is seeded."""

    core: FastHighwayCore
    config: dict[str, Any]

    @classmethod
    def check_config(cls, overrides: Mapping[str, Any]) -> None:
        """Raise EnvConfigError naming the key if ``overrides`` cannot be simulated (checked
        without building anything: suite and config files are checked at load)."""
        resolve_config(overrides)

    def configure(self, config: Mapping[str, Any]) -> None:
        self.config.update(copy.deepcopy(dict(config)))

    def _apply_config(self, options: dict | None) -> None:
        self.configure(_config_option(options))
        if self.config == self._built_config:
            return
        core = FastHighwayCore(self.core.num_envs, self.config)  # raises naming the key; nothing changed yet
        core.rng = self.core.rng
        core.family = self.core.family  # a family keeps drawing on the new config
        self.core, self.config = core, core.config
        self._built_config = copy.deepcopy(core.config)
        self._renderer = None
        self._define_spaces()


def _masked(info: dict[str, Any], mask: np.ndarray) -> dict[str, Any]:
    """Gymnasium vector info layout: every key paired with a boolean ``_key`` mask (``mask``, and
    the key's own mask where the core gives one: a key only some envs have)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        out[key] = _masked(value, mask) if isinstance(value, dict) else value
        out[f"_{key}"] = mask & info[f"_{key}"] if f"_{key}" in info else mask.copy()
    return out


def _with_reset_rows(step: dict[str, Any], reset: dict[str, Any], done: np.ndarray) -> dict[str, Any]:
    """``step``'s masked info with the rows of the ``done`` envs taken from ``reset``: a key
    only the step has is masked off there, a key only the reset has is added for them."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys([*step, *reset]):
        if key in ("final_obs", "_final_obs", "final_info", "_final_info"):
            out[key] = step[key]
            continue
        if key.startswith("_"):  # a mask: written with its key below
            continue
        if key not in reset:
            out[key], out[f"_{key}"] = step[key], step[f"_{key}"] & ~done
        elif key not in step:
            out[key], out[f"_{key}"] = reset[key], reset[f"_{key}"]
        elif isinstance(step[key], dict):
            out[key], out[f"_{key}"] = _with_reset_rows(step[key], reset[key], done), step[f"_{key}"] | done
        else:
            out[key] = np.where(_rows(done, np.asarray(step[key])), reset[key], step[key])
            out[f"_{key}"] = (step[f"_{key}"] & ~done) | (reset[f"_{key}"] & done)
    return out


def _rows(mask: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``mask`` over the first axis, broadcastable to ``like``."""
    return mask.reshape(mask.shape + (1,) * (like.ndim - 1))


class _Renderer:
    """Draws one env of the batch with highway-env's own viewer (mirrors its state)."""

    def __init__(self, core: FastHighwayCore) -> None:
        import highway_env  # noqa: F401  (registers highway-env ids)

        keys = ("screen_width", "screen_height", "centering_position", "scaling", "show_trajectories",
                "render_agent", "offscreen_rendering", "lanes_count", "simulation_frequency",
                "policy_frequency")
        hw_config = {k: core.config[k] for k in keys}
        hw_config["vehicles_count"] = 1
        self.hw_env = gym.make("highway-v0", config=hw_config, render_mode="rgb_array").unwrapped
        self.core = core

    def frame(self, b: int) -> np.ndarray:
        from .bridge import load_into_highway

        load_into_highway(self.core.state.row_numpy(self.core.xp, b), 0, self.core.params, self.hw_env)
        return self.hw_env.render()

    def close(self) -> None:
        self.hw_env.close()


class FastHighwayVectorEnv(_Reconfigurable, VectorEnv):
    """B highway envs stepped at once on arrays; same-step autoreset."""

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP, "render_fps": 2}
    per_env_config_keys = PER_ENV_KEYS  # reset(options={"config": [B dicts]}) may differ in these
    # a family's draw as applied (keys of undrawn hazards left out), and the context a drawn key is checked in
    drawn_config = staticmethod(hazards.applicable)
    drawn_key_context = staticmethod(hazards.context)

    def __init__(self, num_envs: int = 1, config: Mapping[str, Any] | None = None,
                 render_mode: str | None = None, max_episode_steps: int | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.core = FastHighwayCore(num_envs, config)
        self.config = self.core.config
        self.num_envs = self.core.num_envs
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self._built_config = copy.deepcopy(self.config)
        self._define_spaces()
        self._steps = np.zeros(self.num_envs, np.int64)
        self._renderer: _Renderer | None = None

    def _define_spaces(self) -> None:
        self.metadata = dict(self.metadata, render_fps=2 * self.config["policy_frequency"])
        self.single_observation_space = self.core.observer.space()
        self.single_action_space = spaces.Discrete(len(self.core.codes))
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return default_config()

    def reset(self, *, seed: int | list[int] | None = None, options: dict | None = None):
        """As ``SyncVectorEnv.reset``; ``options={"config": {...}}`` updates the config of every env
        (highway-env's pattern) and ``options={"config": [B dicts]}`` gives env b its own values
        of :data:`PER_ENV_KEYS` (the other keys must be the same in all B dicts). Per-env values
        hold until the next config option; everything is checked before anything changes."""
        options, scenarios = _split_per_env(options, self.config, self.num_envs)
        if scenarios is not None and self.core.family is not None:
            raise ValueError("reset(options['config']=[...]): this env draws its per-env values from a family; "
                             "give a config for the whole batch, or no family")
        self._apply_config(options)
        if scenarios is not None:
            self.core.use_scenarios(scenarios)
        elif options and "config" in options and self.core.family is None:
            self.core.use_scenarios(None)  # a config for the whole batch: every env on it
        if isinstance(seed, (list, tuple)):
            seed = None if seed[0] is None else list(seed)
        if seed is not None:
            super().reset(seed=seed if isinstance(seed, int) else seed[0])  # np_random_seed, as VectorEnv
            self.core.seed(seed)
            self.single_action_space.seed(seed if isinstance(seed, int) else seed[0])
            self.action_space.seed(seed if isinstance(seed, int) else seed[0])
        self.core.reset_envs()
        self._steps[:] = 0
        info = _masked(self.core.info_at_reset(), np.ones(self.num_envs, bool))
        return self.core.observe(), info

    def step(self, actions):
        rew, term, trunc, info = self.core.step(actions)
        self._steps += 1
        if self.max_episode_steps is not None:
            trunc = trunc | (self._steps >= self.max_episode_steps)
        obs = self.core.observe()
        done = term | trunc
        infos = _masked(info, np.ones(self.num_envs, bool))
        if done.any():
            final_obs = np.full(self.num_envs, None, dtype=object)
            for b in np.nonzero(done)[0]:
                final_obs[b] = obs[b].copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, done.copy()
            infos["final_info"], infos["_final_info"] = _masked(info, done), done.copy()
            self.core.reset_envs(done)
            self._steps[done] = 0
            obs[done] = self.core.observe(np.nonzero(done)[0])
            # SyncVectorEnv's SAME_STEP layout: the top level holds the reset info of the envs
            # that just reset (the finished episode's is under final_info).
            infos = _with_reset_rows(infos, _masked(self.core.info_at_reset(), done), done)
        return obs, rew.astype(np.float64), term, trunc, infos

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One rgb_array frame per env, as SyncVectorEnv (vector RecordVideo and HumanRendering
        tile them); :meth:`render_env` draws one env."""
        if self.render_mode != "rgb_array":
            return None
        return tuple(self.render_env(b) for b in range(self.num_envs))

    def render_env(self, index: int) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = _Renderer(self.core)
        return self._renderer.frame(index)

    def close_extras(self, **kwargs: Any) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


class FastHighwayEnv(_Reconfigurable, gym.Env):
    """One FastHighway env (a batch of one) with highway-env's Env interface."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(self, config: Mapping[str, Any] | None = None, render_mode: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.core = FastHighwayCore(1, config)
        self.config = self.core.config
        self.render_mode = render_mode
        self._built_config = copy.deepcopy(self.config)
        self._define_spaces()
        self._renderer: _Renderer | None = None
        self._record_video_wrapper: Any = None

    def _define_spaces(self) -> None:
        self.metadata = dict(self.metadata, render_fps=2 * self.config["policy_frequency"])
        self.observation_space = self.core.observer.space()
        self.action_space = spaces.Discrete(len(self.core.codes))

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return default_config()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._apply_config(options)
        if seed is not None:
            self.core.seed(seed)
        self.core.reset_envs()
        return self.core.observe()[0], batch_row(self.core.info_at_reset(), 0)

    def drive_state(self) -> dict[str, np.ndarray]:
        return self.core.drive_state()

    def drive_goal(self) -> Goal:
        return self.core.drive_goal()

    @property
    def vehicle(self) -> EgoView:
        """The ego's kinematics (what highway-env's ``env.vehicle`` offers evaluation code)."""
        s = self.core.state.row_numpy(self.core.xp, 0)
        return EgoView(position=np.array([s.x[0, 0], s.y[0, 0]]), heading=float(s.heading[0, 0]),
                       speed=float(s.speed[0, 0]), lane_index=("0", "1", int(s.lane[0, 0])),
                       crashed=bool(s.crashed[0, 0]))

    def set_record_video_wrapper(self, wrapper: Any) -> None:
        """As highway-env: capture intermediate simulation frames into a RecordVideo wrapper."""
        self._record_video_wrapper = wrapper
        self.metadata = dict(self.metadata, render_fps=2 * self.config["simulation_frequency"])
        wrapper.frames_per_sec = self.metadata["render_fps"]

    def _capture_frame(self) -> None:
        if self._record_video_wrapper is not None and self.render_mode == "rgb_array":
            self._record_video_wrapper._capture_frame()

    def step(self, action):
        rew, term, trunc, info = self.core.step(np.array([int(action)]), on_frame=self._capture_frame)
        info = batch_row(info, 0)
        info["action"] = int(action)
        return self.core.observe()[0], float(rew[0]), bool(term[0]), bool(trunc[0]), info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = _Renderer(self.core)
        return self._renderer.frame(0)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


@dataclass(frozen=True)
class EgoView:
    """Read-only ego kinematics, shaped like highway-env's Vehicle attributes."""

    position: np.ndarray
    heading: float
    speed: float
    lane_index: tuple[str, str, int]
    crashed: bool
