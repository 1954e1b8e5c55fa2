"""Typed experiment config: YAML (data only) -> validated objects, with dotted CLI overrides.

Unknown keys are errors naming their dotted path with a "did you mean"; values are typed
and range-checked by the schema. Names (algorithm, network, driver types) are looked up in
registries, never imported from dotted paths.
"""

from __future__ import annotations

import copy
import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agents.errors import UserError, did_you_mean

# Seeds at or above this are reserved for evaluation (see agents.evaluation).
MAX_TRAIN_SEED = 1_000_000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EnvConfig(Strict):
    id: str = "highway-fast-v0"
    # Train on a suite's seen scenario instead of naming id/config: "SUITE.yaml:SCENARIO"
    # (e.g. configs/suites/highway_generalization.yaml:highway_fast); env.config still overrides.
    scenario: str | None = None
    # highway-env's own config dict; keys checked against the env class's default_config().
    config: dict[str, Any] = Field(default_factory=dict)
    n_envs: int = Field(1, ge=1, le=256)  # parallel training envs
    vec_env: Literal["subproc", "dummy"] = "subproc"  # used when n_envs > 1
    start_method: Literal["forkserver", "spawn", "fork"] = "forkserver"
    max_episode_steps: int | None = Field(None, ge=1)  # [policy steps]; None: the env's own limit


class DQNConfig(Strict):
    name: Literal["dqn"] = "dqn"
    learning_rate: float = Field(5e-4, gt=0, le=1)
    buffer_size: int = Field(15_000, ge=1)  # [transitions]
    learning_starts: int = Field(200, ge=0)  # [env steps]
    batch_size: int = Field(32, ge=1)
    tau: float = Field(1.0, gt=0, le=1)
    gamma: float = Field(0.8, ge=0, le=1)
    train_freq: int = Field(1, ge=1)  # [env steps]
    gradient_steps: int = Field(1, ge=-1)
    target_update_interval: int = Field(50, ge=1)  # [env steps]
    exploration_fraction: float = Field(0.1, ge=0, le=1)
    exploration_initial_eps: float = Field(1.0, ge=0, le=1)
    exploration_final_eps: float = Field(0.05, ge=0, le=1)
    max_grad_norm: float = Field(10.0, gt=0)


class PPOConfig(Strict):
    name: Literal["ppo"] = "ppo"
    learning_rate: float = Field(5e-4, gt=0, le=1)
    n_steps: int = Field(384, ge=2)  # [env steps per env per rollout]
    batch_size: int = Field(64, ge=2)
    n_epochs: int = Field(10, ge=1)
    gamma: float = Field(0.8, ge=0, le=1)
    gae_lambda: float = Field(0.95, ge=0, le=1)
    clip_range: float = Field(0.2, gt=0)
    ent_coef: float = Field(0.0, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    normalize_advantage: bool = True
    target_kl: float | None = Field(None, gt=0)


AlgoConfig = Annotated[DQNConfig | PPOConfig, Field(discriminator="name")]


class MlpOptions(Strict):
    # Hidden layers of the features extractor; [] means flatten only (SB3's FlattenExtractor).
    layers: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    layer_norm: bool = False
    dropout: float = Field(0.0, ge=0, lt=1)
    residual: bool = False


class CnnOptions(Strict):
    # Conv stack, one entry per layer in each list (the three lists have the same length).
    channels: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [32, 64, 64])
    kernel_sizes: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [8, 4, 3])  # [cells]
    strides: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [4, 2, 1])  # [cells]
    padding: int = Field(0, ge=0)  # [cells], every conv layer
    # Linear layer after the flattened conv output; 0: no linear layer.
    features_dim: int = Field(256, ge=0)
    layer_norm: bool = False  # after the linear layer
    dropout: float = Field(0.0, ge=0, lt=1)  # after the linear layer
    # "bounds": scale each input to [0, 1] by the observation space's finite low/high (uint8
    # frames: /255); unbounded inputs (OccupancyGrid, already clipped to [-1, 1] by highway-env)
    # pass unchanged. "none": feed raw values.
    input_norm: Literal["bounds", "none"] = "bounds"

    @model_validator(mode="after")
    def _same_lengths(self) -> "CnnOptions":
        n = {len(self.channels), len(self.kernel_sizes), len(self.strides)}
        if len(n) != 1 or not self.channels:
            raise ValueError(
                "channels, kernel_sizes and strides need one entry per conv layer (same non-zero length); "
                f"got {len(self.channels)}, {len(self.kernel_sizes)}, {len(self.strides)}"
            )
        return self


