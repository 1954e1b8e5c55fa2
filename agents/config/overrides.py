"""Dotted ``KEY=VALUE`` overrides and flat dotted views of config dicts."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from agents.errors import UserError


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


def flatten_config(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config dict as ``{"dotted.key": value}`` (empty dicts stay values)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(flatten_config(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def flag_overrides(overrides: list[str], seed: int | None = None, device: str | None = None,
                   wandb: str | None = None) -> list[str]:
    """``overrides`` plus the ones the command-line flags ``--seed``, ``--device`` and ``--wandb`` stand for."""
    flags = (("train.seed", seed), ("train.device", device), ("logging.wandb", wandb))
    return [*overrides, *(f"{key}={value}" for key, value in flags if value is not None)]
