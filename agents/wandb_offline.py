"""Documented import path (README): ``agents.wandb_offline.read_run``. The code lives in
:mod:`agents.rundir.wandb_offline`; nothing inside agents/ imports this module."""

from agents.rundir.wandb_offline import read_run

__all__ = ["read_run"]