class AttentionOptions(Strict):
    # Per-vehicle encoder MLP (shared by all vehicle rows); its last size is the embedding size.
    encoder_layers: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64, 64])
    heads: int = Field(2, ge=1)  # attention heads; must divide the embedding size
    # Self-attention blocks over all vehicles (residual + layer norm) before the ego attention.
    self_attention_layers: int = Field(0, ge=0)
    separate_ego_encoder: bool = True  # as the paper: the ego row has its own encoder
    presence_index: int = Field(0, ge=0)  # column of the presence feature; rows < 0.5 are masked
    layer_norm: bool = True  # residual + layer norm after the ego attention
    dropout: float = Field(0.0, ge=0, lt=1)  # on attention weights and block outputs

    @model_validator(mode="after")
    def _heads_divide(self) -> "AttentionOptions":
        if not self.encoder_layers:
            raise ValueError("encoder_layers must have at least one layer (its last size is the embedding size)")
        if self.encoder_layers[-1] % self.heads:
            raise ValueError(
                f"heads ({self.heads}) must divide the embedding size "
                f"(encoder_layers[-1] = {self.encoder_layers[-1]})"
            )
        return self


class NetworkConfig(Strict):
    type: str = "mlp"  # a name from agents.networks.EXTRACTORS: mlp, cnn, attention
    # Layers after the features extractor: DQN's Q-net, PPO's pi and vf heads.
    net_arch: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [256, 256])
    activation: str = "relu"  # a name from agents.networks.ACTIVATIONS
    share_features_extractor: bool = True  # PPO only: one extractor for actor and critic
    mlp: MlpOptions = Field(default_factory=MlpOptions)
    cnn: CnnOptions = Field(default_factory=CnnOptions)
    attention: AttentionOptions = Field(default_factory=AttentionOptions)


class OptimConfig(Strict):
    optimizer: Literal["adam", "adamw"] = "adam"
    # adamw: decoupled weight decay; adam: an L2 penalty added to the gradient.
    weight_decay: float = Field(0.0, ge=0)
    eps: float | None = Field(None, gt=0)  # optimizer epsilon; None: SB3's (DQN 1e-8, PPO 1e-5)
    # Shapes algo.learning_rate over training (see agents.schedules).
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    final_lr_fraction: float = Field(0.0, ge=0, le=1)  # linear/cosine end at learning_rate x this
    warmup_fraction: float = Field(0.0, ge=0, lt=1)  # share of training ramping the lr up from 0


class TrainConfig(Strict):
    total_timesteps: int = Field(20_000, ge=1)  # [env steps, all envs together]
    seed: int = Field(0, ge=0, lt=MAX_TRAIN_SEED)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # "auto": 1 for DQN; for PPO the CPUs not taken by subprocess envs, at most 4
    # (agents.runtime.auto_torch_threads). The resolved number is written to the run's
    # config.yaml and kept on resume (the thread count changes the training trajectory).
    torch_threads: Annotated[int, Field(ge=1, le=1024)] | Literal["auto"] = "auto"
    eval_freq: int = Field(2_000, ge=0)  # [env steps]; 0 disables periodic evaluation
    eval_episodes: int = Field(5, ge=1)
    checkpoint_freq: int = Field(5_000, ge=0)  # [env steps]; 0: only the final checkpoint
    keep_checkpoints: int = Field(3, ge=1)  # newest K kept (plus the best model)
    # [episodes for DQN, rollouts for PPO]; None: 4 episodes (DQN), every rollout (PPO)
    log_interval: int | None = Field(None, ge=1)
    progress_bar: bool = True  # a bar on a terminal; plain lines every log_every_s otherwise
    log_every_s: float = Field(30.0, gt=0)  # [s] between progress lines when stderr is not a terminal
    # [s] of training in this process before it saves a checkpoint and exits 75 (rerun to continue);
    # set it to the job's time limit: laneforge stops early enough to save. None: no limit.
    max_wall_time: float | None = Field(None, gt=0)
    checkpoint_every_s: float | None = Field(None, gt=0)  # [s] time-based checkpoints besides checkpoint_freq


class LoggingConfig(Strict):
    project: str = "laneforge"  # W&B project
    experiment: str | None = None  # W&B group; default: the config file's name
    wandb: Literal["offline", "online", "disabled"] = "offline"
    tensorboard: bool = True
    tags: list[str] = Field(default_factory=list)  # extra W&B tags

    @field_validator("experiment")
    @classmethod
    def _no_slash(cls, v: str | None) -> str | None:
        if v is not None and ("/" in v or not v.strip()):
            raise ValueError("must be a non-empty name without '/'")
        return v


