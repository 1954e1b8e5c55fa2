"""One run identity (agents.config.identity), used by experiments and compare alike: the
budget, device, progress, time limits and logging do not make another config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.analysis.run_groups import Run, group_runs
from agents.config import ExperimentConfig, identity_difference, parse_config
from agents.experiments.plan import Trial
from agents.experiments.runner import run_state

BASE = {"env": {"id": "highway-fast-v0"}, "algo": {"name": "dqn", "learning_rate": 5e-4},
        "train": {"seed": 0, "total_timesteps": 1000, "torch_threads": 1}, "logging": {"wandb": "disabled"}}


def config(**changes: object) -> dict:
    """BASE with dotted ``changes`` (``train__seed=1`` sets train.seed), dumped as a run writes it."""
    data = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        section, name = key.split("__")
        data.setdefault(section, {})[name] = value
    return parse_config(data).model_dump(mode="json")


@pytest.mark.parametrize("changes", [
    {"train__total_timesteps": 5000}, {"train__device": "cpu"}, {"train__progress_bar": False},
    {"train__log_every_s": 5.0}, {"train__max_wall_time": 600.0}, {"train__checkpoint_every_s": 60.0},
    {"logging__wandb": "offline"}, {"logging__experiment": "other"}, {"train__torch_threads": "auto"},
])
def test_keys_outside_identity(changes):
    assert identity_difference(config(), config(**changes)) == []


@pytest.mark.parametrize("changes, key", [
    ({"algo__learning_rate": 1e-3}, "algo.learning_rate"), ({"train__seed": 1}, "train.seed"),
    ({"train__torch_threads": 2}, "train.torch_threads"),
])
def test_keys_inside_identity(changes, key):
    diff = identity_difference(config(), config(**changes))
    assert len(diff) == 1 and diff[0].startswith(f"{key}: ")
    assert identity_difference(config(), config(**changes), also_excluded=(key,)) == []


def _run_folder(path: Path, cfg: dict, steps: int) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    (path / "train_summary.json").write_text(json.dumps({"num_timesteps": steps}))
    return path


def test_an_extended_run_is_the_same_run_for_experiments(tmp_path):
    stored = config()
    run_dir = _run_folder(tmp_path / "run", stored, steps=1000)
    wanted = ExperimentConfig.model_validate(config(train__total_timesteps=2000, logging__experiment="exp"))
    state, detail = run_state(Trial("run", run_dir, 0, {}, wanted))
    assert state == "stale", detail  # unfinished (no checkpoint in this fake folder), not a conflict
    same = ExperimentConfig.model_validate(stored)
    assert run_state(Trial("run", run_dir, 0, {}, same))[0] == "finished"
    other = ExperimentConfig.model_validate(config(algo__learning_rate=1e-3))
    state, detail = run_state(Trial("run", run_dir, 0, {}, other))
    assert state == "conflict" and "algo.learning_rate" in detail


def test_an_extended_run_groups_with_its_siblings_in_compare(tmp_path):
    def run(name: str, cfg: dict) -> Run:
        steps = np.array([100.0, 200.0])
        return Run(path=tmp_path / name, config=cfg, seed=cfg["train"]["seed"], steps=steps, values=steps / 100,
                   walls=steps)

    runs = [run("a", config(train__seed=0)), run("b", config(train__seed=1)),
            run("c", config(train__seed=2, train__total_timesteps=5000, train__device="cpu")),
            run("d", config(train__seed=0, algo__learning_rate=1e-3))]
    groups = group_runs(runs)
    assert sorted(sorted(r.path.name for r in g.runs) for g in groups) == [["a", "b", "c"], ["d"]]
    assert {g.label for g in groups} == {"algo.learning_rate=0.0005", "algo.learning_rate=0.001"}
