"""Documented import path (README): ``agents.runs.load_run``. The code lives in
:mod:`agents.rundir`; nothing inside agents/ imports this module."""

from agents.rundir.layout import new_run_dir, sanitize
from agents.rundir.loading import MODEL_FILES, LoadedRun, load_model, load_run, read_run_config

__all__ = ["MODEL_FILES", "LoadedRun", "load_model", "load_run", "new_run_dir", "read_run_config", "sanitize"]
