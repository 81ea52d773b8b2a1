"""Charts (matplotlib, imported only when a chart is drawn).

The roofline chart puts every layer as a point (arithmetic intensity, achieved FLOP/s) under
its processor's roof: the memory slope (DRAM and on-chip) up to the compute ceiling at the
dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardware_profiles import HardwareProfile
from planner.costs import Infeasible, LayerCost

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
