"""Experiments: grids x seeds as run folders, backends, reruns, bad input (issue 7)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from agents.errors import UserError
from agents.experiments.plan import parse_grid, parse_seeds, split_values
from tests.conftest import TINY_PPO, run_cli

# Tiny PPO with one in-process env: a run reserves 1 CPU, so two run side by side on 2 cores.
TINY = [*TINY_PPO, "env.n_envs=1"]
# Ray: two runs on two workers (each Ray task pays a worker start; the process backend's grid test covers more)
GRID = ["--seeds", "0", "--grid", "network.type=mlp,attention"]
NAMES = [f"highway-fast-v0__ppo__{net}__s0" for net in ("mlp", "attention")]
RAY_REQUIRED = bool(os.environ.get("CI"))


def experiment(tmp_path: Path, *args: str, name: str = "exp", extra: tuple[str, ...] = (), timeout: int = 400):
    return run_cli("train.py", "--config", "configs/highway_ppo.yaml", "--name", name, "--storage", str(tmp_path),
                   *args, *TINY, *extra, timeout=timeout)


def summaries(folder: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in folder.glob("*/train_summary.json")}


def statuses(folder: Path) -> dict[str, str]:
    return {r["name"]: r["status"] for r in json.loads((folder / "experiment.json").read_text())["runs"]}


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize("text, seeds", [("0-4", [0, 1, 2, 3, 4]), ("3", [3]), ("0,2,5", [0, 2, 5]),
                                         ("0-2,7", [0, 1, 2, 7]), (" 1 - 2 ", [1, 2])])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, expected", [("4-1", "runs backwards"), ("a", "cannot read"), ("-1", "cannot read"),
                                            ("0-1000000", "too large"), ("1,1", "listed twice"), ("", "cannot read"),
                                            ("0-", "cannot read")])
def test_parse_seeds_rejects(text, expected):
    with pytest.raises(UserError, match=expected):
        parse_seeds(text)


def test_parse_grid_splits_outside_brackets():
    assert split_values("[64,64],[32],mlp") == ["[64,64]", "[32]", "mlp"]
    assert parse_grid(["network.net_arch=[64,64],[32]", "algo.learning_rate=3e-4,1e-3"]) == [
        ("network.net_arch", ["[64,64]", "[32]"]), ("algo.learning_rate", ["3e-4", "1e-3"])]
    for bad, msg in [("network.type", "KEY=V1,V2"), ("train.seed=1,2", "use --seeds"), ("a.b=x,,y", "empty value"),
                     ("a.b=x,x", "listed twice")]:
        with pytest.raises(UserError, match=msg):
            parse_grid([bad])
    with pytest.raises(UserError, match="given twice"):
        parse_grid(["a.b=1", "a.b=2"])


# ------------------------------------------------------------------ bad input through the CLI


@pytest.mark.parametrize("args, expected", [
    (["--grid", "network.typ=mlp,attention"], "unknown key 'network.typ' (did you mean 'network.type'?)"),
    (["--grid", "netwrk.type=mlp"], "did you mean 'network'?"),
    (["--grid", "env.config.lane_count=2,3"], "did you mean 'lanes_count'?"),
    (["--grid", "algo.learning_rate=1e-3,fast"], "algo.learning_rate"),
    (["--seeds", "4-1"], "runs backwards"),
    (["--seeds", "0-x"], "cannot read"),
    (["--seeds", "0-1", "--seed", "3"], "not both"),
    (["--backend", "process", "--ray-address", "auto"], "need --backend ray"),
])
def test_bad_experiment_input_exits_2(tmp_path, capsys, args, expected):
    import train
    from agents.cli import run_cli as run_main

    argv = ["--config", "configs/highway_ppo.yaml", "--name", "exp", "--storage", str(tmp_path), *args, *TINY]
    with pytest.raises(SystemExit) as exc:
        run_main(train.main, argv)
    assert exc.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and expected in lines[0], lines
    assert not (tmp_path / "exp").exists(), "a refused experiment must write nothing"


def test_bad_grid_key_through_the_cli(tmp_path):
    proc = experiment(tmp_path, "--grid", "network.typ=mlp,attention")
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "unknown key 'network.typ' (did you mean 'network.type'?)" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "exp").exists()


@pytest.mark.parametrize("space, expected", [
    ("algo.learnin_rate: {uniform: [0.1, 0.2]}", "did you mean 'algo.learning_rate'"),
    ("algo.gamma: {uniform: [0.9, 0.1]}", "low must be below high"),
    ("algo.gamma: {uniform: [0.1, 0.9], choice: [0.5]}", "exactly one of"),
    ("network.type: {choice: [mlp, transformer]}", "network.type=transformer"),
    ("train.seed: {choice: [1, 2]}", "sets this key itself"),
])
def test_bad_sweep_file_exits_2(tmp_path, space, expected):
    from agents.experiments.sweep_spec import load_sweep

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"config: configs/highway_ppo.yaml\nbudget: 2\nspace:\n  {space}\n")
    with pytest.raises(UserError, match=expected.replace("[", r"\[")):
        load_sweep(bad, [])


def test_sweep_files_validate_and_no_ray_in_other_backends(tmp_path):
    """The shipped sweep files validate; planning and the sequential path never import Ray."""
    from agents.experiments.sweep_spec import load_sweep

    for sweep in sorted(Path("configs/sweeps").glob("*.yaml")):
        spec, base, _ = load_sweep(sweep, [])
        assert spec.budget >= 1 and base.train.eval_freq > 0
    code = ("import sys, train\n"
            "try:\n    train.main(['--config', 'configs/highway_ppo.yaml', '--seeds', '0-1', '--grid',"
            " 'network.type=mlp,attention', '--dry-run', '--storage', sys.argv[1]])\n"
            "finally:\n    print('RAY_IMPORTED' if 'ray' in sys.modules else 'NO_RAY')\n")
    proc = run_cli("-c", code, str(tmp_path))
    assert "NO_RAY" in proc.stdout, proc.stdout + proc.stderr
    assert "4 runs" in proc.stdout


# ------------------------------------------------------------------ running


def test_process_backend_grid_rerun_skips_and_resumes(tmp_path):
    grid = ["--seeds", "0", "--grid", "network.type=mlp,attention"]  # two runs at once in two processes
    names = [f"highway-fast-v0__ppo__{net}__s0" for net in ("mlp", "attention")]
    proc = experiment(tmp_path, *grid, "--workers", "2", "--wandb", "offline")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "experiment  2/2 runs (100%)" in proc.stderr  # its own progress, plain (stderr is a pipe)
    folder = tmp_path / "exp"
    done = summaries(folder)
    assert sorted(done) == sorted(names)
    assert all(s["num_timesteps"] == 128 for s in done.values())
    assert set(statuses(folder).values()) == {"done"}
    cfg = (folder / "highway-fast-v0__ppo__attention__s0" / "config.yaml").read_text()
    assert "experiment: exp" in cfg and "network.type=attention" in cfg and "seed: 0" in cfg
    # One W&B group (the experiment), grid values as tags.
    from agents.rundir.wandb_offline import find_run_logs, read_run

    run = read_run(find_run_logs(folder / "highway-fast-v0__ppo__attention__s0")[0])["run"]
    assert run["group"] == "exp"
    assert {"ppo", "attention", "seed0", "network.type=attention"} <= set(run["tags"])
    # Each run's log holds plain progress lines (no terminal there), ending at its budget.
    log = (folder / "logs" / "highway-fast-v0__ppo__attention__s0.log").read_text()
    assert "train  128/128 steps (100%)" in log and "\x1b[" not in log

    # Running the same experiment again finds every run finished: nothing is retrained.
    mtimes = {n: (folder / n / "model.zip").stat().st_mtime_ns for n in names}
    proc = experiment(tmp_path, *grid, "--workers", "2", "--wandb", "offline")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(statuses(folder).values()) == {"skipped"}
    assert mtimes == {n: (folder / n / "model.zip").stat().st_mtime_ns for n in names}

    # A larger budget for one run: it is resumed from its checkpoint, not restarted.
    proc = experiment(tmp_path, "--seeds", "0", "--grid", "network.type=mlp", "--workers", "2",
                      "--wandb", "offline", extra=("train.total_timesteps=192",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert statuses(folder) == {"highway-fast-v0__ppo__mlp__s0": "resumed"}
    done = summaries(folder)
    assert done["highway-fast-v0__ppo__mlp__s0"]["num_timesteps"] == 192
    assert done["highway-fast-v0__ppo__attention__s0"]["num_timesteps"] == 128
    prov = json.loads((folder / "highway-fast-v0__ppo__mlp__s0" / "provenance.json").read_text())
    assert len(prov.get("resumes", [])) == 1


def test_failed_trial_is_reported_and_others_finish(tmp_path):
    """cnn cannot read Kinematics vectors: that run fails at build time, the mlp run completes."""
    proc = experiment(tmp_path, "--seeds", "0", "--grid", "network.type=cnn,mlp", "--wandb", "disabled")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    folder = tmp_path / "exp"
    runs = {r["name"]: r for r in json.loads((folder / "experiment.json").read_text())["runs"]}
    assert runs["highway-fast-v0__ppo__mlp__s0"]["status"] == "done"
    failed = runs["highway-fast-v0__ppo__cnn__s0"]
    assert failed["status"] == "failed" and "network" in failed["error"]
    assert "1 of 2 runs failed" in proc.stdout
    assert summaries(folder)["highway-fast-v0__ppo__mlp__s0"]["num_timesteps"] == 128
    # The same experiment with another gamma would reuse the folder of a different config: refused.
    before = (folder / "highway-fast-v0__ppo__mlp__s0" / "model.zip").stat().st_mtime_ns
    proc = experiment(tmp_path, "--seeds", "0", "--grid", "network.type=mlp", "--wandb", "disabled",
                      extra=("algo.gamma=0.9",))
    assert proc.returncode == 1
    (run,) = json.loads((folder / "experiment.json").read_text())["runs"]
    assert run["status"] == "failed" and "algo.gamma: 0.8 -> 0.9" in run["error"]
    assert (folder / "highway-fast-v0__ppo__mlp__s0" / "model.zip").stat().st_mtime_ns == before


@pytest.mark.skipif(importlib.util.find_spec("ray") is None and not RAY_REQUIRED,
                    reason="Ray not installed (pip install -e '.[ray]'); CI installs it and runs this test")
def test_ray_backend_grid(tmp_path):
    proc = experiment(tmp_path, *GRID, "--backend", "ray", "--workers", "2", "--wandb", "offline", name="rayexp")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    folder = tmp_path / "rayexp"
    assert sorted(summaries(folder)) == sorted(NAMES)
    assert all(s["num_timesteps"] == 128 for s in summaries(folder).values())
    assert set(statuses(folder).values()) == {"done"}
    from agents.rundir.wandb_offline import find_run_logs, read_run

    assert read_run(find_run_logs(folder / NAMES[0])[0])["run"]["group"] == "rayexp"
    # Each Ray task's log holds its plain progress lines.
    assert "train  128/128 steps (100%)" in (folder / "logs" / f"{NAMES[0]}.log").read_text()
    # Every run is an ordinary run folder that evaluate.py reads.
    ev = run_cli("evaluate.py", str(folder / NAMES[0]), "--episodes", "1", "--no-video", "--wandb", "disabled")
    assert ev.returncode == 0, ev.stderr[-2000:]
    assert (folder / NAMES[0] / "eval" / "train_env" / "report.json").is_file()


def test_tune_report_hook_gets_every_periodic_evaluation(tmp_path):
    """The hook (passed through train's extra_callbacks) sees each evaluation with its env step,
    the same values metrics.csv holds; no Ray needed."""
    import csv

    from agents.config import load_config
    from agents.training.loop import train
    from agents.experiments.trial_report import ReportCallback

    reports: list[dict] = []
    cfg = load_config("configs/highway_ppo.yaml", [*TINY, "logging.wandb=disabled", "train.progress_bar=false"])
    train(cfg, tmp_path / "run", ["test"], out=open(os.devnull, "w"), extra_callbacks=[ReportCallback(reports.append)])
    assert [r["timesteps"] for r in reports] == [64, 128]
    rows = [r for r in csv.DictReader(open(tmp_path / "run" / "metrics.csv")) if r.get("eval/return")]
    assert [float(r["eval/return"]) for r in rows] == pytest.approx([r["eval/return"] for r in reports])


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray not installed")
def test_sweep_smoke_through_tune(tmp_path):
    """configs/sweeps/smoke.yaml: 3 trials through Tune with ASHA; trials are run folders, ranked."""
    proc = run_cli("train.py", "--sweep", "configs/sweeps/smoke.yaml", "--storage", str(tmp_path), "--workers", "2",
                   timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "sweep_smoke" / "sweep_results.json").read_text())
    trials = results["trials"]
    assert len(trials) == 3 and all(t["status"] in ("complete", "stopped early") for t in trials)
    assert trials[0]["status"] == "complete" and trials[0]["seed"] in (0, 1)
    for t in trials:
        assert (Path(t["run_dir"]) / "config.yaml").is_file() and t["steps"] >= 32
    assert "best:" in proc.stdout
