"""laneforge agents: config schema, network builders, algorithm factory, training, evaluation."""

from agents.errors import UserError

__all__ = ["UserError"]
