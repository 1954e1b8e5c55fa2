"""Human-readable evaluation reports: ``report.md`` and a self-contained ``report.html``.

The HTML page opens from disk with no server and no network: the chart is an embedded PNG
(matplotlib) and the videos are embedded as base64 data (H.264/yuv420p mp4 plays in every
browser); past ``MAX_EMBED_BYTES`` of video they are linked by relative path instead.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from agents.evaluation.episodes import HEADLINE, read_report
from agents.fileio import atomic_write_text

# (metric, column title): what happened, then how it was driven.
TABLE_METRICS = [("crash_rate", "crash rate"), ("success_rate", "success"), ("progress", "progress"),
                 ("stall_rate", "stalled"), ("return", "return"), ("return_per_step", "return/step"),
                 ("mean_speed", "speed m/s"), ("length", "length")]
SAFETY_METRICS = [("min_ttc", "min TTC s"), ("mean_ttc", "mean TTC s"), ("headway_under_1s", "headway < 1 s"),
                  ("hard_braking_per_km", "hard brakes/km"), ("above_speed_limit", "above limit"),
                  ("lane_changes_per_km", "lane ch./km")]
MAX_EMBED_BYTES = 40 * 1024 * 1024


def format_stat(stats: dict | None) -> str:
    """``mean [lo, hi]``; ``mean n=1`` where fewer than two values carry no interval."""
    if not stats or stats.get("mean") is None:
        return "-"
    ci = stats.get("ci95")
    if not ci or ci[0] is None:
        return f"{stats['mean']:.3g} n=1"
    return f"{stats['mean']:.3g} [{ci[0]:.3g}, {ci[1]:.3g}]"


def _status(scenario: dict[str, Any]) -> str:
    return scenario["status"] if scenario["status"] == "ok" else f"{scenario['status']}: {scenario.get('reason', '')}"


def simulator(scenario: dict[str, Any]) -> str:
    """What judged a scenario: highway-env, or the batched simulator's id (reports before the
    field existed: highway-env)."""
    return scenario.get("simulator", "highway-env")


def stalls(scenario: dict[str, Any]) -> bool:
    """Whether any episode of the scenario stalled (flagged in red in the reports)."""
    st = scenario.get("metrics", {}).get("stall_rate") or {}
    return bool(st.get("mean"))


def split_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, seen, unseen, gap) formatted, for the headline metrics compared across splits."""
    return [(m, format_stat(summary["seen"].get(m)), format_stat(summary["unseen"].get(m)), format_stat(summary["gap"].get(m)))
            for m in HEADLINE if m in summary["seen"] or m in summary["unseen"]]


def _md_cells(s: dict[str, Any], metrics: list[tuple[str, str]]) -> list[str]:
    cells = []
    for key, _ in metrics:
        cell = format_stat(s["metrics"].get(key))
        cells.append(f"**STALLED {cell}**" if key == "stall_rate" and stalls(s) else cell)
    return cells


