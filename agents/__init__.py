"""laneforge agents, one package per concern; imports run one way (tests/test_layout.py):

experiments -> training -> evaluation -> rundir -> analysis, config -> models (-> envs).
The top-level modules (errors, registry, fileio, runtime, plainlog, cli) are shared by all;
runs, networks and wandb_offline only re-export the import paths README documents."""

from agents.errors import UserError

__all__ = ["UserError"]
