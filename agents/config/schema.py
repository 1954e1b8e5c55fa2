"""The config schema: pydantic models of the experiment YAML (data only), strict about unknown keys.

Unknown keys are errors naming their dotted path with a "did you mean"; values are typed
and range-checked by the schema. Names (algorithm, network, driver types) are looked up in
registries, never imported from dotted paths.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    # Draw each env's scenario at every reset from a family (batched envs): a family file,
    # e.g. configs/families/highway_density.yaml; config.yaml keeps its content.
    family: str | dict[str, Any] | None = None
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
# The algo section's names (each config class's ``name`` literal).
ALGO_NAMES = tuple(c.model_fields["name"].default for c in (DQNConfig, PPOConfig))


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
    type: str = "mlp"  # a name from agents.models.extractors.EXTRACTORS: mlp, cnn, attention
    # Layers after the features extractor: DQN's Q-net, PPO's pi and vf heads.
    net_arch: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [256, 256])
    activation: str = "relu"  # a name from agents.models.extractors.ACTIVATIONS
    share_features_extractor: bool = True  # PPO only: one extractor for actor and critic
    mlp: MlpOptions = Field(default_factory=MlpOptions)
    cnn: CnnOptions = Field(default_factory=CnnOptions)
    attention: AttentionOptions = Field(default_factory=AttentionOptions)


class OptimConfig(Strict):
    optimizer: Literal["adam", "adamw"] = "adam"
    # adamw: decoupled weight decay; adam: an L2 penalty added to the gradient.
    weight_decay: float = Field(0.0, ge=0)
    eps: float | None = Field(None, gt=0)  # optimizer epsilon; None: SB3's (DQN 1e-8, PPO 1e-5)
    # Shapes algo.learning_rate over training (see agents.models.schedules).
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
    # A success that ends an episode (WorkZone's zone passed) is learned as a time-limit end: the
    # value of the road after it is bootstrapped instead of a terminal state worth nothing. With
    # highway-env's per-step rewards >= 0, a terminal success forgoes the rest of the episode's
    # reward, which teaches an agent that can slow down to dawdle before the zone
    # (agents.training.success_ends). Evaluation is unchanged: only the learner's targets differ.
    success_continues: bool = False
    # Start from another run's weights (its folder, whose model.zip is read, or a model.zip):
    # policy and optimizer state, loaded once when a new run starts (a resume continues from its
    # own checkpoint). The network, observation and action space must match this config's.
    init_from: str | None = None


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