def report_markdown(report: dict[str, Any]) -> str:
    m = report["model"]
    lines = [f"# Evaluation: {report['suite']}", "",
             f"Run `{report['run_dir']}`: {m['algo']} / {m['network']}, {m['timesteps']} steps on {m['train_env']}; "
             f"created {report['created']}. Values: mean [95% percentile-bootstrap CI]; n=1: one value, no "
             "interval. Scenarios where episodes stalled (no crash, but a mean speed under 2 m/s or under 10% "
             "progress) are marked **STALLED**.", "",
             "| scenario | split | env | simulator | status | episodes | " + " | ".join(t for _, t in TABLE_METRICS) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(TABLE_METRICS)]
    for s in report["scenarios"]:
        lines.append(f"| {s['name']} | {s['split']} | {s['env_id']} | {simulator(s)} | {_status(s)} | {s['episodes']} | "
                     + " | ".join(_md_cells(s, TABLE_METRICS)) + " |")
    lines += ["", "## How it drove", "", "| scenario | " + " | ".join(t for _, t in SAFETY_METRICS) + " |",
              "|---|" + "---|" * len(SAFETY_METRICS)]
    lines += [f"| {s['name']} | " + " | ".join(_md_cells(s, SAFETY_METRICS)) + " |"
              for s in report["scenarios"] if s["status"] == "ok"]
    lines += ["", "## Seen vs unseen", "", "| metric | seen | unseen | gap (seen - unseen) |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in split_rows(report["summary"])]
    return "\n".join(lines) + "\n"


CONSOLE_METRICS = [("crash_rate", "crash rate"), ("success_rate", "success"), ("progress", "progress"),
                   ("stall_rate", "stalled"), ("return", "return")]


def print_report_summary(report: dict[str, Any], console: Any = None) -> None:
    """The report's headline numbers as terminal tables: per scenario, then seen vs unseen."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a log file or pipe: one line per row, not folded at 80 columns
            console = Console(width=200)
    m = report["model"]
    table = Table(title=f"{report['suite']}: {m['algo']} / {m['network']}, {m['timesteps']} steps on "
                        f"{m['train_env']} (mean [95% CI])")
    for col in ("scenario", "split", "episodes", *(t for _, t in CONSOLE_METRICS)):
        table.add_column(col, overflow="fold")
    for sc in report["scenarios"]:
        if sc["status"] != "ok":
            table.add_row(sc["name"], sc["split"], str(sc["episodes"]), f"[yellow]{_status(sc)}",
                          *[""] * (len(CONSOLE_METRICS) - 1))
            continue
        cells = [format_stat(sc["metrics"].get(k)) for k, _ in CONSOLE_METRICS]
        if stalls(sc):
            cells = [f"[bold red]{c}" if k == "stall_rate" else c for (k, _), c in zip(CONSOLE_METRICS, cells)]
        table.add_row(sc["name"], sc["split"], str(sc["episodes"]), *cells)
    console.print(table)
    if report["summary"].get("unseen"):
        split = Table(title="seen vs unseen (mean over scenarios [95% CI])")
        for col in ("metric", "seen", "unseen", "gap (seen - unseen)"):
            split.add_column(col)
        for row in split_rows(report["summary"]):
            split.add_row(*row)
        console.print(split)


def write_report_markdown(report_path: Path) -> Path:
    path = Path(report_path).with_name("report.md")
    atomic_write_text(path, report_markdown(read_report(report_path)))
    return path


CHART_METRICS = [("crash_rate", "crash rate"), ("progress", "progress"), ("stall_rate", "stall rate")]


def chart_png(report: dict[str, Any]) -> bytes:
    """Per-scenario crash rate, progress and stall rate with CIs, seen and unseen colored apart
    (stalls in red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [s for s in report["scenarios"] if s["status"] == "ok"]
    fig, axes = plt.subplots(1, len(CHART_METRICS), figsize=(13, 0.45 * max(len(ok), 3) + 1.2), sharey=True)
    colors = {"seen": "#2b7bba", "unseen": "#e07b39"}
    names = [s["name"] for s in ok]
    for ax, (metric, title) in zip(axes, CHART_METRICS):
        for i, s in enumerate(ok):
            st = s["metrics"].get(metric)
            if not st or st.get("mean") is None:
                continue
            stalled = metric == "stall_rate" and st["mean"] > 0
            ax.barh(i, st["mean"], color="#c62828" if stalled else colors.get(s["split"], "grey"))
            if st.get("ci95") and st["ci95"][0] is not None:  # n=1: no interval; a CI need not contain the mean
                ax.plot(st["ci95"], [i, i], color="black", marker="|", markersize=8, linewidth=1)
        for split in ("seen", "unseen"):
            st = report["summary"].get(split, {}).get(metric)
            if st:
                ax.axvline(st["mean"], color=colors[split], linestyle="--", linewidth=1, label=f"{split} mean")
        ax.set_title(title)
        ax.set_xlim(0, 1.02)  # every chart metric is a share
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _video_src(run_dir: Path, rel: str, page_dir: Path, embed: bool) -> str:
    path = run_dir / rel
    if embed:
        return "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    return html.escape(str(Path(*([".."] * len(page_dir.relative_to(run_dir).parts))) / rel))


def page(report: dict[str, Any], run_dir: Path, page_dir: Path) -> str:
    e = html.escape
    videos = [v for s in report["scenarios"] for v in s["videos"]]
    embed = sum((run_dir / v).stat().st_size for v in videos if (run_dir / v).exists()) <= MAX_EMBED_BYTES
    chart = base64.b64encode(chart_png(report)).decode()
    m = report["model"]
    head = "".join(f"<th>{e(t)}</th>" for t in ["scenario", "split", "env", "simulator", "status", "episodes",
                                                 *[t for _, t in TABLE_METRICS]])
    safety_head = "".join(f"<th>{e(t)}</th>" for t in ["scenario", *[t for _, t in SAFETY_METRICS]])

    def cells(s: dict[str, Any], metrics: list[tuple[str, str]]) -> str:
        return "".join(f"<td class='stalled'>STALLED {e(format_stat(s['metrics'].get(k)))}</td>"
                       if k == "stall_rate" and stalls(s) else f"<td>{e(format_stat(s['metrics'].get(k)))}</td>"
                       for k, _ in metrics)

    rows, safety = [], []
    for s in report["scenarios"]:
        status = e(_status(s))
        rows.append(f"<tr class='{e(s['split'])}'><td>{e(s['name'])}</td><td>{e(s['split'])}</td>"
                    f"<td>{e(s['env_id'])}</td><td>{e(simulator(s))}</td><td>{status}</td><td>{s['episodes']}</td>"
                    f"{cells(s, TABLE_METRICS)}</tr>")
        if s["status"] == "ok":
            safety.append(f"<tr class='{e(s['split'])}'><td>{e(s['name'])}</td>{cells(s, SAFETY_METRICS)}</tr>")
    srows = "".join("<tr>" + "".join(f"<td>{e(cell)}</td>" for cell in row) + "</tr>"
                    for row in split_rows(report["summary"]))
    players = []
    for s in report["scenarios"]:
        for v in s["videos"][:1]:
            players.append(f"<figure><figcaption>{e(s['name'])} ({e(s['split'])})</figcaption>"
                           f"<video controls muted loop preload='auto' width='600' "
                           f"src='{_video_src(run_dir, v, page_dir, embed)}'></video></figure>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>laneforge evaluation: {e(report['suite'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}} tr.unseen td:nth-child(2){{color:#c05a1a}}
tr.seen td:nth-child(2){{color:#1f5f96}} figure{{display:inline-block;margin:8px}} img{{max-width:100%}}
td.stalled{{color:#fff;background:#c62828;font-weight:bold}}
</style></head><body>
<h1>Evaluation: {e(report['suite'])}</h1>
<p>Run <code>{e(report['run_dir'])}</code>: {e(m['algo'])} / {e(m['network'])}, {m['timesteps']} steps on
{e(m['train_env'])}. Created {e(report['created'])}. Values are mean [95% percentile-bootstrap CI];
n=1: one value, no interval.</p>
<h2>Scenarios</h2>
<table id="scenarios"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>
<p>Stalled: episodes with no crash but a mean speed under 2 m/s or under 10% progress.</p>
<h2>How it drove</h2>
<table id="safety"><thead><tr>{safety_head}</tr></thead><tbody>{''.join(safety)}</tbody></table>
<h2>Seen vs unseen</h2>
<table id="summary"><thead><tr><th>metric</th><th>seen</th><th>unseen</th><th>gap (seen - unseen)</th></tr></thead>
<tbody>{srows}</tbody></table>
<p><img alt="seen vs unseen chart" src="data:image/png;base64,{chart}"></p>
<h2>Rollouts</h2>
{''.join(players) or '<p>No videos were recorded.</p>'}
</body></html>
"""


def write_report_html(report_path: Path) -> Path:
    report = read_report(report_path)
    page_dir = Path(report_path).parent
    path = page_dir / "report.html"
    atomic_write_text(path, page(report, Path(report["run_dir"]), page_dir))
    return path
