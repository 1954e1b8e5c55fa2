"""The benchmark scripts run end to end at toy sizes (their numbers are not checked here:
benchmarks/RESULTS.md holds the measured ones). A benchmark that only breaks when someone
starts a multi-hour run is a benchmark that loses that run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_architectures_run_evaluates_and_reuses_a_trained_model(tmp_path):
    import architectures

    models = tmp_path / "models"
    record = architectures.one_run("mlp", 0, 30, 2, str(ROOT / "configs"), str(models), None)
    assert record["episodes"] == 2 and record["budget"] == 30
    assert 0.0 <= record["success_rate"] <= 1.0 and len(record["per_episode"]) == 2
    assert (models / "mlp_budget30_seed0.zip").exists()
    # a trained model whose evaluation never finished is evaluated, not trained again
    sidecar = models / "mlp_budget30_seed0.json"
    assert json.loads(sidecar.read_text())["train_wall_s"] == record["train_wall_s"]
    again = architectures.one_run("mlp", 0, 30, 3, str(ROOT / "configs"), str(models), None)
    assert again["train_wall_s"] == record["train_wall_s"] and again["episodes"] == 3
    # same model, same evaluation seeds: the first two episodes repeat exactly
    assert [r["return"] for r in again["per_episode"][:2]] == [r["return"] for r in record["per_episode"]]


def test_architectures_reports_a_failed_run_and_keeps_the_others(tmp_path, capsys):
    import architectures

    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "intersection_dqn_mlp.yaml").write_text((ROOT / "configs/intersection_dqn_mlp.yaml").read_text())
    (configs / "intersection_dqn_cnn.yaml").write_text("algo: {name: dqn, learning_rat: 0.1}\n")  # a typo
    out = tmp_path / "results.json"
    code = architectures.main(["--budget", "30", "--seeds", "0", "--episodes", "1", "--networks", "mlp", "cnn",
                               "--results", str(out), "--models-dir", str(tmp_path / "m"),
                               "--config-dir", str(configs)])
    assert code == 1
    printed = capsys.readouterr().out
    assert "FAILED cnn seed 0" in printed and "learning_rat" in printed
    assert list(json.loads(out.read_text())["runs"]) == ["mlp/budget30/seed0"]


def test_architectures_highway_ppo_task_trains_on_fast_highway_and_judges_on_highway_env(tmp_path):
    import architectures

    record = architectures.one_run("attention", 0, 512, 1, str(ROOT / "configs"), None, None, task="highway_ppo")
    assert record["config"] == "configs/fast_highway_ppo_attention.yaml" and record["episodes"] == 1
    # highway-fast-v0 lasts 30 policy steps; success there means not crashed
    row = record["per_episode"][0]
    assert row["success"] == float(not row["crashed"]) and row["length"] <= 30


def test_architectures_ci_is_student_t_and_one_seed_has_none():
    import architectures
    from scipy import stats as sps

    x = [4.13, 4.16, 4.20]
    m = architectures.mean_ci(x)
    assert m["ci95"] == pytest.approx(sps.t.interval(0.95, 2, loc=sum(x) / 3, scale=sps.sem(x)))
    one = architectures.mean_ci([0.5])
    assert one == {"mean": 0.5, "ci95": None, "n": 1} and not architectures.separated(one, m)
    row = {"network": "mlp", "budget": 1, "seeds": [0], "episodes_per_seed": 5, "success_rate": one, "return": one,
           "crash_rate": one, "train_wall_s": one}
    assert "| 0.50 (n=1, no CI) |" in architectures.markdown({"mlp/budget1": row})


def test_time_to_quality_pipeline(tmp_path):
    import time_to_quality

    out = tmp_path / "ttq.json"
    code = time_to_quality.main(["--every", "512", "--episodes", "1", "--fh-episodes", "8", "--margin", "100",
                                 "--out", str(out), "train.total_timesteps=1024", "env.n_envs=8", "algo.n_steps=64",
                                 "algo.batch_size=128", "algo.n_epochs=1", "network.net_arch=[16,16]",
                                 "train.eval_freq=0"])
    assert code == 0
    result = json.loads(out.read_text())
    snaps = result["snapshots"]
    assert [s["timesteps"] for s in snaps] == [512, 1024]
    assert all(s["train_wall_s"] >= 0 for s in snaps)  # recorded (timing claims live in benchmarks/, not tests)
    assert snaps[1]["highway_fast_v0"]["return"]["n"] == 1
    split = result["training"]["time_split_s"]
    assert split["simulator"] > 0 and split["ppo_updates"] > 0 and all(v >= 0 for v in split.values())


@pytest.mark.parametrize("bad", [["--every", "0"], ["train.total_timesteps=-5"], ["algo.gama=0.9"]])
def test_time_to_quality_rejects_bad_input(bad, tmp_path, capsys):
    import time_to_quality

    with pytest.raises(SystemExit) as exc:
        time_to_quality.main([*bad, "--out", str(tmp_path / "x.json")])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def _report(crash: list[float], stalled: list[float]) -> dict:
    from agents.evaluation.episodes import aggregate, summary

    rows = [{"crashed": c, "stalled": s, "progress": 0.5, "success": None} for c, s in zip(crash, stalled)]
    scenarios = [{"name": n, "split": split, "status": "ok", "metrics": aggregate(rows), "per_episode": rows}
                 for n, split in (("road", "seen"), ("dense", "unseen"))]
    return {"scenarios": scenarios, "summary": summary(scenarios)}


def test_metric_parity_flags_metrics_whose_cis_do_not_overlap():
    from benchmarks.metric_parity import compare, overlap

    assert overlap([0, 1], [1, 2]) and not overlap([0, 1], [1.1, 2]) and overlap(None, [0, 1]) is None
    same = _report([0, 1, 0, 1], [0, 0, 0, 0])
    apart = _report([1, 1, 1, 1], [0, 0, 0, 0])  # crash rate [1, 1] vs [0, 1]: they touch at 1
    far = _report([0, 0, 0, 0], [0, 0, 0, 0])
    rows = {(r["scenario"], r["metric"]): r for r in compare(apart, far)}
    assert rows[("road", "crash_rate")]["overlap"] is False and rows[("road", "progress")]["overlap"] is True
    assert all(r["overlap"] for r in compare(same, apart) if r["metric"] == "crash_rate")


def test_generalization_table_puts_agents_side_by_side_and_marks_stalls():
    from benchmarks.generalization_table import headline_table

    text = headline_table([("a", _report([0, 1], [0, 0])), ("b", _report([0, 0], [1, 0]))])
    lines = text.splitlines()
    assert lines[0].startswith("| scenario | split | a: crash rate | a: success | a: progress | a: stalled | b: crash")
    road = next(line for line in lines if line.startswith("| road |"))
    assert road.count("STALLED") == 1 and road.index("0.5 [0, 1]") < road.index("STALLED")
    assert any(line.startswith("| **gap** (seen - unseen)") for line in lines)


def subprocess_lines(*command: str) -> list[str]:
    import subprocess
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout.splitlines()


def test_mixed_batch_speed_runs_at_toy_size(tmp_path, monkeypatch):
    import mixed_batch_speed

    out = tmp_path / "speed.json"
    in_git = (ROOT / ".git").exists()  # the baseline is a git revision, timed from a worktree
    monkeypatch.setattr(sys, "argv", ["mixed_batch_speed.py", "--num-envs", "16", "--seconds", "0.2", "--repeats", "1",
                                      "--baseline", "HEAD" if in_git else "", "--out", str(out)])
    mixed_batch_speed.main()
    data = json.loads(out.read_text())
    run = data["runs"][0]
    assert run["family"] > 0 and run["family_vs_highway_env"] == pytest.approx(run["family"] / run["highway_env"])
    if in_git:
        assert run["uniform_vs_baseline"] == pytest.approx(run["uniform"] / run["uniform_baseline"])
    # highway-env steps the family's own draws: highway-fast-v0, and WorkZone-v1 for the work zones
    assert set(data["highway_env_scenarios"]) == {"highway-fast-v0", "laneforge/WorkZone-v1"}
    assert sum(data["highway_env_scenarios"].values()) == 16
    if in_git:
        assert not any("baseline" in line for line in subprocess_lines("git", "worktree", "list"))  # removed again


def test_factor_parity_saves_each_unit_and_a_rerun_does_only_what_is_missing(tmp_path, monkeypatch):
    import factor_parity

    out = tmp_path / "factor_parity.json"
    args = ["--factors", "lanes_2", "--scenes", "2", "--hw-episodes", "3", "--fh-episodes", "8", "--out", str(out)]
    assert factor_parity.main(args) == 0
    first = json.loads(out.read_text())
    units = first["units"]
    assert list(units) == ["lanes_2/step", "lanes_2/statistical/random", "lanes_2/statistical/idle"]
    assert {"command", "date_utc", "cpu_count", "git"} <= set(first["invocations"][0])
    step = units["lanes_2/step"]
    assert step["settings"]["override"] == {"lanes_count": 2} and len(step["load_average_at_start"]) == 3
    report = step["result"]
    assert report["scenes"] == 2 and report["horizon_policy_steps"] is None  # whole episodes
    assert 1 <= report["policy_steps_per_scene_mean"] <= 30 and len(report["per_scene_speed_error_mps"]) == 2
    idle = units["lanes_2/statistical/idle"]["result"]
    assert idle["highway_env"]["return"]["n"] == 3 and idle["fast_highway"]["return"]["n"] == 8
    assert set(idle["cis_overlap"]) == set(idle["highway_env"])

    # as if the run had stopped before its last unit: only that one is computed again
    del units["lanes_2/statistical/idle"]
    out.write_text(json.dumps(first))
    calls = []

    def recomputed(*a, **kw):
        raise AssertionError("a finished unit was computed again")

    def fake_statistical(policy, *a, **kw):
        calls.append(policy)
        return idle

    monkeypatch.setattr(factor_parity, "step_parity", recomputed)
    monkeypatch.setattr(factor_parity, "statistical_parity", fake_statistical)
    assert factor_parity.main(args) == 0
    again = json.loads(out.read_text())
    assert calls == ["idle"] and len(again["invocations"]) == 2
    assert {k: v for k, v in again["units"].items() if k != "lanes_2/statistical/idle"} == units
    assert again["units"]["lanes_2/statistical/idle"]["invocation"] == 1

    # other settings for a finished unit: refused before anything runs or is written
    before = out.read_text()
    assert factor_parity.main([*args, "--scenes", "3"]) == 2
    assert out.read_text() == before


@pytest.mark.slow  # whole train.py and evaluate.py subprocesses: about 30 s on 2 cores
def test_generalization_trains_judges_and_a_rerun_does_only_what_is_missing(tmp_path, capsys):
    """benchmarks/generalization.py at toy size: train.py's experiment trains the condition,
    each point is judged on FastHighway (held-out family draws by hazard, and the run's own N
    training scenarios), the final model on highway-env through evaluate.py; run again, nothing
    is trained or judged twice; --markdown makes the tables and the plot from the JSON alone."""
    import generalization

    suite = tmp_path / "suite.yaml"
    suite.write_text("name: tiny\nscenarios:\n  - {name: highway_fast, env_id: highway-fast-v0, split: seen}\n")
    out, plot = tmp_path / "g.json", tmp_path / "g.png"
    argv = ["--conditions", "mlp_n10", "--seeds", "0", "--steps", "256", "--points", "128,256", "--twin-episodes", "24",
            "--hw-episodes", "1", "--workers", "1", "--suite", str(suite), "--runs-dir", str(tmp_path / "runs"),
            "--out", str(out), "--plot", str(plot), "--set", "env.n_envs=8", "--set", "algo.n_steps=16",
            "--set", "algo.batch_size=64", "--set", "algo.n_epochs=1", "--set", "train.checkpoint_freq=128"]
    assert generalization.main(argv) == 0
    data = json.loads(out.read_text())
    assert sorted(data["twin"]) == ["mlp_n10/s0/128", "mlp_n10/s0/256"]
    point = data["twin"]["mlp_n10/s0/256"]
    assert point["checkpoint_steps"] == 256 and point["episodes"] == 24
    hazards = point["heldout_by_hazard"]
    assert sum(h["episodes"] for h in hazards.values()) == 24 and set(hazards) <= {"None", "work_zone", "emergency_braking"}
    for h in hazards.values():
        assert 0 <= h["crash_rate"]["mean"] <= 1
    # the seen side replays the run's own 10 scenarios: config.yaml keeps the family it trained on
    run = next((tmp_path / "runs" / "mlp_n10").glob("*__s0"))
    assert "scenarios: 10" in (run / "config.yaml").read_text()
    hw = data["highway_env"]["mlp_n10/s0"]
    assert hw["episodes"] == 1 and set(hw["scenarios"]) == {"highway_fast"} and hw["checkpoint_steps"] == 256
    before = out.read_text()
    capsys.readouterr()
    assert generalization.main(argv) == 0
    printed = capsys.readouterr().out
    assert "[twin]" not in printed and "[evaluate]" not in printed  # judged already
    again = json.loads(out.read_text())
    assert again["twin"] == data["twin"] and again["highway_env"] == data["highway_env"]
    assert len(again["invocations"]) == 2 and before != out.read_text()
    # --judge-only trains nothing (safe beside a run still training) and judges new points only
    capsys.readouterr()
    assert generalization.main([*argv, "--judge-only", "--points", "128,250,256"]) == 0
    printed = capsys.readouterr().out
    assert "[train]" not in printed and "[twin] mlp_n10/s0/250" in printed
    assert json.loads(out.read_text())["twin"]["mlp_n10/s0/250"]["checkpoint_steps"] == 256  # the nearest kept
    plot.unlink()
    assert generalization.main(["--markdown", "--out", str(out), "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "| mlp_n10 | 256 |" in table and "| highway_fast | inside |" in table and plot.stat().st_size > 0


def test_generalization_refuses_bad_arguments(capsys):
    import generalization

    with pytest.raises(SystemExit) as exc:
        generalization.main(["--conditions", "mlp_n7"])
    assert exc.value.code == 2 and "unknown mlp_n7" in capsys.readouterr().err



@pytest.mark.parametrize("text", ["{not json", '{"benchmark": "architectures"}', "[1, 2]"])
def test_generalization_refuses_a_foreign_results_file_and_leaves_it(tmp_path, capsys, text):
    import generalization

    out = tmp_path / "g.json"
    out.write_text(text)
    with pytest.raises(SystemExit) as exc:
        generalization.main(["--judge-only", "--out", str(out), "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and str(out) in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == text


@pytest.mark.slow  # a whole train.py subprocess
def test_learner_throughput_runs_at_toy_size(tmp_path, capsys):
    import learner_throughput

    out = tmp_path / "lt.json"
    assert learner_throughput.main(["--steps", "512", "--repeats", "1", "--configs", "generalist_ppo_mlp",
                                    "--set", "env.n_envs=8", "--set", "algo.n_steps=32", "--set", "algo.batch_size=64",
                                    "--set", "algo.n_epochs=1", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    assert run["steps"] == 512 and run["steps_per_s"] == pytest.approx(512 / run["wall_s"])
    row = result["summary"]["generalist_ppo_mlp"]
    assert row["minutes_per_1e7"] == pytest.approx(1e7 / run["steps_per_s"] / 60)
    assert "| generalist_ppo_mlp |" in capsys.readouterr().out


def test_mixed_batch_speed_times_a_baseline_directory_as_it_is(tmp_path, monkeypatch):
    import mixed_batch_speed

    out = tmp_path / "speed.json"  # a directory holding the baseline's code: no worktree is made
    monkeypatch.setattr(sys, "argv", ["mixed_batch_speed.py", "--num-envs", "8", "--seconds", "0.2", "--repeats", "1",
                                      "--baseline", str(ROOT), "--out", str(out)])
    mixed_batch_speed.main()
    run = json.loads(out.read_text())["runs"][0]
    assert run["uniform_vs_baseline"] == pytest.approx(run["uniform"] / run["uniform_baseline"])


def test_generalization_tables_aggregate_seeds_and_points_from_the_json(tmp_path, capsys):
    """The aggregation behind the scaling table and plot (the default run's share of the slow
    end-to-end test): across seeds a Student-t CI, one seed its episode CIs and the normal CI of
    the crash-rate gap, per hazard success, and --markdown writes the plot from the JSON alone."""
    import generalization
    from agents.analysis.stats import t_ci

    def entry(condition, seed, point, crash, seen_crash, wz):
        stat = lambda m: {"mean": m, "ci95": [m - 0.01, m + 0.01]}  # noqa: E731
        return {"condition": condition, "seed": seed, "point": point, "checkpoint_steps": point, "episodes": 1000,
                "heldout": {"crash_rate": stat(crash), "progress": stat(0.5), "return_per_step": stat(0.7)},
                "seen": {"crash_rate": stat(seen_crash), "return_per_step": stat(0.75)},
                "heldout_by_hazard": {"work_zone": {"episodes": 200, "success_rate": stat(wz)}}}

    twin = {f"mlp_fixed/s{s}/1000000": entry("mlp_fixed", s, 1_000_000, c, 0.03, 0.2)
            for s, c in ((0, 0.50), (1, 0.54))}
    twin["mlp_family/s0/1000000"] = entry("mlp_family", 0, 1_000_000, 0.30, 0.28, 0.55)
    twin["mlp_family/s0/3000000"] = entry("mlp_family", 0, 3_000_000, 0.25, 0.24, 0.60)
    data = {"benchmark": "generalization", "invocations": [], "runs": {}, "twin": twin, "highway_env": {}}
    fixed = generalization.curve(data, "mlp_fixed", 1_000_000)
    assert fixed["seeds"] == [0, 1] and fixed["crash_rate"]["mean"] == pytest.approx(0.52)
    assert fixed["crash_rate"]["ci95"] == pytest.approx(list(t_ci([0.50, 0.54])))
    family = generalization.curve(data, "mlp_family", 1_000_000)
    assert family["crash_rate"]["ci95"] == [0.29, 0.31]  # one seed: its episodes' CI
    half = 1.96 * np.sqrt(0.30 * 0.70 / 1000 + 0.28 * 0.72 / 1000)
    assert family["gap_crash_rate"]["ci95"] == pytest.approx([0.02 - half, 0.02 + half])
    assert family["work_zone_success"]["mean"] == 0.55
    out, plot = tmp_path / "g.json", tmp_path / "g.png"
    out.write_text(json.dumps(data))
    assert generalization.main(["--markdown", "--out", str(out), "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "| mlp_fixed | 1M | 2 | 0.520 [" in table and "| mlp_family | 3M | 1 | 0.250 [0.240, 0.260]" in table
    assert plot.stat().st_size > 0
    assert "on highway-env, mean over seeds" not in table  # no highway-env judging yet

    # highway-env judging of the final models: per scenario the mean over seeds, with a t CI
    def hw(crash, ret):
        stat = lambda m: {"mean": m, "ci95": [m - 0.01, m + 0.01]}  # noqa: E731
        return {"episodes": 50, "checkpoint_steps": 3_000_000,
                "scenarios": {"highway_fast": {"split": "seen", "crash_rate": stat(crash), "return": stat(ret)},
                              "merge": {"split": "unseen", "crash_rate": stat(0.3)}}}

    data["highway_env"] = {"mlp_family/s0": hw(0.02, 25.0), "mlp_family/s2": hw(0.06, 24.0), "mlp_fixed/s0": hw(0.1, 20.0)}
    # an entry written before "return" was kept: --markdown reads it from the run's report
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"scenarios": [
        {"name": n, "split": e["split"], "status": "ok", "metrics": {m: e[m] for m in ("crash_rate", "return") if m in e}}
        for n, e in data["highway_env"]["mlp_family/s2"]["scenarios"].items()]}))
    for e in data["highway_env"]["mlp_family/s2"]["scenarios"].values():
        e.pop("return", None)
    data["highway_env"]["mlp_family/s2"]["report"] = str(report)
    out.write_text(json.dumps(data))
    data = generalization.load_results(out)
    seeds, rows = generalization.highway_env_across_seeds(data, "mlp_family")
    assert seeds == [0, 2] and rows["highway_fast"]["return"]["mean"] == pytest.approx(24.5)
    assert rows["highway_fast"]["return"]["ci95"] == pytest.approx(list(t_ci([25.0, 24.0])))
    assert rows["merge"]["split"] == "unseen" and "return" not in rows["merge"]
    assert generalization.highway_env_across_seeds(data, "mlp_fixed")[1]["highway_fast"]["return"]["ci95"] == [19.99, 20.01]
    out.write_text(json.dumps(data))
    assert generalization.main(["--markdown", "--out", str(out), "--plot", str(plot)]) == 0
    table = capsys.readouterr().out
    assert "mlp_family on highway-env, mean over seeds 0, 2" in table and "mlp_fixed on highway-env" not in table
    assert "| highway_fast | inside | 0.04 [" in table and "| 24.5 [" in table
