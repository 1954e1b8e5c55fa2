"""Tables for the terminal (fitted to its width without breaking a word), markdown, HTML and CSV."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from agents.fileio import atomic_write_text


def fit_widths(head: list[str], body: list[list[str]], width: int, whole: frozenset[str],
               drop: tuple[str, ...]) -> dict[str, int]:
    """Column -> text width so the table fits ``width`` without breaking a word: columns in
    ``whole`` keep their longest cell on one line, the others may wrap between words; columns
    in ``drop`` are left out, in that order, while even the narrowest layout is too wide."""
    rows = [head, *body]
    low = {h: max(_widest(row[i], h in whole) for row in rows) for i, h in enumerate(head)}
    high = {h: max(len(row[i]) for row in rows) for i, h in enumerate(head)}
    shown = list(head)
    for name in [None, *drop]:
        if name in shown:
            shown.remove(name)
        if sum(low[h] for h in shown) + 3 * len(shown) + 1 <= width:  # padding 2 and a border per column
            break
    widths = {h: low[h] for h in shown}
    spare = width - sum(widths.values()) - 3 * len(shown) - 1
    for h in sorted(shown, key=lambda h: high[h] - low[h]):  # unwrap the columns that need least room first
        grow = max(0, min(spare, high[h] - low[h]))
        widths[h] += grow
        spare -= grow
    return widths


def _widest(text: str, whole: bool) -> int:
    return len(text) if whole else max((len(w) for w in text.split()), default=0)


def terminal_table(title: str, head: list[str], body: list[list[str]], width: int,
                   whole: frozenset[str] = frozenset(), drop: tuple[str, ...] = ()) -> tuple[Any, list[str]]:
    """A rich Table that fits ``width`` (see :func:`fit_widths`) and the headers left out."""
    from rich.table import Table
    from rich.text import Text

    widths = fit_widths(head, body, width, whole, drop)
    table = Table(title=title)
    for h, w in widths.items():
        table.add_column(h, width=w, no_wrap=h in whole, overflow="fold")
    for row in body:
        table.add_row(*(Text(c) for h, c in zip(head, row) if h in widths))
    return table, [h for h in head if h not in widths]


def markdown_table(head: list[str], body: list[list[str]]) -> str:
    esc = [[c.replace("|", "\\|") for c in row] for row in body]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in esc]) + "\n"


def html_table(head: list[str], body: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(k for r in rows for k in r))

    def cell(v: Any) -> Any:
        return json.dumps(v) if isinstance(v, list) else v

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows({k: cell(v) for k, v in r.items()} for r in rows)
    atomic_write_text(path, buf.getvalue())