class ExperimentConfig(Strict):
    env: EnvConfig = Field(default_factory=EnvConfig)
    algo: AlgoConfig = Field(default_factory=DQNConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


# ---------------------------------------------------------------- loading and errors


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
    return tuple(p for i, p in enumerate(loc) if not (i == 1 and loc[0] == "algo" and p in ("dqn", "ppo")))


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
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    item = _override_for(path, overrides or [])
    if item is not None:
        source = f"command-line override '{item}'"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key '{path}'{suggest_key(path)}{more}"
    if err["type"] == "union_tag_invalid":
        return f"{source}: {path}.name: unknown algorithm {err['input'].get('name')!r}; valid: dqn, ppo{more}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    return f"{source}: {path}: {err['msg']}{shown}{more}"


def read_yaml(path: str | Path) -> dict[str, Any]:
    from envs.yamlfile import read_yaml_file

    path = Path(path)
    data = read_yaml_file(path, "config", "pass an existing YAML file, e.g. configs/highway_dqn.yaml", UserError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: the top level must be a mapping of sections (env, algo, network, train, logging)")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=VALUE`` overrides; VALUE is parsed as YAML (numbers, lists, booleans)."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not p for p in key.split(".")):
            raise UserError(f"bad override '{item}': use KEY=VALUE with a dotted key, e.g. train.total_timesteps=5000")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = data
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                section = ".".join(parts[: i + 1])
                raise UserError(f"bad override '{item}': '{section}' is not a section")
            node = child
        node[parts[-1]] = value
    return data


def parse_config(data: dict[str, Any], source: str = "config", overrides: list[str] | None = None) -> ExperimentConfig:
    """Validate ``data``; errors name ``source``, or the command-line override that caused them."""
    try:
        cfg = ExperimentConfig.model_validate(data)
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, source, overrides)) from exc
    _check_names(cfg)
    return cfg


def round_budget(cfg: ExperimentConfig) -> int | None:
    """Round ``train.total_timesteps`` up to whole rollouts for PPO, which only stops between
    rollouts (1e6 steps of 8,192-step rollouts would end at 1,007,616 anyway), before a run
    writes its config.yaml: the config then says what training does, and a resumed run ends
    exactly there. Returns the budget as given when it was rounded, else None."""
    if not isinstance(cfg.algo, PPOConfig):
        return None
    rollout = cfg.algo.n_steps * cfg.env.n_envs
    total = cfg.train.total_timesteps
    rounded = -(-total // rollout) * rollout
    if rounded == total:
        return None
    cfg.train.total_timesteps = rounded
    return total


def budget_text(cfg: ExperimentConfig, requested: int | None = None) -> str:
    """``1,007,616 env steps (1,000,000 rounded up to 123 rollouts of 8,192)``."""
    text = f"{cfg.train.total_timesteps:,} env steps"
    if requested is not None and isinstance(cfg.algo, PPOConfig):
        rollout = cfg.algo.n_steps * cfg.env.n_envs
        text += (f" ({requested:,} rounded up to {cfg.train.total_timesteps // rollout:,} "
                 f"rollouts of {rollout:,})")
    return text


def _check_names(cfg: ExperimentConfig) -> None:
    """Cross-section checks that need the registries and the env library."""
    from agents.networks import ACTIVATIONS, EXTRACTORS
    from envs.factory import EnvConfigError, check_env_config

    EXTRACTORS.get(cfg.network.type)
    ACTIVATIONS.get(cfg.network.activation)
    if cfg.env.scenario is not None:
        _resolve_scenario(cfg.env)
    try:
        check_env_config(cfg.env.id, cfg.env.config)
    except EnvConfigError as exc:
        raise UserError(str(exc)) from exc
    if isinstance(cfg.algo, PPOConfig):
        rollout = cfg.algo.n_steps * cfg.env.n_envs
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


def load_config(path: str | Path, overrides: list[str] | None = None) -> ExperimentConfig:
    data = apply_overrides(read_yaml(path), overrides or [])
    cfg = parse_config(data, source=str(path), overrides=overrides)
    if cfg.logging.experiment is None:
        cfg.logging.experiment = Path(path).stem
    return cfg


def dump_config(cfg: ExperimentConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def flatten_config(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config dict as ``{"dotted.key": value}`` (empty dicts stay values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flatten_config(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
