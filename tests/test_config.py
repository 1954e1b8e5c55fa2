"""Config loading: typed values, dotted overrides, and one clear error per bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agents.config import apply_overrides, budget_text, load_config, parse_config
from agents.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert cfg.logging.experiment == path.stem


def test_overrides_are_typed_by_schema():
    cfg = load_config(ROOT / "configs/highway_dqn.yaml",
                      ["train.total_timesteps=5000", "algo.learning_rate=1e-4", "network.net_arch=[64, 32]",
                       "env.config.lanes_count=2", "train.progress_bar=false"])
    assert cfg.train.total_timesteps == 5000 and isinstance(cfg.train.total_timesteps, int)
    assert cfg.algo.learning_rate == pytest.approx(1e-4)
    assert cfg.network.net_arch == [64, 32]
    assert cfg.env.config["lanes_count"] == 2
    assert cfg.train.progress_bar is False


def test_override_does_not_mutate_input():
    data = {"train": {"seed": 1}}
    out = apply_overrides(data, ["train.seed=2"])
    assert data["train"]["seed"] == 1 and out["train"]["seed"] == 2


@pytest.mark.parametrize("overrides, expected", [
    (["algo.learning_rat=1"],
     "command-line override 'algo.learning_rat=1': unknown key 'algo.learning_rat' (did you mean 'algo.learning_rate'?)"),
    (["learning_rate=1e-3"], "command-line override 'learning_rate=1e-3': unknown key 'learning_rate' "
                             "(did you mean 'algo.learning_rate'?)"),
    (["n_step=4"], "unknown key 'n_step' (did you mean 'algo.n_steps'?)"),
    (["trian.seed=1"], "unknown key 'trian' (did you mean 'train'?)"),
    (["network.mpl.layers=[8]"], "unknown key 'network.mpl' (did you mean 'network.mlp'?)"),
    (["network.net_arc=[1]"], "unknown key 'network.net_arc' (did you mean 'network.net_arch'?)"),
    (["algo.gamma=1.5"], "command-line override 'algo.gamma=1.5': algo.gamma"),
    (["algo.gamma=abc"], "algo.gamma: Input should be a valid number"),
    (["algo.gamma=1.5"], "algo.gamma: Input should be less than or equal to 1"),
    (["train.total_timesteps=0"], "train.total_timesteps: Input should be greater than or equal to 1"),
    (["train.seed=-1"], "train.seed"),
    (["algo.name=sac"], "unknown algorithm 'sac'"),
    (["network.type=mpl"], "unknown network type 'mpl' (did you mean 'mlp'?)"),
    (["network.activation=rleu"], "unknown activation 'rleu' (did you mean 'relu'?)"),
    (["env.id=highway-fst-v0"], "unknown environment 'highway-fst-v0' (did you mean 'highway-fast-v0'?)"),
    (["env.config.lane_count=3"], "env.config.lane_count: unknown key for highway-fast-v0 (did you mean 'lanes_count'?)"),
    (["env.config.observation.vehicle_count=3"], "env.config.observation.vehicle_count: unknown parameter for Kinematics (did you mean 'vehicles_count'?)"),
    (["env.config.observation.type=Kinematic"], "env.config.observation.type: unknown type 'Kinematic' (did you mean 'Kinematics'?)"),
    (["env.config.action.type=DiscreteMeta"], "env.config.action.type: unknown type 'DiscreteMeta'"),
    (["env.config.other_vehicles_type=highway_env.vehicle.behavior.IDMVehicle"], "import paths are not accepted"),
    (["env.id=CartPole-v1", "env.config.lanes_count=2"], "takes no config dict"),
    (["env.vec_env=threads"], "env.vec_env"),
    (["logging.experiment=a/b"], "logging.experiment"),
    (["algo.name=ppo", "algo.buffer_size=10"], "unknown key 'algo.buffer_size' (a key of another algorithm"),
    (["train=5"], "train"),
    (["seed"], "bad override 'seed': use KEY=VALUE"),
])
def test_bad_config_values_name_the_key(overrides, expected):
    with pytest.raises(UserError) as err:
        load_config(ROOT / "configs/highway_dqn.yaml", overrides)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_ppo_batch_larger_than_rollout():
    with pytest.raises(UserError, match="algo.batch_size"):
        load_config(ROOT / "configs/highway_ppo.yaml", ["algo.n_steps=8", "algo.batch_size=64"])


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML at line"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="top level must be a mapping"):
        load_config(listy)


def test_yaml_with_python_tags_is_rejected(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("env: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(evil)


def test_round_trip_of_resolved_config(tmp_path):
    from agents.config import dump_config

    cfg = load_config(ROOT / "configs/highway_ppo.yaml", ["algo.gamma=0.9"])
    again = parse_config(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


def test_env_scenario_names_a_seen_suite_scenario():
    cfg = load_config(ROOT / "configs/highway_dqn.yaml",
                      ["env.scenario=configs/suites/smoke.yaml:highway_small", "env.config.duration=7"])
    assert cfg.env.id == "highway-fast-v0"
    assert cfg.env.config == {"vehicles_count": 5, "duration": 7}  # env.config wins over the scenario
    assert cfg.env.scenario is None  # resolved into id/config
    with pytest.raises(UserError, match="unseen scenario"):
        load_config(ROOT / "configs/highway_dqn.yaml", ["env.scenario=configs/suites/smoke.yaml:work_zone_small"])
    with pytest.raises(UserError, match="did you mean 'highway_small'"):
        load_config(ROOT / "configs/highway_dqn.yaml", ["env.scenario=configs/suites/smoke.yaml:highway_smal"])


def test_errors_in_the_file_are_blamed_on_the_file_not_the_overrides(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("algo:\n  name: dqn\n  learning_rat: 0.1\n")
    with pytest.raises(UserError) as err:
        load_config(bad, ["train.seed=3"])
    assert str(err.value).startswith(f"{bad}: unknown key 'algo.learning_rat'")
    assert "command-line" not in str(err.value)


def test_a_missing_config_file_suggests_a_file_of_the_same_folder():
    with pytest.raises(UserError) as err:
        load_config(ROOT / "configs/fast_highway_ppo.yml")
    assert "(did you mean '" in str(err.value) and "configs/fast_highway_ppo.yaml'?)" in str(err.value)
    assert "highway_dqn" not in str(err.value)


def test_ppo_budget_is_rounded_up_to_whole_rollouts_and_said_once():
    from agents.config import round_budget

    cfg = load_config(ROOT / "configs/fast_highway_ppo.yaml")  # 1e6 steps, rollouts of 32 x 256
    requested = round_budget(cfg)
    assert requested == 1_000_000 and cfg.train.total_timesteps == 1_007_616 == 123 * 8192
    assert budget_text(cfg, requested) == "1,007,616 env steps (1,000,000 rounded up to 123 rollouts of 8,192)"
    assert round_budget(cfg) is None  # rounding is idempotent: a resumed run keeps its budget
    exact = load_config(ROOT / "configs/fast_highway_ppo.yaml", ["train.total_timesteps=16384"])
    assert round_budget(exact) is None and budget_text(exact) == "16,384 env steps"
    dqn = load_config(ROOT / "configs/highway_dqn.yaml", ["train.total_timesteps=1001"])
    assert round_budget(dqn) is None and dqn.train.total_timesteps == 1001  # DQN stops on any step


def test_torch_threads_auto_resolves_per_algorithm_and_cpus(monkeypatch):
    from agents import runtime
    from agents.training.loop import resolve_threads

    assert load_config(ROOT / "configs/fast_highway_ppo.yaml").train.torch_threads == "auto"
    monkeypatch.setattr(runtime, "available_cpus", lambda: 8)
    cases = {("configs/fast_highway_ppo.yaml", ()): 4,  # batched in-process env: min(4, 8)
             ("configs/highway_dqn.yaml", ()): 1,
             ("configs/highway_ppo.yaml", ("env.n_envs=6", "env.vec_env=subproc")): 2,  # 8 - 6 simulators
             ("configs/highway_ppo.yaml", ("env.n_envs=2", "env.vec_env=dummy")): 4}
    for (path, extra), want in cases.items():
        cfg = load_config(ROOT / path, ["train.torch_threads=auto", *extra])
        resolve_threads(cfg)
        assert cfg.train.torch_threads == want, (path, extra)
    monkeypatch.setattr(runtime, "available_cpus", lambda: 2)
    cfg = load_config(ROOT / "configs/highway_ppo.yaml", ["train.torch_threads=auto", "env.n_envs=4",
                                                          "env.vec_env=subproc"])
    resolve_threads(cfg)
    assert cfg.train.torch_threads == 1
    fixed = load_config(ROOT / "configs/fast_highway_ppo.yaml", ["train.torch_threads=3"])
    resolve_threads(fixed)
    assert fixed.train.torch_threads == 3


@pytest.mark.parametrize("override, message", [
    ("env.config.vehicles_count=1000000000", "env.config.vehicles_count: must be <= 1000"),
    ("env.config.lanes_count=500", "env.config.lanes_count: must be <= 20"),
    ("env.config.vehicles_density=-1", "env.config.vehicles_density: must be > 0"),
    ("env.config.observation={type: Kinematics, vehicles_count: 100000000}",
     "env.config.observation.vehicles_count: must be <= 1001"),
])
def test_highway_env_values_are_checked_before_the_env_is_built(override, message):
    """highway-env's own envs too: a billion vehicles is one line and exit 2, not a scene that takes
    hours to build (the config fuzzer found it hanging a dry run)."""
    from tests.conftest import run_in_process

    proc = run_in_process("train.py", "--config", "configs/highway_dqn.yaml", "--dry-run", override)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
