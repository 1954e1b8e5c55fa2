"""Scenario suites: the shipped files load and every scenario builds; bad files name the key."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from agents.config import load_config
from envs.factory import make_env
from envs.suites import Scenario, Suite, SuiteError, load_suite, parse_suite

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "configs" / "suites"
SHIPPED = sorted(SUITES.glob("*.yaml"))
TRAINING_OBS_SHAPE = (5, 5)  # highway-fast-v0's Kinematics defaults
TRAINING_ACTIONS = gym.spaces.Discrete(5)  # DiscreteMetaAction


def _all_scenarios() -> list[tuple[str, Scenario]]:
    return [(path.name, sc) for path in SHIPPED for sc in load_suite(path).scenarios]


def test_shipped_suites_exist():
    names = {p.name for p in SHIPPED}
    assert {"highway_generalization.yaml", "smoke.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_suite_loads(path):
    suite = load_suite(path)
    assert isinstance(suite, Suite) and suite.name == path.stem and suite.path == path
    assert suite.seen  # every suite has the reference: what the agent trained on
    if len(suite.scenarios) > 1:  # a generalization suite compares it with held-out scenarios
        assert suite.unseen
    assert len(set(suite.names())) == len(suite.scenarios)
    assert all(sc.split in ("seen", "unseen") for sc in suite.scenarios)


def test_highway_generalization_seen_is_the_highway_training_distribution():
    suite = load_suite(SUITES / "highway_generalization.yaml")
    for config in ("highway_dqn.yaml", "highway_ppo.yaml"):
        cfg = load_config(ROOT / "configs" / config)
        assert any(sc.env_id == cfg.env.id and sc.env_config == cfg.env.config for sc in suite.seen), config
    unseen_ids = {sc.env_id for sc in suite.unseen}
    assert {"laneforge/WorkZone-v1", "laneforge/EmergencyBraking-v0", "highway-fast-v0"} <= unseen_ids
    assert {i.split("-v")[0] for i in unseen_ids} >= {"merge", "roundabout"}
    assert all(sc.env_id == "highway-fast-v0" and sc.env_config == {} for sc in suite.seen)


def test_randomized_unseen_scenarios_leave_the_training_ranges():
    from envs.randomized_highway import RandomizedHighwayEnv

    training = RandomizedHighwayEnv.default_config()
    suite = load_suite(SUITES / "randomized_generalization.yaml")
    assert [sc.env_config for sc in suite.seen] == [{}]
    for sc in suite.unseen:
        ranges = {k: v for k, v in sc.env_config.items() if k.endswith("_range")}
        disjoint = [key for key, (lo, hi) in ranges.items() if hi < training[key][0] or lo > training[key][1]]
        shares = sc.env_config.get("driver_shares", {})
        disjoint += [name for name, (lo, hi) in shares.items() if lo > training["driver_shares"][name][1]]
        assert disjoint, f"{sc.name} overlaps the training ranges on every key"


def test_smoke_suite_is_tiny():
    suite = load_suite(SUITES / "smoke.yaml")
    assert len(suite.seen) == 1 and len(suite.unseen) == 1
    for sc in suite.scenarios:
        assert sc.env_config["vehicles_count"] <= 5 and sc.env_config["duration"] <= 5


@pytest.mark.parametrize("suite_file, scenario", _all_scenarios(),
                         ids=[f"{f.split('.')[0]}-{sc.name}" for f, sc in _all_scenarios()])
def test_every_scenario_builds_with_training_spaces(suite_file, scenario):
    env = make_env(scenario.env_id, scenario.env_config)
    obs, _ = env.reset(seed=0)
    assert obs.shape == TRAINING_OBS_SHAPE and env.observation_space.shape == TRAINING_OBS_SHAPE
    assert env.action_space == TRAINING_ACTIONS
    obs, reward, *_ = env.step(1)
    assert obs.shape == TRAINING_OBS_SHAPE and np.isfinite(reward)
    env.close()


def test_suite_api(tmp_path):
    suite = load_suite(SUITES / "smoke.yaml")
    assert suite.get("work_zone_small").env_id == "laneforge/WorkZone-v0"
    assert [s.name for s in suite.split("seen")] == [s.name for s in suite.seen]
    with pytest.raises(ValueError, match="work_zone_small"):
        suite.get("work_zone_smal")
    with pytest.raises(ValueError, match="split"):
        suite.split("train")
    path = tmp_path / "nameless.yaml"
    path.write_text("scenarios: [{name: a, env_id: highway-fast-v0, split: seen}]\n")
    loaded = load_suite(path)
    assert loaded.name == "nameless" and loaded.scenarios[0].env_config == {}


# ---------------------------------------------------------------- bad files

_OK = "{name: a, env_id: highway-fast-v0, split: seen}"
BAD_FILES = [
    ("scenarios: [" + _OK + "]\nscenaros: []\n", "scenaros: unknown key"),
    ("scenarios: [{name: a, env_id: highway-fast-v0, split: seen, env_cfg: {}}]", "scenarios[0].env_cfg: unknown key (did you mean 'env_config'?)"),
    ("scenarios: [{name: a, env_id: highway-fast-v0, split: train}]", "scenarios[0].split: must be one of seen, unseen"),
    ("scenarios: [{name: a, split: seen}]", "scenarios[0].env_id: missing"),
    ("scenarios: [{name: 'a b', env_id: highway-fast-v0, split: seen}]", "scenarios[0].name"),
    ("scenarios: [" + _OK + ", " + _OK + "]", "scenarios[1].name: duplicate"),
    ("scenarios: []", "scenarios"),
    ("- a\n- b\n", "top level must be a mapping"),
    ("scenarios: [{name: a, env_id: highway-fast-v9, split: seen}]", "scenarios[0].env_id: unknown environment"),
    ("scenarios: [{name: a, env_id: highway-fast-v0, split: seen, env_config: {lanes: 2}}]",
     "scenarios[0].env_config.lanes: unknown key"),
    ("scenarios: [{name: a, env_id: laneforge/WorkZone-v0, split: unseen, env_config: {closed_lanes: [5]}}]",
     "scenarios[0].env_config.closed_lanes: lane 5 does not exist"),
    ("scenarios: [{name: a, env_id: laneforge/RandomizedHighway-v0, split: unseen,"
     " env_config: {vehicles_density_range: [2.0, 1.0]}}]", "scenarios[0].env_config.vehicles_density_range: min"),
    ("scenarios: [{name: a, env_id: highway-fast-v0, split: seen, env_config: {observation: {type: Kinematic}}}]",
     "scenarios[0].env_config.observation.type"),
    ("scenarios: [{name: a, env_id: highway-fast-v0, split: seen, env_config: [1]}]", "scenarios[0].env_config"),
    ("scenarios: [{name: a, env_id: highway-fast-v0\n", "not valid YAML"),
]


@pytest.mark.parametrize("text, message", BAD_FILES, ids=range(len(BAD_FILES)))
def test_bad_suite_file_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteError, match="not found"):
        load_suite(tmp_path / "nope.yaml")


def test_parse_suite_without_file():
    suite = parse_suite({"name": "x", "scenarios": [{"name": "a", "env_id": "highway-fast-v0", "split": "seen"}]})
    assert suite.name == "x" and suite.path is None
