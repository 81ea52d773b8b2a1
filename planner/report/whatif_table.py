"""Tables of a what-if analysis: totals before and after, and per layer."""

from __future__ import annotations

from planner.planning.whatif import WhatIf, describe
from planner.report.table import Column, Table, cell

TOTAL_ROWS = (("macs", "MACs", "count", "MAC"), ("params", "parameters", "int", ""),
              ("size_bytes", "stored weights", "bytes", ""),
              ("latency_s", "latency", "seconds", ""), ("energy_j", "energy", "joules", ""),
              ("memory_bytes", "peak activations", "bytes", ""),
              ("error", "accuracy proxy", "error", ""))

WHATIF_COLUMNS = [
    Column("name", "layer"), Column("op", "op"),
    Column("macs_before", "MACs before", "count", "MAC"),
    Column("macs_after", "MACs after", "count", "MAC"),
    Column("size_before", "size before", "bytes"), Column("size_after", "size after", "bytes"),
    Column("latency_before", "latency before", "seconds"),
    Column("latency_after", "latency after", "seconds"),
    Column("processor", "processor"), Column("dtype", "dtype"),
    Column("weight_format", "weights"), Column("keep", "keep", "float"),
    Column("rank", "rank", "float"), Column("error", "proxy error", "error"),
]


def whatif_totals_table(result: WhatIf) -> Table:
    """One row per quantity: before and after in human units (raw in machine formats),
    and after/before."""
    totals = result.totals()
    rows = []
    for key, label, kind, unit in TOTAL_ROWS:
        before, after = totals[key]
        column = Column(key, label, kind, unit)  # type: ignore[arg-type]
        rows.append({"quantity": label, "key": key, "before": before, "after": after,
                     "before_text": cell(before, column), "after_text": cell(after, column),
                     "ratio": after / before if before else None})
    notes = [f"change: {describe(c)}" for c in result.changes] + result.notes
    return Table(f"what-if: {result.before.model} on {result.before.profile}", [
        Column("quantity", "quantity"), Column("key", "key", shown="machine"),
        Column("before_text", "before", shown="human"),
        Column("after_text", "after", shown="human"),
        Column("before", "before", "float", shown="machine"),
        Column("after", "after", "float", shown="machine"),
        Column("ratio", "after/before", "float")], rows, notes=notes)


def whatif_layer_table(result: WhatIf) -> Table:
    """Per layer (union of both sides, by name): MACs, stored bytes and latency before and
    after, where and how the after side runs, and its proxy error."""
    before = {e.name: e for e in result.before.layers}
    after = {e.name: e for e in result.after.layers}
    rows = []
    for name in [*before, *(n for n in after if n not in before)]:
        b, a = before.get(name), after.get(name)
        if not any(e is not None and (e.macs or e.size_bytes) for e in (b, a)):
            continue
        row: dict[str, object] = {"name": name, "op": (a or b).op,  # type: ignore[union-attr]
                                  "processor": "removed"}
        if b is not None:
            row |= {"macs_before": b.macs, "size_before": b.size_bytes,
                    "latency_before": b.latency_s}
        if a is not None:
            row |= {"macs_after": a.macs, "size_after": a.size_bytes,
                    "latency_after": a.latency_s, "processor": a.processor,
                    "dtype": a.dtype, "weight_format": a.weight_format, "keep": a.keep_out,
                    "rank": a.rank, "error": a.error}
        rows.append(row)
    b_tot, a_tot = result.before.totals, result.after.totals
    totals = {"name": "total", "macs_before": b_tot.macs, "macs_after": a_tot.macs,
              "size_before": b_tot.size_bytes, "size_after": a_tot.size_bytes,
              "latency_before": b_tot.latency_s, "latency_after": a_tot.latency_s,
              "error": a_tot.error}
    return Table(f"what-if per layer: {result.before.model}", WHATIF_COLUMNS, rows, totals,
                 notes=["total latency includes transfers between processors"])
