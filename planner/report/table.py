"""One table data model, four renderings: terminal (rich), CSV, JSON and Markdown.

Machine formats (CSV, JSON) carry raw numbers in base units (operations, bytes, seconds,
joules) under keys that name the unit; human formats (terminal, Markdown) print ``2.3 MB``,
``15.3 ms``, ``1.2 GMAC``.

>>> t = Table("demo", [Column("name", "layer"), Column("macs", "MACs", "count", "MAC")],
...           [{"name": "fc", "macs": 512000}])
>>> print(render(t, "csv").strip())
name,macs
fc,512000
>>> print(render(t, "md").splitlines()[4])
| fc | 512.0 kMAC |
"""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from planner.contracts.units import format_bytes, format_count, format_joules, format_seconds

Kind = Literal["text", "int", "count", "bytes", "seconds", "joules", "float", "error",
               "percent", "shape"]
FORMATS = ("table", "csv", "json", "md")


@dataclass(frozen=True)
class Column:
    """A column: ``key`` in machine formats, ``header`` in human ones, ``kind`` for
    formatting, ``unit`` appended to counts (``MAC``, ``FLOP``)."""

    key: str
    header: str
    kind: Kind = "text"
    unit: str = ""
    shown: Literal["both", "human", "machine"] = "both"
    """Formats that carry the column: human (terminal, Markdown, HTML), machine (CSV,
    JSON) or both."""


def human_columns(table: Table) -> list[Column]:
    """The columns terminal, Markdown and HTML show."""
    return [c for c in table.columns if c.shown != "machine"]


def machine_columns(table: Table) -> list[Column]:
    """The columns CSV and JSON carry."""
    return [c for c in table.columns if c.shown != "human"]


@dataclass
class Table:
    """Rows of values keyed by column key, optional totals row, and notes (warnings such as
    unmapped ops, which every format keeps)."""

    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    totals: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with raw values."""
        return {
            "title": self.title,
            "columns": [{"key": c.key, "header": c.header, "kind": c.kind, "unit": c.unit}
                        for c in machine_columns(self)],
            "rows": [{c.key: _raw(row.get(c.key)) for c in machine_columns(self)}
                     for row in self.rows],
            "totals": None if self.totals is None else {
                c.key: _raw(self.totals.get(c.key)) for c in machine_columns(self)
                if self.totals.get(c.key) is not None},
            "notes": list(self.notes),
        }


def _raw(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cell(value: Any, column: Column) -> str:
    """Human text for one value."""
    if value is None or value == "":
        return ""
    kind = column.kind
    if value == 0 and kind in ("count", "bytes", "seconds", "joules"):
        return "0"
    if kind == "count":
        return format_count(value, column.unit)
    if kind == "bytes":
        return format_bytes(value)
    if kind == "seconds":
        return format_seconds(value)
    if kind == "joules":
        return format_joules(value)
    if kind == "int":
        return f"{int(value):,}"
    if kind == "float":
        return f"{value:.2f}" if math.isfinite(value) else "inf"
    if kind == "error":  # relative errors span decades: three significant digits
        return f"{value:.3g}"
    if kind == "percent":
        return f"{100 * value:.1f}%"
    if kind == "shape":
        return "×".join(str(d) for d in value)
    return str(value)


def human_rows(table: Table) -> list[list[str]]:
    """Every row (and the totals last) as text cells of the human columns."""
    columns = human_columns(table)
    rows = [[cell(row.get(c.key), c) for c in columns] for row in table.rows]
    if table.totals is not None:
        rows.append([cell(table.totals.get(c.key), c) for c in columns])
    return rows


def render(table: Table, fmt: str, width: int | None = None) -> str:
    """The table as ``table`` (rich), ``csv``, ``json`` or ``md`` text."""
    if fmt == "json":
        return json.dumps(table.to_dict(), indent=1)
    if fmt == "csv":
        return _csv(table)
    if fmt == "md":
        return _markdown(table)
    if fmt == "table":
        return _terminal(table, width)
    raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def _csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = machine_columns(table)
    writer.writerow([c.key for c in columns])
    for row in table.rows:
        writer.writerow([_csv_value(row.get(c.key)) for c in columns])
    return out.getvalue()


def _csv_value(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return "x".join(str(v) for v in value)
    return "" if value is None else value


def _markdown(table: Table) -> str:
    lines = [f"**{table.title}**", ""] if table.title else []
    columns = human_columns(table)
    lines.append("| " + " | ".join(c.header for c in columns) + " |")
    lines.append("|" + "|".join(" --- " if c.kind in ("text", "shape") else " ---: "
                                for c in columns) + "|")
    body = human_rows(table)
    if table.totals is not None:
        body[-1] = [f"**{v}**" if v else "" for v in body[-1]]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    lines += [f"\n> {note}" for note in table.notes]
    return "\n".join(lines) + "\n"


def _terminal(table: Table, width: int | None) -> str:
    from rich.console import Console
    from rich.table import Table as RichTable

    rich_table = RichTable(title=table.title or None, show_footer=table.totals is not None)
    totals = human_rows(table)[-1] if table.totals is not None else None
    for i, column in enumerate(human_columns(table)):
        numeric = column.kind not in ("text", "shape")
        rich_table.add_column(column.header, justify="right" if numeric else "left",
                              footer=totals[i] if totals else "", no_wrap=numeric)
    rows = human_rows(table)
    for row in rows[:-1] if totals else rows:
        rich_table.add_row(*row)
    if width is None:  # a terminal gets its width; a pipe or file gets every character
        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 1000
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(rich_table)
    for note in table.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    output: str = console.file.getvalue()  # type: ignore[attr-defined]
    return output


