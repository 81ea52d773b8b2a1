"""Charts (matplotlib, imported only when a chart is drawn): the roofline, per-layer bars
before and after, the Pareto frontier, and predicted against measured.

The roofline chart puts every layer as a point (arithmetic intensity, achieved FLOP/s) under
its processor's roof: the memory slope (DRAM and on-chip) up to the compute ceiling at the
dtype.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardware_profiles import HardwareProfile
from planner.cost import Infeasible, LayerCost

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def roofline_figure(profile: HardwareProfile, dtypes: Mapping[str, str],
                    costs: Mapping[str, Mapping[str, LayerCost | Infeasible]],
                    title: str) -> Figure:
    """One panel per processor: its roofs and its layers, coloured by what bounds them."""
    plt = _pyplot()
    names = list(dtypes)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        proc = profile.processors[name]
        dtype = dtypes[name]
        peak = proc.peak_ops_per_s[dtype].value  # type: ignore[index]
        points = [c for c in costs[name].values()
                  if isinstance(c, LayerCost) and c.flops > 0 and c.traffic_bytes > 0]
        intensities = [c.intensity for c in points] or [1.0]
        lo, hi = min(min(intensities) / 2, 0.05), max(max(intensities) * 2, 1e3)
        xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        for bandwidth, label, style in ((proc.dram_bytes_per_s.value, "DRAM", "-"),
                                        (proc.onchip_bytes_per_s.value, "on-chip", "--")):
            ax.plot(xs, [min(peak, x * bandwidth) for x in xs], style, color="black",
                    linewidth=1, label=f"{label} roof")
        for bound, color in (("compute", "tab:red"), ("memory", "tab:blue")):
            chosen = [c for c in points if c.bound == bound]
            ax.scatter([c.intensity for c in chosen], [c.achieved_ops_per_s for c in chosen],
                       s=12, color=color, alpha=0.7, label=f"{bound}-bound layers")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("arithmetic intensity (FLOP/byte)")
        ax.set_ylabel("FLOP/s")
        ax.set_title(f"{name} ({proc.kind}, {dtype}): peak {peak / 1e9:,.0f} GOPS")
        ax.grid(True, which="both", alpha=0.2)
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> None:
    """Write a figure; the format follows the suffix (.png, .svg, .pdf)."""
    fig.savefig(path, dpi=120)
    _pyplot().close(fig)


def layer_bars_figure(names: Sequence[str], before: Mapping[str, Sequence[float]],
                      after: Mapping[str, Sequence[float]], title: str) -> Figure:
    """One panel per quantity (e.g. latency in s, size in bytes): a bar per layer before
    and after, on a log axis; layers in execution order, every few labelled."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(before), 1, figsize=(11, 2.8 * len(before)), squeeze=False)
    xs = list(range(len(names)))
    for ax, quantity in zip(axes[:, 0], before, strict=True):
        ax.bar([x - 0.2 for x in xs], before[quantity], width=0.4, color="tab:gray",
               label="before")
        ax.bar([x + 0.2 for x in xs], after[quantity], width=0.4, color="tab:green",
               label="after")
        ax.set_yscale("log")
        ax.set_ylabel(quantity)
        step = max(1, len(names) // 30)
        ax.set_xticks(xs[::step], [names[i] for i in xs[::step]], rotation=90, fontsize=6)
        ax.grid(True, axis="y", which="both", alpha=0.2)
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def frontier_figure(points: Sequence[tuple[float, float]], chosen: tuple[float, float] | None,
                    xlabel: str, ylabel: str, title: str) -> Figure:
    """The Pareto frontier (x: a budgeted quantity, y: the objective) with the chosen
    plan marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ordered = sorted(points)
    ax.plot([p[0] for p in ordered], [p[1] for p in ordered], "o-", color="tab:blue",
            markersize=4, label="optimal plans")
    if chosen is not None:
        ax.plot([chosen[0]], [chosen[1]], "*", color="tab:red", markersize=14,
                label="chosen plan")
    ax.set_xscale("log")
    if all(p[1] > 0 for p in points):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def predicted_measured_figure(panels: Mapping[str, tuple[Sequence[float], Sequence[float]]],
                              title: str) -> Figure:
    """One log-log panel per quantity: each layer's predicted (x) against measured (y)
    value, with the line y = x."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 4.2), squeeze=False)
    for ax, (label, (predicted, measured)) in zip(axes[0], panels.items(), strict=True):
        pairs = [(p, m) for p, m in zip(predicted, measured, strict=True) if p > 0 and m > 0]
        if pairs:
            lo = min(min(p) for p in pairs) / 1.5
            hi = max(max(p) for p in pairs) * 1.5
            ax.plot([lo, hi], [lo, hi], "--", color="black", linewidth=1, label="y = x")
            ax.scatter([p for p, _ in pairs], [m for _, m in pairs], s=14, alpha=0.7,
                       color="tab:purple", label="layers")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xlabel(f"predicted {label}")
        ax.set_ylabel(f"measured {label}")
        ax.grid(True, which="both", alpha=0.2)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def svg_text(fig: Figure) -> str:
    """The figure as an inline ``<svg>`` element (no XML prolog), then closed."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    _pyplot().close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]
