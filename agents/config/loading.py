"""Loading a config: YAML file -> dotted overrides -> validation with errors that name the key."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from agents.config.overrides import apply_overrides
from agents.config.schema import ALGO_NAMES, EnvConfig, ExperimentConfig, PPOConfig
from agents.errors import UserError, did_you_mean
from envs.checks import first_error_line


def dotted_keys(model: type[BaseModel] = None, prefix: str = "") -> list[str]:  # type: ignore[assignment]
    """Every leaf key of the schema as a dotted path (both algorithms' keys under ``algo.``)."""
    model = ExperimentConfig if model is None else model
    keys: list[str] = []
    for name, f in model.model_fields.items():
        subs = [a for a in (f.annotation, *getattr(f.annotation, "__args__", ()))
                if isinstance(a, type) and issubclass(a, BaseModel)]
        for annotated in getattr(f.annotation, "__args__", ()):  # Annotated[A | B, discriminator]
            subs += [a for a in getattr(annotated, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not subs:
            keys.append(f"{prefix}{name}")
        for sub in subs:
            keys += [k for k in dotted_keys(sub, f"{prefix}{name}.") if k not in keys]
    return keys


def _clean_loc(loc: tuple) -> tuple:
    # The algo union adds its tag ('dqn'/'ppo') to error paths: drop it.
    return tuple(p for i, p in enumerate(loc) if not (i == 1 and loc[0] == "algo" and p in ALGO_NAMES))


def suggest_key(path: str) -> str:
    """`` (did you mean 'algo.learning_rate'?)`` for an unknown dotted key: the nearest key of
    the same section, else a key elsewhere whose last part is (nearly) the same."""
    keys = dotted_keys()
    if path in keys:  # valid for the other member of a union: DQN's buffer_size under PPO
        return " (a key of another algorithm than algo.name's)"
    leaf = path.rpartition(".")[2]
    depth = path.count(".") + 1
    # same depth: sibling keys and sections ("network.mpl" -> "network.mlp")
    siblings = dict.fromkeys(".".join(k.split(".")[:depth]) for k in keys)
    hint = did_you_mean(path, siblings)
    if hint:
        return hint
    by_leaf: dict[str, list[str]] = {}
    for k in keys:
        by_leaf.setdefault(k.rpartition(".")[2], []).append(k)
    near = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.8)
    return did_you_mean(by_leaf[near[0]][0], by_leaf[near[0]][:1]) if near else ""


def _override_for(path: str, overrides: list[str]) -> str | None:
    """The command-line override that set ``path`` (or a section holding it), if any."""
    for item in reversed(overrides):
        key = item.partition("=")[0].strip()
        if key == path or path.startswith(key + ".") or key.startswith(path + "."):
            return item
    return None


def format_validation_error(exc: ValidationError, source: str, overrides: list[str] | None = None) -> str:
    err = exc.errors()[0]
    loc = _clean_loc(tuple(err["loc"]))
    path = ".".join(str(p) for p in loc)
    item = _override_for(path, overrides or [])
    if item is not None:
        source = f"command-line override '{item}'"
    if err["type"] == "extra_forbidden":
        return first_error_line(exc, source, None, f"unknown key '{path}'{suggest_key(path)}")
    if err["type"] == "union_tag_invalid":
        return first_error_line(exc, source, f"{path}.name", f"unknown algorithm {err['input'].get('name')!r}; "
                                                             f"valid: {', '.join(ALGO_NAMES)}")
    return first_error_line(exc, source, path)


def read_yaml(path: str | Path) -> dict[str, Any]:
    from envs.yamlfile import read_yaml_file

    path = Path(path)
    data = read_yaml_file(path, "config", "pass an existing YAML file, e.g. configs/highway_dqn.yaml", UserError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of sections (env, algo, network, train, logging)")
    return data


def parse_config(data: dict[str, Any], source: str = "config", overrides: list[str] | None = None) -> ExperimentConfig:
    """Validate ``data``; errors name ``source``, or the command-line override that caused them."""
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, source, overrides)) from exc
    _check_names(cfg)
    return cfg


def rollout_size(cfg: ExperimentConfig) -> int | None:
    """Env steps per PPO rollout (``algo.n_steps`` x ``env.n_envs``); None for other algorithms."""
    return cfg.algo.n_steps * cfg.env.n_envs if isinstance(cfg.algo, PPOConfig) else None


def round_budget(cfg: ExperimentConfig) -> int | None:
    """Round ``train.total_timesteps`` up to whole rollouts for PPO, which only stops between
    rollouts (1e6 steps of 8,192-step rollouts would end at 1,007,616 anyway), before a run
    writes its config.yaml: the config then says what training does, and a resumed run ends
    exactly there. Returns the budget as given when it was rounded, else None."""
    rollout = rollout_size(cfg)
    if rollout is None:
        return None
    total = cfg.train.total_timesteps
    rounded = -(-total // rollout) * rollout
    if rounded == total:
        return None
    cfg.train.total_timesteps = rounded
    return total


def budget_text(cfg: ExperimentConfig, requested: int | None = None) -> str:
    """``1,007,616 env steps (1,000,000 rounded up to 123 rollouts of 8,192)``."""
    text = f"{cfg.train.total_timesteps:,} env steps"
    rollout = rollout_size(cfg)
    if requested is not None and rollout is not None:
        text += (f" ({requested:,} rounded up to {cfg.train.total_timesteps // rollout:,} "
                 f"rollouts of {rollout:,})")
    return text


def _check_names(cfg: ExperimentConfig) -> None:
    """Cross-section checks that need the registries and the env library."""
    from agents.models.extractors import ACTIVATIONS, EXTRACTORS  # lazy: importing agents.config loads no torch
    from envs.factory import EnvConfigError, check_env_config

    EXTRACTORS.get(cfg.network.type)
    ACTIVATIONS.get(cfg.network.activation)
    if cfg.env.scenario is not None:
        _resolve_scenario(cfg.env)
    if cfg.env.family is not None:
        _resolve_family(cfg.env)
    try:
        check_env_config(cfg.env.id, cfg.env.config)
    except EnvConfigError as exc:
        raise UserError(str(exc)) from exc
    rollout = rollout_size(cfg)
    if rollout is not None:
        if cfg.algo.batch_size > rollout:
            raise UserError(
                f"algo.batch_size ({cfg.algo.batch_size}) is larger than one rollout "
                f"(algo.n_steps x env.n_envs = {rollout}); lower it or raise algo.n_steps"
            )


def _resolve_scenario(env: EnvConfig) -> None:
    """Fill env.id and env.config from a suite's seen scenario (env.config keys win)."""
    from envs.suites import load_suite

    suite_path, sep, name = env.scenario.rpartition(":")
    if not sep or not suite_path or not name:
        raise UserError(f"env.scenario: '{env.scenario}' should be SUITE.yaml:SCENARIO, "
                        "e.g. configs/suites/highway_generalization.yaml:highway_fast")
    try:
        scenario = load_suite(suite_path).get(name)
    except (ValueError, OSError) as exc:
        raise UserError(f"env.scenario: {str(exc).splitlines()[0]}") from exc
    if scenario.split != "seen":
        raise UserError(f"env.scenario: '{name}' is an unseen scenario of {suite_path}; train only on seen ones")
    if "id" in env.model_fields_set and env.id != scenario.env_id:
        raise UserError(f"env.id '{env.id}' and env.scenario ('{scenario.env_id}') disagree; give one of them")
    env.id = scenario.env_id
    env.config = {**scenario.env_config, **env.config}
    # Resolved: the run's config.yaml holds id and config, so it does not depend on the suite
    # file staying where it was (the command line in provenance.json still names it).
    env.scenario = None


def family_of(env: EnvConfig):
    """The env section's family (an :class:`envs.families.Family`), or None."""
    from envs.families import FamilyError, load_family, parse_family

    if env.family is None:
        return None
    try:
        if isinstance(env.family, str):
            return load_family(env.family)
        return parse_family(env.family, source="env.family", default_name=str(env.family.get("name", "family")))
    except FamilyError as exc:
        raise UserError(f"env.family: {exc}") from exc


def _resolve_family(env: EnvConfig) -> None:
    """Check the family against env.id and env.config, then keep its content (not its path) so
    that config.yaml rebuilds the run without the file."""
    family = family_of(env)
    if "id" in env.model_fields_set and env.id != family.env_id:
        raise UserError(f"env.id '{env.id}' and env.family ('{family.env_id}') disagree; give one of them")
    drawn = sorted(set(family.draws) & set(env.config))
    if drawn:
        raise UserError(f"env.config.{drawn[0]}: drawn by env.family ({family.name}); remove it from env.config")
    env.id = family.env_id
    env.config = {**family.config, **env.config}
    if isinstance(env.family, str):
        from envs.yamlfile import read_yaml_file

        data = dict(read_yaml_file(env.family, "family", ""))
        data.setdefault("name", family.name)
        env.family = data


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    data = apply_overrides(read_yaml(path), overrides or [])
    cfg = parse_config(data, source=str(path), overrides=overrides)
    if cfg.logging.experiment is None:
        cfg.logging.experiment = Path(path).stem
    return cfg


def dump_config(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
