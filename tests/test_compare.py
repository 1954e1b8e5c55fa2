"""compare.py: grouping, curves, IQM and stratified-bootstrap CIs on made-up run folders (issue 7)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.analysis.compare import compare
from agents.analysis.stats import pooled_iqm, strata_mean
from tests.test_stats import scipy_gap, scipy_percentile
from tests.conftest import run_cli


def make_run(root: Path, name: str, seed: int, steps, values, network: str = "mlp", lr: float = 5e-4,
             walls=None, metric: str = "eval/return", reports: dict | None = None) -> Path:
    """A fake run folder: config.yaml and metrics.csv with interleaved rollout rows (no metric)."""
    run = make_config(root, name, seed, network, lr)
    walls = [s / 100 for s in steps] if walls is None else walls
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timesteps", "wall_s", "rollout/ep_rew_mean", metric])
        for s, v, t in zip(steps, values, walls):
            w.writerow([s - 10, t - 0.1, 1.0, ""])  # a rollout row without the metric
            w.writerow([s, t, "", v])
            w.writerow([s, "", "", ""])  # SB3 dumps twice at an eval step; the second row is empty
    write_reports(run, reports or {})
    return run


def make_config(root: Path, name: str, seed: int, network: str = "mlp", lr: float = 5e-4, **train) -> Path:
    run = root / name
    run.mkdir(parents=True)
    config = {"env": {"id": "highway-fast-v0", "n_envs": 1}, "algo": {"name": "ppo", "learning_rate": lr},
              "network": {"type": network}, "logging": {"experiment": "fake", "wandb": "disabled"},
              "train": {"seed": seed, "total_timesteps": 300, "progress_bar": False, **train}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return run


def write_reports(run: Path, reports: dict) -> None:
    for suite, scenarios in reports.items():
        (run / "eval" / suite).mkdir(parents=True)
        (run / "eval" / suite / "report.json").write_text(json.dumps({"suite": suite, "scenarios": [
            {"name": n, "split": split, "status": "ok", "metrics": {"progress": {"mean": rps}}}
            for n, split, rps in scenarios]}))


@pytest.fixture
def experiment(tmp_path) -> Path:
    exp = tmp_path / "runs" / "fake"
    for seed, vals in enumerate([[1, 2, 3], [2, 3, 4], [3, 4, 5]]):  # mlp: 3 seeds
        make_run(exp, f"mlp_s{seed}", seed, [100, 200, 300], vals)
    # attention: 4 seeds, final values 1, 2, 3, 10 -> mean 4, IQM mean(2, 3) = 2.5
    for seed, last in enumerate([1, 2, 3, 10]):
        make_run(exp, f"att_s{seed}", seed, [100, 200, 300], [0, 0, last], network="attention")
    (exp / "logs").mkdir()  # not a run: skipped
    return exp


def group(summary: dict, label: str) -> dict:
    return next(g for g in summary["groups"] if g["label"] == label)


def test_groups_means_and_cis(experiment, tmp_path):
    summary = compare([experiment], "eval/return", tmp_path / "out")
    assert [g["label"] for g in summary["groups"]] == ["network.type=attention", "network.type=mlp"]
    mlp, att = group(summary, "network.type=mlp"), group(summary, "network.type=attention")
    assert mlp["seeds"] == [0, 1, 2] and att["seeds"] == [0, 1, 2, 3]
    # Curves vs steps: mean over seeds [2, 3, 4], half-width t(0.975, 2) * 1 / sqrt(3), t = 4.303
    # from a printed table.
    c = mlp["curve_steps"]
    half = 4.303 / 3 ** 0.5
    assert c["x"] == [100, 200, 300] and c["mean"] == pytest.approx([2, 3, 4])
    assert c["lo"] == pytest.approx([2 - half, 3 - half, 4 - half], abs=1e-3)
    assert c["hi"] == pytest.approx([2 + half, 3 + half, 4 + half], abs=1e-3)
    # Curves vs wall time (wall = steps / 100): an even grid from 1 s to 3 s.
    w = mlp["curve_wall"]
    assert w["x"][0] == pytest.approx(1.0) and w["x"][-1] == pytest.approx(3.0) and len(w["x"]) == 100
    assert w["mean"][0] == pytest.approx(2) and w["mean"][-1] == pytest.approx(4)
    assert w["mean"][50] == pytest.approx(2 + (w["x"][50] - 1))  # linear in between
    # Final performance: the CIs are scipy's percentile bootstrap over the finals 1, 2, 3, 10.
    assert mlp["final"]["mean"] == pytest.approx(4) and mlp["final"]["iqm"] == pytest.approx(4)
    assert att["final"]["mean"] == pytest.approx(4) and att["final"]["iqm"] == pytest.approx(2.5)
    finals = [[1.0, 2.0, 3.0, 10.0]]
    assert [att["final"]["iqm_lo"], att["final"]["iqm_hi"]] == pytest.approx(scipy_percentile(finals, pooled_iqm))
    assert [att["final"]["mean_lo"], att["final"]["mean_hi"]] == pytest.approx(scipy_percentile(finals))
    final_md = (tmp_path / "out" / "final.md").read_text()
    assert "| network.type=attention | 4 | 0 1 2 3 | 300 | 4 |" in final_md
    rows = list(csv.DictReader(open(tmp_path / "out" / "final.csv")))
    assert {r["group"]: float(r["iqm"]) for r in rows} == {"network.type=attention": 2.5, "network.type=mlp": 4.0}


def test_interpolation_onto_a_common_grid(tmp_path):
    """Runs logged at different steps: interpolated on the union of steps inside the common range."""
    make_run(tmp_path, "a", 0, [100, 300], [0.0, 2.0])
    make_run(tmp_path, "b", 1, [100, 200, 300, 400], [1.0, 1.0, 1.0, 9.0])
    summary = compare([tmp_path / "a", tmp_path / "b"], "eval/return", tmp_path / "out")
    (g,) = summary["groups"]
    assert g["curve_steps"]["x"] == [100, 200, 300]  # 400: only run b got there
    assert g["curve_steps"]["mean"] == pytest.approx([0.5, 1.0, 1.5])
    assert g["final"]["mean"] == pytest.approx(5.5)  # each run's own last value: 2 and 9
    assert g["final"]["final_steps"] == "300-400"


def test_generalization_table(tmp_path):
    reports = [{"gen": [("train_env", "seen", 0.9), ("dense", "unseen", 0.5), ("merge", "unseen", 0.2)]},
               {"gen": [("train_env", "seen", 0.8), ("dense", "unseen", 0.3), ("merge", "unseen", 0.4)]}]
    for seed, rep in enumerate(reports):
        make_run(tmp_path / "exp", f"r{seed}", seed, [100, 200], [1, 2], reports=rep)
    summary = compare([tmp_path / "exp"], "eval/return", tmp_path / "out")
    rows = {(r["scenario"], r.get("metric", "")): r for r in summary["generalization"]}
    assert rows[("train_env", "")]["progress"] == pytest.approx(0.85)
    assert rows[("dense", "")]["progress"] == pytest.approx(0.4)
    assert rows[("seen (all)", "progress")]["mean"] == pytest.approx(0.85)
    assert rows[("unseen (all)", "progress")]["mean"] == pytest.approx((0.4 + 0.3) / 2)
    gap = rows[("gap (seen - unseen)", "progress")]
    assert gap["mean"] == pytest.approx(0.85 - 0.35)
    # CIs: scipy's bootstrap resampling the runs within each scenario, seen with seed 0 and unseen
    # with seed 1; the gap's is the percentile interval of the two bootstrap distributions' difference.
    seen, unseen = [[0.9, 0.8]], [[0.5, 0.3], [0.2, 0.4]]
    assert rows[("seen (all)", "progress")]["mean_ci95"] == pytest.approx(
        scipy_percentile(seen, strata_mean, seed=0))
    assert rows[("unseen (all)", "progress")]["mean_ci95"] == pytest.approx(
        scipy_percentile(unseen, strata_mean, seed=1))
    assert gap["mean_ci95"] == pytest.approx(scipy_gap(seen, unseen))
    assert "gap (seen - unseen)" in (tmp_path / "out" / "generalization.md").read_text()
    assert "Generalization" in (tmp_path / "out" / "report.html").read_text()


def test_cli_writes_png_and_self_contained_html(experiment, tmp_path):
    out = tmp_path / "report"
    proc = run_cli("compare.py", str(experiment), "--out", str(out), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "network.type=attention" in proc.stdout
    for name in ("curves_steps.png", "curves_wall.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "network.type=mlp" in page and "IQM" in page
    # Default output folder: PATH/compare for one experiment folder.
    proc = run_cli("compare.py", str(experiment), timeout=120)
    assert proc.returncode == 0 and (experiment / "compare" / "report.html").is_file()


def test_bad_input_exits_2(tmp_path, capsys):
    from agents.cli import run_cli as run_main
    from compare import main

    empty = tmp_path / "empty"
    empty.mkdir()
    make_run(tmp_path / "exp", "a", 0, [100], [1.0])
    make_run(tmp_path / "exp", "b", 1, [100], [1.0], metric="rollout/other")
    cases = [([""], "empty path"), ([str(tmp_path / "missing")], "no such file or folder"),
             ([str(empty)], "no run folders"),
             ([str(tmp_path / "exp")], "incompatible metrics"),
             ([str(tmp_path / "exp" / "a"), "--metric", "eval/nope"], "no values of 'eval/nope'")]
    for argv, expected in cases:
        with pytest.raises(SystemExit) as exc:
            run_main(main, [*argv, "--out", str(tmp_path / "out")])
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert exc.value.code == 2 and len(lines) == 1 and expected in lines[0], (argv, lines)
    proc = run_cli("compare.py", str(tmp_path / "missing"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "no such file" in proc.stderr


# ------------------------------------------------------------------ what the numbers cannot carry (issue 13)

LONG_SCENARIOS = [("highway_fast_train_env", "seen", 0.9), ("dense_traffic_four_lanes_aggressive", "unseen", 0.5),
                  ("merge_with_aggressive_drivers_at_dusk", "unseen", 0.2), ("roundabout_heavy_traffic", "unseen", 0.4)]


def test_one_run_shows_n1_instead_of_a_ci(tmp_path):
    make_run(tmp_path / "exp", "solo", 0, [100, 200, 300], [1, 2, 3], network="attention",
             reports={"gen": LONG_SCENARIOS[:2]})
    for seed in (0, 1):
        make_run(tmp_path / "exp", f"mlp_s{seed}", seed, [100, 200, 300], [1, 2, 3 + seed])
    out = tmp_path / "out"
    summary = compare([tmp_path / "exp"], "eval/return", out)
    solo, pair = group(summary, "network.type=attention"), group(summary, "network.type=mlp")
    assert solo["n"] == 1 and pair["n"] == 2
    assert [solo["final"][k] for k in ("mean_lo", "mean_hi", "iqm_lo", "iqm_hi")] == [None] * 4
    assert solo["curve_steps"]["lo"] is None and solo["curve_wall"]["hi"] is None
    assert pair["final"]["mean_lo"] < pair["final"]["mean_hi"] and pair["curve_steps"]["lo"] is not None
    assert all(r.get("progress_ci95", r.get("mean_ci95")) is None for r in summary["generalization"])
    text = (out / "groups.json").read_text()
    assert group(json.loads(text), "network.type=attention")["final"]["mean_lo"] is None and "NaN" not in text
    assert "| network.type=attention | 1 | 0 | 300 | 3 | n=1 | 3 | n=1 |" in (out / "final.md").read_text()
    rows = {r["group"]: r for r in csv.DictReader(open(out / "final.csv"))}
    assert rows["network.type=attention"]["mean_lo"] == "" and rows["network.type=mlp"]["mean_lo"] != ""
    page = (out / "report.html").read_text()
    assert "<td>n=1</td>" in page and "[3, 3]" not in page
    assert "0.9 n=1" in (out / "generalization.md").read_text()


def test_one_run_draws_no_band(tmp_path, monkeypatch):
    from matplotlib.axes import Axes

    from agents.analysis.compare import curve, plot_curves
    from agents.analysis.run_groups import Group, Run

    bands = []
    monkeypatch.setattr(Axes, "fill_between", lambda self, *a, **k: bands.append(a))
    steps = np.array([1.0, 2.0])
    runs = [Run(Path(f"r{s}"), {}, s, steps, steps + s, steps) for s in range(3)]
    groups = [Group("one", runs[:1], "one"), Group("two", runs[1:], "two")]
    curves = {"steps": [curve(g, "steps") for g in groups]}
    plot_curves(groups, curves, "steps", "eval/return", tmp_path / "c.png")
    assert len(bands) == 1  # the two-run group only


def test_duplicate_seeds_are_named(tmp_path):
    for name, seed in (("a", 0), ("a_again", 0), ("b", 1), ("b_again", 1), ("c", 2)):
        make_run(tmp_path / "exp", name, seed, [100, 200, 300], [1, 2, 3])
    make_run(tmp_path / "exp", "other", 0, [100, 200, 300], [1, 2, 3], network="attention")
    err = io.StringIO()
    summary = compare([tmp_path / "exp"], "eval/return", tmp_path / "out", stderr=err)
    lines = [ln for ln in err.getvalue().splitlines() if "seed" in ln]
    assert len(lines) == 2 and summary["warnings"][:2] == [ln.removeprefix("warning: ") for ln in lines]
    for line, seed, names in zip(lines, (0, 1), (("a", "a_again"), ("b", "b_again"))):
        assert "'network.type=mlp'" in line and f"seed {seed} in 2 runs" in line and "not independent" in line
        assert all(str((tmp_path / "exp" / n).resolve()) in line for n in names)
    assert "attention" not in err.getvalue()  # one run of seed 0 there: nothing to say


def write_metrics(run: Path, columns: dict[str, int], total: int = 1000) -> None:
    """metrics.csv where each column has the given number of points, evenly spread over ``total`` steps."""
    steps = sorted({round(total * (i + 1) / n) for n in columns.values() for i in range(n)})
    with open(run / "metrics.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timesteps", "wall_s", *columns])
        for s in steps:
            w.writerow([s, s / 100, *(s / 7 if s in {round(total * (i + 1) / n) for i in range(n)} else ""
                                       for n in columns.values())])


@pytest.mark.parametrize(("columns", "expected"), [
    ({"eval/return": 5, "rollout/ep_rew_mean": 20, "rollout/ep_len_mean": 30, "train/loss": 40},
     "eval/return has 5 points per run (train.eval_freq=200000); for a denser curve use --metric "
     "rollout/ep_rew_mean (20 points)"),
    ({"eval/return": 5, "rollout/ep_len_mean": 30, "eval/crash_rate": 5, "train/loss": 40},
     "--metric rollout/ep_len_mean (30 points)"),
    ({"eval/return": 5, "train/loss": 40}, "eval/return has 5 points per run (train.eval_freq=200000); its curves"),
    ({"eval/return": 10, "rollout/ep_rew_mean": 20}, None),
])
def test_sparse_metric_suggests_a_denser_one(tmp_path, columns, expected):
    for seed in (0, 1):
        write_metrics(make_config(tmp_path / "exp", f"r{seed}", seed, eval_freq=200000), columns)
    warnings = compare([tmp_path / "exp"], "eval/return", tmp_path / "out")["warnings"]
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and expected in warnings[0], warnings


def _gen_summary(tmp_path: Path) -> dict:
    for seed in (0, 1):
        make_run(tmp_path / "exp", f"r{seed}", seed, [100, 200], [1, 2], lr=5e-4 * (1 + seed),
                 reports={"generalization_suite": LONG_SCENARIOS})
    return compare([tmp_path / "exp"], "eval/return", tmp_path / "out")


def _render(renderable, width: int = 80) -> list[str]:
    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


def test_terminal_tables_fit_80_columns_without_breaking_words(tmp_path):
    from rich.console import Console

    from agents.analysis.compare import GEN_DROP, GEN_HEAD, final_table_rows, gen_table_rows, print_tables, terminal_table

    summary = _gen_summary(tmp_path)
    console = Console(width=80, record=True, file=io.StringIO())
    print_tables(summary, console, tmp_path / "out")
    lines = console.export_text().splitlines()
    assert max(len(ln) for ln in lines) <= 80
    for name, _, _ in LONG_SCENARIOS:
        assert any(name in ln for ln in lines), name
    assert "left out at this width: crash, success" in " ".join(lines)  # named, not squeezed in
    # Each table as print_tables builds it: every word of every column kept is whole on a line.
    gen = [row[2:] for row in gen_table_rows(summary["generalization"])[1]]
    for head, body, kw in ((*final_table_rows([g["final"] for g in summary["groups"]]), {}),
                           (GEN_HEAD, gen, {"whole": frozenset({"scenario"}), "drop": GEN_DROP})):
        table, dropped = terminal_table("t", head, body, 80, **kw)
        text = "\n".join(_render(table))
        kept = [i for i, h in enumerate(head) if h not in dropped]
        broken = {w for row in body for i in kept for w in row[i].split() if w not in text}
        assert not broken and max(map(len, text.splitlines())) <= 80, (broken, text)
    assert terminal_table("t", GEN_HEAD, gen, 200, whole=frozenset({"scenario"}), drop=GEN_DROP)[1] == []


def test_cli_at_80_columns_keeps_scenario_names_whole(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT, cli_env

    _gen_summary(tmp_path)
    proc = subprocess.run([sys.executable, "compare.py", str(tmp_path / "exp"), "--out", str(tmp_path / "cli")],
                          cwd=ROOT, env={**cli_env(), "COLUMNS": "80"}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(ln) for ln in lines if "report:" not in ln) <= 80 and "report: " in proc.stdout
    for name, _, _ in LONG_SCENARIOS:
        assert any(name in ln for ln in lines), (name, proc.stdout)
