"""Typed experiment config: YAML (data only) -> validated objects, with dotted CLI overrides.

Unknown keys are errors naming their dotted path with a "did you mean"; values are typed
and range-checked by the schema. Names (algorithm, network, driver types) are looked up in
registries, never imported from dotted paths.

- :mod:`~agents.config.schema`: the pydantic models;
- :mod:`~agents.config.loading`: YAML -> validated config, error messages;
- :mod:`~agents.config.overrides`: dotted ``KEY=VALUE`` overrides, flat views;
- :mod:`~agents.config.identity`: which keys make two runs the same config.
"""

from agents.config.identity import IDENTITY_EXCLUDED, identity_difference, identity_items
from agents.config.loading import (budget_text, dotted_keys, dump_config, family_of, format_validation_error,
                                   load_config, parse_config, read_yaml, round_budget, suggest_key)
from agents.config.overrides import apply_overrides, flag_overrides, flatten_config
from agents.config.schema import (MAX_TRAIN_SEED, AttentionOptions, CnnOptions, DQNConfig, EnvConfig,
                                  ExperimentConfig, LoggingConfig, MlpOptions, NetworkConfig, OptimConfig,
                                  PPOConfig, TrainConfig)

__all__ = ["IDENTITY_EXCLUDED", "MAX_TRAIN_SEED", "AttentionOptions", "CnnOptions", "DQNConfig", "EnvConfig",
           "ExperimentConfig", "LoggingConfig", "MlpOptions", "NetworkConfig", "OptimConfig", "PPOConfig",
           "TrainConfig", "apply_overrides", "budget_text", "dotted_keys", "dump_config", "family_of", "flag_overrides",
           "flatten_config", "format_validation_error", "identity_difference", "identity_items", "load_config",
           "parse_config", "read_yaml", "round_budget", "suggest_key"]
