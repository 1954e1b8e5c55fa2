"""Compare runs: learning curves over seeds, final performance with IQM, generalization.

Runs (run folders, or folders holding them such as ``runs/<EXP>/``) are grouped by their
``config.yaml`` minus ``train.seed`` and the keys that are not part of a run's identity
(:mod:`agents.config.identity`: budget, device, progress, time limits, logging), so a group is
one configuration over several seeds. For each group:

- learning curves of a ``metrics.csv`` column (default ``eval/return``, the periodic
  deterministic evaluation) against env steps and against wall time: each run's curve is
  interpolated linearly onto a common grid covering the range every run of the group
  reached (no extrapolation), then the mean and a 95% Student-t CI over seeds per point;
- final performance (each run's last logged value of the metric): mean and IQM with 95%
  stratified percentile-bootstrap CIs (Agarwal et al. 2021, "Deep RL at the Edge of the
  Statistical Precipice");
- where runs hold ``eval/<suite>/report.json``: a seen/unseen generalization table.

What the numbers cannot carry is said, not hidden: a group of one run gets ``n=1`` instead of
a CI (``None`` in ``groups.json``, no band), repeated seeds within a group and a metric with
fewer than ``MIN_POINTS`` points per run are warned about on stderr (with a denser column to
use). Terminal tables are fitted to the terminal's width without breaking a word.

The statistics (Student-t CI, IQM, the stratified percentile bootstrap) come from
:mod:`agents.analysis.stats`, the one module that report.json's intervals use too: IQM = mean of the
middle 50% of all run x task scores (``scipy.stats.trim_mean(x, 0.25)``); the bootstrap
resamples runs with replacement independently within each task, and the CI is the 2.5% and
97.5% percentiles of the resampled statistic (Agarwal et al. 2021, as rliable does, without
rliable's arch and seaborn dependencies).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from agents.analysis.run_groups import (
    Group,
    duplicate_seed_warnings,
    find_runs,
    group_runs,
    read_compare_run,
    span,
    sparse_metric_warning,
)
from agents.analysis.tables import html_table, markdown_table, terminal_table, write_csv
from agents.errors import UserError
from agents.fileio import atomic_write_text
from agents.analysis.stats import (N_RESAMPLES, Statistic, difference_ci, estimate, pooled_iqm, pooled_mean, strata_mean,
                          stratified_ci, t_ci)

GRID_POINTS = 100


# ------------------------------------------------------------------ curves and tables


def common_grid(xs: list[np.ndarray], union: bool) -> np.ndarray:
    """Points inside the range every run covers: the union of the runs' own points (steps) or
    an even grid (wall time, where runs log at different moments)."""
    lo = max(float(x[0]) for x in xs)
    hi = min(float(x[-1]) for x in xs)
    if union:
        pts = np.unique(np.concatenate(xs))
        return pts[(pts >= lo) & (pts <= hi)]
    return np.linspace(lo, hi, GRID_POINTS) if hi > lo else np.array([lo])


def curve(group: Group, axis: str) -> dict[str, list[float]]:
    """Mean and 95% Student-t CI over seeds of the metric on a common grid (``steps`` or ``wall``);
    ``lo``/``hi`` are ``None`` for one run (no CI: null in groups.json, no band in the plot)."""
    runs = [r for r in group.runs if axis == "steps" or np.all(np.isfinite(r.walls))]
    if not runs:
        return {"x": [], "mean": [], "lo": [], "hi": [], "n": 0}
    xs = [r.steps if axis == "steps" else r.walls for r in runs]
    grid = common_grid(xs, union=axis == "steps")
    ys = np.stack([np.interp(grid, x, r.values) for x, r in zip(xs, runs)])
    ci = t_ci(ys, axis=0)
    return {"x": grid.tolist(), "mean": ys.mean(axis=0).tolist(), "lo": None if ci is None else ci[0].tolist(),
            "hi": None if ci is None else ci[1].tolist(), "n": len(runs)}


def _with_ci(strata: list[np.ndarray], stat: Statistic, seed: int) -> tuple[float, list[float] | None]:
    """``stat`` of the strata and its 95% stratified-bootstrap CI (``None``: one run, n=1)."""
    return estimate(strata, stat), stratified_ci(strata, stat, seed=seed)


def final_row(group: Group, metric: str, seed: int = 0) -> dict[str, Any]:
    """Final performance: one stratum (the training env), so the stratified bootstrap is the
    ordinary bootstrap over runs."""
    finals = [np.array([r.final for r in group.runs])]
    mean, mean_ci = _with_ci(finals, pooled_mean, seed)
    q, q_ci = _with_ci(finals, pooled_iqm, seed)
    steps = [int(r.steps[-1]) for r in group.runs]
    (m_lo, m_hi), (q_lo, q_hi) = mean_ci or (None, None), q_ci or (None, None)
    return {"group": group.label, "metric": metric, "runs": len(group.runs), "seeds": " ".join(map(str, group.seeds)),
            "final_steps": span(sorted(steps)),
            "mean": mean, "mean_lo": m_lo, "mean_hi": m_hi, "iqm": q, "iqm_lo": q_lo, "iqm_hi": q_hi}


GEN_METRICS = ("crash_rate", "success_rate", "progress", "stall_rate")  # the report's headline (episodes.HEADLINE)


def generalization_rows(group: Group, seed: int = 0) -> list[dict[str, Any]]:
    """Per suite: each scenario's mean over runs (bootstrap CI over runs), then each split's
    mean and IQM over its scenarios x runs and the gap seen - unseen, with CIs from a bootstrap
    that resamples runs within each scenario (the strata); the seen split is resampled with
    ``seed``, the unseen one with ``seed + 1``, the same draws as the gap's."""
    rows: list[dict[str, Any]] = []
    suites = sorted({s for r in group.runs for s in r.reports})
    for suite in suites:
        per: dict[tuple[str, str], dict[str, list[float]]] = {}
        for run in group.runs:
            for sc in (run.reports.get(suite) or {}).get("scenarios", []):
                if sc.get("status") != "ok":
                    continue
                cell = per.setdefault((sc["name"], sc.get("split", "seen")), {})
                for m in GEN_METRICS:
                    v = ((sc.get("metrics") or {}).get(m) or {}).get("mean")
                    if v is not None and np.isfinite(v):
                        cell.setdefault(m, []).append(float(v))
        for (name, split), cell in sorted(per.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            row = {"group": group.label, "suite": suite, "scenario": name, "split": split}
            for m in GEN_METRICS:
                if m in cell:
                    row[m], row[f"{m}_ci95"] = _with_ci([np.array(cell[m])], pooled_mean, seed)
                    row["runs"] = len(cell[m])
            rows.append(row)
        for m in GEN_METRICS:
            strata = {split: [np.array(c[m]) for (n, s), c in per.items() if s == split and m in c]
                      for split in ("seen", "unseen")}
            for i, split in enumerate(("seen", "unseen")):
                if strata[split]:
                    rows.append(_split_row(group, suite, split, m, strata[split], seed + i))
            if strata["seen"] and strata["unseen"]:
                rows.append(_gap_row(group, suite, m, strata["seen"], strata["unseen"], seed))
    return rows


def _split_row(group: Group, suite: str, split: str, m: str, strata: list[np.ndarray], seed: int) -> dict:
    mean, mean_ci = _with_ci(strata, strata_mean, seed)
    q, q_ci = _with_ci(strata, pooled_iqm, seed)
    return {"group": group.label, "suite": suite, "scenario": f"{split} (all)", "split": split, "metric": m,
            "scenarios": len(strata), "mean": mean, "mean_ci95": mean_ci, "iqm": q, "iqm_ci95": q_ci}


def _gap_row(group: Group, suite: str, m: str, seen: list[np.ndarray], unseen: list[np.ndarray], seed: int) -> dict:
    value = estimate(seen, strata_mean) - estimate(unseen, strata_mean)
    return {"group": group.label, "suite": suite, "scenario": "gap (seen - unseen)", "split": "gap", "metric": m,
            "mean": value, "mean_ci95": difference_ci(seen, unseen, strata_mean, seed=seed)}


# ------------------------------------------------------------------ outputs


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _ci(ci: list | None) -> str:
    """``[lo, hi]``, or ``n=1`` where one run carries no interval."""
    if ci is None or ci[0] is None:
        return "n=1"
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def final_table_rows(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = ["group", "runs", "seeds", "final steps", "mean", "95% CI", "IQM", "IQM 95% CI"]
    body = [[r["group"], str(r["runs"]), r["seeds"], r["final_steps"], _fmt(r["mean"]),
             _ci([r["mean_lo"], r["mean_hi"]]), _fmt(r["iqm"]), _ci([r["iqm_lo"], r["iqm_hi"]])] for r in rows]
    return head, body


def gen_table_rows(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    head = ["group", "suite", "scenario", "split", "n", *GEN_METRICS]
    body = []
    for r in rows:
        if "metric" in r:  # split and gap rows: one metric each
            cells = ["-"] * len(GEN_METRICS)
            text = f"{_fmt(r['mean'])} {_ci(r['mean_ci95'])}"
            if "iqm" in r:
                text += f"; IQM {_fmt(r['iqm'])} {_ci(r['iqm_ci95'])}"
            cells[GEN_METRICS.index(r["metric"])] = text
            n = _count(r["scenarios"], "scenario") if "scenarios" in r else ""
            body.append([r["group"], r["suite"], r["scenario"], r["split"], n, *cells])
        else:
            cells = [f"{_fmt(r[m])} {_ci(r[f'{m}_ci95'])}" if m in r else "-" for m in GEN_METRICS]
            body.append([r["group"], r["suite"], r["scenario"], r["split"], _count(r.get("runs", 0), "run"), *cells])
    return head, body


# Terminal tables: columns left out first when the terminal is narrow, and short headers.
FINAL_DROP = ("seeds", "final steps", "IQM 95% CI", "IQM", "runs")
GEN_HEAD = ["scenario", "split", "n", "return/step", "crash", "success"]
GEN_DROP = ("success", "crash", "n", "split")


def print_tables(summary: dict[str, Any], console: Any, out: Path) -> None:
    """The final-performance table and one generalization table per group and suite, fitted to
    the console's width (narrow terminals lose low-priority columns, never a word)."""
    left_out: set[str] = set()
    final = final_table_rows([g["final"] for g in summary["groups"]])
    table, dropped = terminal_table(f"final {summary['metric']} (mean, IQM, 95% CI)", *final, console.width,
                                    drop=FINAL_DROP)
    console.print(table)
    left_out.update(dropped)
    gen = gen_table_rows(summary["generalization"])[1]
    for key in dict.fromkeys((row[0], row[1]) for row in gen):
        body = [row[2:] for row in gen if (row[0], row[1]) == key]
        table, dropped = terminal_table(f"{key[0]}: suite {key[1]} (mean [95% CI])", GEN_HEAD, body, console.width,
                                        whole=frozenset({"scenario"}), drop=GEN_DROP)
        console.print(table)
        left_out.update(dropped)
    if left_out:
        console.print(f"left out at this width: {', '.join(sorted(left_out))} (see {out}/*.md)", markup=False,
                      highlight=False)


def plot_curves(groups: list[Group], curves: dict[str, list[dict]], axis: str, metric: str, path: Path) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    longest = max((c["x"][-1] for c in curves[axis] if c["x"]), default=0.0)
    scale, unit = (60.0, "min") if axis == "wall" and longest > 300 else (1.0, "s")
    for g, c in zip(groups, curves[axis]):
        if not c["x"]:
            continue
        x = np.array(c["x"]) / (1.0 if axis == "steps" else scale)
        line, = ax.plot(x, c["mean"], label=f"{g.label[:60]} (n={c['n']})", marker="." if len(x) < 30 else None)
        if c["lo"] is not None:  # one run: no band
            ax.fill_between(x, c["lo"], c["hi"], color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("env steps" if axis == "steps" else f"wall time of training [{unit}]")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean and 95% CI over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    data = buf.getvalue()
    path.write_bytes(data)
    return data


def write_compare_html(path: Path, metric: str, groups: list[Group], pngs: dict[str, bytes], final: tuple, gen: tuple | None,
               warnings: list[str]) -> None:
    imgs = "".join(f'<figure><img alt="{html.escape(metric)} vs {k}" src="data:image/png;base64,'
                   f'{base64.b64encode(v).decode()}"></figure>' for k, v in pngs.items())
    runs = html_table(["group", "runs"], [[g.label, " ".join(str(r.path) for r in g.runs)] for g in groups])
    notes = "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
    notes = f"<h2>Warnings</h2><ul>{notes}</ul>" if notes else ""
    gen_html = (f"<h2>Generalization (seen / unseen)</h2>{html_table(*gen)}<p>Per scenario: mean over runs of "
                "each run's scenario mean, 95% bootstrap CI over runs. Split rows: mean (and IQM) over the split's "
                "scenarios x runs, CI from a bootstrap resampling runs within each scenario.</p>") if gen else ""
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>laneforge comparison: {html.escape(metric)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:90%}}th{{background:#f0f0f0}}
img{{max-width:100%}}figure{{margin:1em 0}}</style></head><body>
<h1>Comparison: {html.escape(metric)}</h1>
<p>{len(groups)} groups, {sum(len(g.runs) for g in groups)} runs; generated {datetime.now(timezone.utc).isoformat(timespec='seconds')}.</p>
{notes}<h2>Learning curves</h2>{imgs}
<p>Each run's curve is interpolated linearly onto a common grid inside the range all runs of its group reached;
shaded: 95% Student-t CI of the mean over seeds (none for a group of one run).</p>
<h2>Final performance</h2>{html_table(*final)}
<p>Final = each run's last logged value. Mean and IQM (interquartile mean) with 95% percentile CIs from a
stratified bootstrap ({N_RESAMPLES} resamples; Agarwal et al. 2021); "n=1": one run, no interval.</p>
{gen_html}<h2>Runs</h2>{runs}</body></html>"""
    atomic_write_text(path, page)


def compare(paths: list[Path], metric: str, out: Path, stderr=None) -> dict[str, Any]:
    """Read the runs, group them, write PNGs, HTML, markdown/CSV tables and ``groups.json``; warn
    on ``stderr`` about repeated seeds and sparse metrics (also in ``summary["warnings"]``)."""
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True, file=stderr)
    run_paths = find_runs(paths)
    runs = [read_compare_run(p, metric) for p in track(run_paths, description="reading runs", console=console,
                                                       transient=True)]
    groups = group_runs(runs)
    warnings = [*duplicate_seed_warnings(groups), *filter(None, [sparse_metric_warning(runs, metric)])]
    for line in warnings:
        console.print(f"warning: {line}", soft_wrap=True, markup=False, highlight=False)
    out.mkdir(parents=True, exist_ok=True)
    curves: dict[str, list[dict]] = {"steps": [], "wall": []}
    finals, gen_rows = [], []
    for g in track(groups, description="statistics", console=console, transient=True):
        curves["steps"].append(curve(g, "steps"))
        curves["wall"].append(curve(g, "wall"))
        finals.append(final_row(g, metric))
        gen_rows.extend(generalization_rows(g))
    pngs = {axis: plot_curves(groups, curves, axis, metric, out / f"curves_{axis}.png") for axis in ("steps", "wall")}
    final = final_table_rows(finals)
    atomic_write_text(out / "final.md", f"Final {metric} (last logged value per run)\n\n" + markdown_table(*final))
    write_csv(out / "final.csv", finals)
    gen = gen_table_rows(gen_rows) if gen_rows else None
    if gen:
        atomic_write_text(out / "generalization.md", markdown_table(*gen))
        write_csv(out / "generalization.csv", gen_rows)
    write_compare_html(out / "report.html", metric, groups, pngs, final, gen, warnings)
    summary = {"metric": metric, "warnings": warnings, "groups": [
        {"label": g.label, "varying": g.varying, "n": len(g.runs), "seeds": g.seeds,
         "runs": [str(r.path) for r in g.runs], "final": f, "curve_steps": cs, "curve_wall": cw}
        for g, f, cs, cw in zip(groups, finals, curves["steps"], curves["wall"])], "generalization": gen_rows}
    atomic_write_text(out / "groups.json", json.dumps(summary, indent=2, default=_json_default))
    return summary


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


def run_compare(paths: list[Path], metric: str = "eval/return", out: Path | None = None) -> int:
    """compare.py: compare the runs at ``paths``, print the tables and write the report to ``out``
    (default ``PATH/compare`` for one experiment folder, else ``./compare``); returns the exit code."""
    from rich.console import Console

    if any(not str(path).strip() for path in paths):
        raise UserError("an empty path was given; pass run folders or experiment folders (e.g. runs/EXP)")
    paths = [Path(path) for path in paths]
    if out is None:
        single = paths[0]
        out = single / "compare" if len(paths) == 1 and single.is_dir() and not (single / "config.yaml").exists() \
            else Path("compare")
    summary = compare(paths, metric, out)
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:  # a log file or pipe: one line per row
        console = Console(width=200)
    print_tables(summary, console, out)
    n = sum(len(g["runs"]) for g in summary["groups"])
    console.print(f"{_count(len(summary['groups']), 'group')} of {_count(n, 'run')}; report: {out / 'report.html'}",
                  soft_wrap=True, markup=False, highlight=False)
    return 0
