"""The base of laneforge's highway scenarios: highway-fast-v0 with every config key checked.

:class:`LaneforgeHighwayEnv` subclasses highway-env's ``HighwayEnvFast``, so a scenario inherits
highway-fast-v0's defaults, road, reward and episode end and overrides only what differs. Its
config is checked, not silently applied as highway-env's ``configure`` does it:

- keys: only the scenario's ``default_config()`` keys; the inherited keys a scenario does not
  honour are listed in ``UNUSED_KEYS`` (key -> why), left out of its ``default_config()``, and
  setting one is an error that says why;
- values: by :data:`SHARED_RULES` (highway-env's keys) and the scenario's ``RULES``, with
  :func:`envs.checks.check_config`;
- when: at construction, at ``configure()``, and at every ``reset()``, so that
  ``env.unwrapped.config[key] = value`` followed by ``reset()`` (highway-env's documented way)
  is checked too. A rejected config is not applied; the error is an
  :class:`envs.checks.EnvConfigError` (a ``ValueError``) naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from highway_env.envs.highway_env import HighwayEnvFast

from envs.checks import HIGHWAY_RULES, NON_NEGATIVE, Rule, check_config, check_keys
from envs.scene import straight_road

# Rules for highway-env's keys and for the keys several scenarios share (applied where present).
SHARED_RULES: dict[str, Rule] = {**HIGHWAY_RULES, "ego_speed": NON_NEGATIVE}  # [m/s]


class LaneforgeHighwayEnv(HighwayEnvFast):
    """highway-fast-v0 whose config is checked; subclasses set ``ENV_ID``, ``UNUSED_KEYS``, ``RULES``."""

    ENV_ID: ClassVar[str] = ""
    # Inherited key -> why this env does not honour it; subclasses extend these (none honours them).
    UNUSED_KEYS: ClassVar[dict[str, str]] = {
        "controlled_vehicles": "there is one ego",
        "lane_change_reward": "highway-env never uses it",
    }
    RULES: ClassVar[dict[str, Rule]] = {}  # the env's own keys (and stricter shared ones)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        config = super().default_config()
        for key in cls.UNUSED_KEYS:
            config.pop(key, None)
        return config

    @classmethod
    def check_config(cls, overrides: Mapping[str, Any]) -> None:
        """Raise EnvConfigError naming the key if ``overrides`` on the defaults cannot work."""
        cls.check_full_config({**cls.default_config(), **overrides})

    @classmethod
    def check_full_config(cls, config: Mapping[str, Any]) -> None:
        check_keys(config, cls.default_config(), cls.ENV_ID, unused=cls.UNUSED_KEYS)
        check_config(config, {**SHARED_RULES, **cls.RULES})

    def configure(self, config: dict | None) -> None:
        if config:  # checked before it is applied, so a rejected config changes nothing
            self.check_full_config({**self.config, **config})
        super().configure(config)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        # also catches edits made in place: env.unwrapped.config[key] = value
        self.check_full_config({**self.config, **((options or {}).get("config") or {})})
        return super().reset(seed=seed, options=options)

    def _create_road(self) -> None:
        self.road = straight_road(self, self.config["lanes_count"])
