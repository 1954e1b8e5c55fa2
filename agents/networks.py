"""Documented import path (README): ``agents.networks.predict_any_rows`` / ``attention_weights``.
The code lives in :mod:`agents.models`; nothing inside agents/ imports this module."""

from agents.models.extractors import (ACTIVATIONS, EXTRACTORS, CnnExtractor, EgoAttentionExtractor, MlpExtractor,
                                      count_parameters)
from agents.models.inference import attention_weights, policy_extractor, predict_any_rows

__all__ = ["ACTIVATIONS", "EXTRACTORS", "CnnExtractor", "EgoAttentionExtractor", "MlpExtractor", "attention_weights",
           "count_parameters", "policy_extractor", "predict_any_rows"]
