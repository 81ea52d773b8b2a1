"""Reports: one table data model rendered to terminal, Markdown, CSV, JSON (and HTML)."""

from planner.report.layers import graph_table
from planner.report.table import FORMATS, Column, Table, render

__all__ = ["FORMATS", "Column", "Table", "graph_table", "render"]
