"""Fitting a scenario to a trained model: the scenario's env with the run's observation and
action forced on it (a row-agnostic network keeps a scenario's larger vehicle count), and the
reason a model cannot act in an env."""

from __future__ import annotations

from typing import Any

from agents.config import family_of
from agents.models.extractors import EXTRACTORS
from agents.rundir.loading import LoadedRun
from envs.factory import default_env_config, make_env
from envs.suites import Scenario


def train_scenario(run: LoadedRun) -> Scenario:
    """The run's training env as one seen scenario; a run trained on a family is judged on held-out
    draws of it (drawn from envs.suites.HELD_OUT_SEED, above every training seed)."""
    return Scenario(name="train_env", split="seen", env_id=run.config.env.id, env_config=dict(run.config.env.config),
                    family=family_of(run.config.env))


def _train_section(run_cfg: Any, section: str) -> dict[str, Any]:
    """The run's observation/action config, or its train env's default when not set."""
    if section in run_cfg.env.config:
        return dict(run_cfg.env.config[section])
    defaults = default_env_config(run_cfg.env.id) or {}
    return dict(defaults.get(section, {}))


def forced_config(run_cfg: Any, scenario: Scenario) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scenario's env config with the run's observation and action forced on it.

    Returns (env_config, forced): ``forced`` records what was overridden, for the report.
    A row-agnostic network (attention) keeps a scenario's larger ``observation.vehicles_count`` (it runs
    on any number of vehicle rows); scenario-specific action keys that don't change the
    action space (such as roundabout's ``target_speeds``) are kept.
    """
    if default_env_config(scenario.env_id) is None:
        return dict(scenario.env_config), {}
    config = dict(scenario.env_config)
    forced: dict[str, Any] = {}
    obs = _train_section(run_cfg, "observation")
    own_obs = dict(config.get("observation", {}))
    if EXTRACTORS.get(run_cfg.network.type).row_agnostic and own_obs.get("vehicles_count", 0) > obs.get("vehicles_count", 5):
        obs["vehicles_count"] = own_obs["vehicles_count"]
    if obs and own_obs != obs:
        forced["observation"] = obs
        config["observation"] = obs
    act = _train_section(run_cfg, "action")
    own_act = dict(config.get("action", {}))
    merged = {**{k: v for k, v in own_act.items() if k == "target_speeds"}, **act}
    if act and own_act != merged:
        forced["action"] = merged
        config["action"] = merged
    return config, forced


def scenario_env(run_cfg: Any, scenario: Scenario, render_mode: str | None = None):
    """The env a run is judged in for ``scenario``: the scenario's env with the run's
    observation and action forced on it (:func:`forced_config`), under the run's episode limit."""
    config, _ = forced_config(run_cfg, scenario)
    return make_env(scenario.env_id, config, render_mode=render_mode, max_episode_steps=run_cfg.env.max_episode_steps)


def fit_problem(model: Any, env: Any, network: str) -> str | None:
    """Why the model cannot act in ``env`` (None when it can)."""
    want, got = model.observation_space, env.observation_space
    if type(want) is not type(got):
        return f"observation space {got} differs from the model's {want}"
    if getattr(got, "shape", None) != getattr(want, "shape", None):
        rows_only = (len(got.shape) == len(want.shape) and got.shape[1:] == want.shape[1:])
        if not (rows_only and EXTRACTORS.get(network).row_agnostic):
            return f"observation shape {got.shape} differs from the model's {want.shape}"
    if env.action_space != model.action_space:
        return f"action space {env.action_space} differs from the model's {model.action_space}"
    return None
