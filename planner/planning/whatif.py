"""What-if analysis: cost a model before and after hand-picked changes.

A change is either a per-layer :class:`Override` (weight bits or format, keep ratio,
sparsity, rank, processor, dtype; the layer may be a glob such as ``"features.*"``) or an
architecture transform from the mobile literature (:class:`WidthMultiplier`,
:class:`Resolution`, :class:`DepthwiseSeparable`, :class:`GlobalPoolingHead`,
:class:`MoveDownsampling`; see :mod:`graphs.architecture`). Transforms apply first, in
order; overrides then apply to the transformed graph. Every layer not overridden stays
fp32 on the host processor, as the plan's baseline.

Both sides are :class:`~planner.planning.plan.Plan` objects costed by the same model as a solved
plan (roofline latency and energy per processor, transfers, stored bits, peak live
activations, the accuracy proxy), so a what-if plan can also be saved and simulated.

>>> from graphs import build_zoo_model
>>> from hardware_profiles import load
>>> w = whatif(build_zoo_model("mobilenet_v1"), load("snapdragon_855"),
...            [WidthMultiplier(0.5)])
>>> round(w.after.totals.macs / 1e6), round(w.after_graph.total_work().params / 1e6, 2)
(149, 1.33)
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from graphs import (
    Graph,
    depthwise_separable,
    global_pooling_head,
    move_downsampling,
    scale_width,
    set_resolution,
)
from hardware_profiles import HardwareProfile, Processor
from planner.contracts.plan_file import Plan
from planner.cost import validation_note
from planner.planning.plan import PlanError, Planner, Proxy
from planner.search.option_table import Option
from planner.search.options import OptionSpace, format_fits

BITS_FORMAT = {32: "fp32", 16: "fp16", 8: "int8", 4: "int4", 1: "binary"}
"""Weight format of a bit width given as ``Override(bits=…)``."""
NATURAL_FORMAT = {"fp32": "fp32", "fp16": "fp16", "int8": "int8", "int4": "int4"}
"""Weight format of a layer computing in a dtype when no format is asked for."""
GLOB = set("*?[")


@dataclass(frozen=True)
class Override:
    """Compress or move the layers matching ``layer`` (a name or an fnmatch glob).

    ``bits`` (32, 16, 8, 4, 1) or ``weight_format`` (any planner format, e.g. ``kmeans4``);
    ``keep``: fraction of output channels kept (the whole coupled group follows);
    ``sparsity``: fraction of weights zeroed; ``rank``: low-rank fraction; ``processor``
    and ``dtype``: where and in which dtype it computes (default: the host; the dtype that
    fits the format, float first, integer first for integer formats).
    """

    layer: str
    bits: int | None = None
    weight_format: str | None = None
    keep: float | None = None
    sparsity: float | None = None
    rank: float | None = None
    processor: str | None = None
    dtype: str | None = None

    def __post_init__(self) -> None:
        if self.bits is not None and self.bits not in BITS_FORMAT:
            raise PlanError(f"override {self.layer!r}: bits must be one of "
                            f"{sorted(BITS_FORMAT)}, got {self.bits}")
        if self.bits is not None and self.weight_format is not None:
            raise PlanError(f"override {self.layer!r}: give bits or weight_format, not both")

    @property
    def fmt(self) -> str | None:
        """The weight format asked for, if any."""
        return BITS_FORMAT[self.bits] if self.bits is not None else self.weight_format


@dataclass(frozen=True)
class WidthMultiplier:
    """MobileNets' α: every conv and linear but the classifier at α × its channels."""

    alpha: float
    divisor: int = 1

    def apply(self, graph: Graph) -> Graph:
        """The transformed graph."""
        return scale_width(graph, self.alpha, self.divisor)


@dataclass(frozen=True)
class Resolution:
    """MobileNets' ρ as an input size: images at ``height`` × ``width``."""

    height: int
    width: int | None = None

    def apply(self, graph: Graph) -> Graph:
        """The transformed graph."""
        return set_resolution(graph, self.height, self.width)


@dataclass(frozen=True)
class DepthwiseSeparable:
    """The named convs (default: every eligible k×k conv) become depthwise + pointwise."""

    layers: tuple[str, ...] | None = None

    def apply(self, graph: Graph) -> Graph:
        """The transformed graph."""
        return depthwise_separable(graph, self.layers)


@dataclass(frozen=True)
class GlobalPoolingHead:
    """The fully connected head becomes global average pooling and one linear."""

    def apply(self, graph: Graph) -> Graph:
        """The transformed graph."""
        return global_pooling_head(graph)


@dataclass(frozen=True)
class MoveDownsampling:
    """The stride of ``source`` moves to ``target``."""

    source: str
    target: str

    def apply(self, graph: Graph) -> Graph:
        """The transformed graph."""
        return move_downsampling(graph, self.source, self.target)


Transform = WidthMultiplier | Resolution | DepthwiseSeparable | GlobalPoolingHead \
    | MoveDownsampling
Change = Override | Transform

TOTALS = ("macs", "params", "size_bytes", "latency_s", "energy_j", "memory_bytes", "error")


@dataclass
class WhatIf:
    """The model before and after the changes: graphs and fully costed plans."""

    changes: list[Change]
    before_graph: Graph
    after_graph: Graph
    before: Plan
    after: Plan
    notes: list[str] = field(default_factory=list)

    def totals(self) -> dict[str, tuple[float, float]]:
        """quantity → (before, after): macs, params, size_bytes, latency_s, energy_j,
        memory_bytes, error."""
        out = {}
        for key in TOTALS:
            if key == "params":
                out[key] = (float(self.before_graph.total_work().params),
                            float(self.after_graph.total_work().params))
            else:
                out[key] = (float(getattr(self.before.totals, key)),
                            float(getattr(self.after.totals, key)))
        return out

def describe(change: Change) -> str:
    """One line for a change, e.g. ``width multiplier α=0.5``."""
    if isinstance(change, Override):
        parts = [f"{k}={v}" for k, v in vars(change).items() if k != "layer" and v is not None]
        return f"override {change.layer}: {', '.join(parts) or 'nothing'}"
    if isinstance(change, WidthMultiplier):
        return f"width multiplier α={change.alpha:g}"
    if isinstance(change, Resolution):
        return f"resolution {change.height}×{change.width or change.height}"
    if isinstance(change, DepthwiseSeparable):
        return "depthwise separable " + (", ".join(change.layers) if change.layers
                                         else "(every eligible conv)")
    if isinstance(change, GlobalPoolingHead):
        return "global pooling head"
    return f"move downsampling {change.source} → {change.target}"


# ---------------------------------------------------------------- the API


def whatif(graph: Graph, profile: HardwareProfile, changes: Sequence[Change], *,
           proxy: Proxy = "weights", seed: int = 0) -> WhatIf:
    """Cost ``graph`` on ``profile`` before and after ``changes`` (see the module
    docstring). ``proxy`` prices the accuracy proxy as :func:`planner.planning.plan` does; models
    without weights (and every transformed model) get seeded ones for it."""
    transforms = [c for c in changes if not isinstance(c, Override)]
    overrides = [c for c in changes if isinstance(c, Override)]
    after_graph = graph
    for transform in transforms:
        after_graph = transform.apply(after_graph)
    notes = [band] if (band := validation_note(profile)) is not None else []
    if transforms and overrides:
        notes.append("a transformed network has seeded weights: the proxy error of its "
                     "overrides is a placeholder until the network is retrained")
    # an unchanged layer adds no error: only overridden layers need the proxy measured
    before = fixed_plan(graph, profile, [], proxy="uniform", seed=seed)
    after = fixed_plan(after_graph, profile, overrides, proxy=proxy if overrides else "uniform",
                       seed=seed, notes=notes)
    return WhatIf(list(changes), graph, after_graph, before, after, notes)


def fixed_plan(graph: Graph, profile: HardwareProfile, overrides: Sequence[Override], *,
               proxy: Proxy = "weights", seed: int = 0, notes: list[str] | None = None
               ) -> Plan:
    """The plan that applies ``overrides`` (later ones win) and leaves every other layer
    fp32 on the host. Raises PlanError for a layer name that matches nothing, a keep ratio
    on channels that cannot be pruned, or an option the processor cannot run."""
    space = _space(overrides)
    planner = Planner(graph, profile, space=space, proxy=proxy, seed=seed, front=False)
    wanted, globbed = _resolve(planner, overrides)
    ratios = _group_ratios(planner, wanted)
    chosen: dict[str, Option] = {}
    stayed: dict[str, list[str]] = {}
    for decision in planner.problem.decisions:
        override = wanted.get(decision.name)
        target = tuple(ratios.get(g, 1.0) for g in decision.groups)
        try:
            chosen[decision.name] = _pick(planner, decision.name, decision.options, target,
                                          override)
        except PlanError:
            if decision.name not in globbed or override is None or not override.processor:
                raise
            # a glob moved every layer; those the processor cannot run stay on the host
            host = replace(override, processor=None, dtype=None)
            chosen[decision.name] = _pick(planner, decision.name, decision.options, target,
                                          host)
            if planner.units[planner.problem.index[decision.name]].kind != "input":
                stayed.setdefault(override.processor, []).append(decision.name)
    for processor, names in stayed.items():
        if notes is not None:
            notes.append(f"{len(names)} layer(s) cannot run on {processor} and stay on "
                         f"{profile.host}: {', '.join(names[:6])}"
                         + (", …" if len(names) > 6 else ""))
    return planner.assign(chosen)


def _space(overrides: Sequence[Override]) -> OptionSpace:
    formats = set(NATURAL_FORMAT.values()) | {o.fmt for o in overrides if o.fmt}
    return OptionSpace(
        keep_ratios=tuple(sorted({1.0} | {o.keep for o in overrides if o.keep})),
        sparsities=tuple(sorted({0.0} | {o.sparsity for o in overrides if o.sparsity})),
        formats=tuple(sorted(formats)),
        ranks=tuple(sorted({1.0} | {o.rank for o in overrides if o.rank})))


def _resolve(planner: Planner, overrides: Sequence[Override]
             ) -> tuple[dict[str, Override], set[str]]:
    """Unit name → the merged override of every override matching the unit or a member,
    and the units that a glob matched."""
    units = planner.units
    merged: dict[str, Override] = {}
    globbed: set[str] = set()
    for override in overrides:
        hits = [u.name for u in units
                if any(fnmatch.fnmatchcase(m, override.layer) for m in u.members)]
        if not hits:
            names = [m for u in units for m in u.members]
            close = difflib.get_close_matches(override.layer, names, n=3)
            raise PlanError(f"override {override.layer!r} matches no layer of "
                            f"{planner.graph.name}" + (f"; did you mean {', '.join(close)}?"
                                                      if close else ""))
        if override.processor and override.processor not in planner.profile.processors:
            raise PlanError(f"override {override.layer!r}: {planner.profile.name} has no "
                            f"processor {override.processor!r}; it has "
                            f"{', '.join(planner.profile.processors)}")
        if GLOB & set(override.layer):
            globbed.update(hits)
        for name in hits:
            old = merged.get(name, Override(name))
            merged[name] = Override(name, **{
                k: (v if v is not None else getattr(old, k))
                for k, v in vars(override).items() if k != "layer"})
    return merged, globbed


def _group_ratios(planner: Planner, wanted: dict[str, Override]) -> dict[int, float]:
    ratios: dict[int, float] = {}
    set_by: dict[int, str] = {}
    for name, override in wanted.items():
        if override.keep is None or override.keep == 1.0:
            continue
        unit = planner.units[planner.problem.index[name]]
        gid = planner.coupling.output_group(unit.layer.name)
        if gid is None or planner.coupling.group(gid).locked:
            raise PlanError(f"override {name!r}: its output channels cannot be pruned (they "
                            "are tied to a graph output or to a layer that fixes them)")
        if gid in ratios and ratios[gid] != override.keep:
            raise PlanError(f"overrides {set_by[gid]!r} and {name!r} keep {ratios[gid]:g} "
                            f"and {override.keep:g} of channels that are coupled (residual "
                            "add, concat or depthwise conv): they must agree")
        ratios[gid], set_by[gid] = override.keep, name
    return ratios


def _dtype(proc: Processor, override: Override | None) -> str | None:
    """The dtype to compute in: the one asked for, else the first the processor has that
    fits the format (integer formats prefer integer dtypes)."""
    if override is not None and override.dtype is not None:
        return override.dtype if override.dtype in proc.dtypes else None
    fmt = override.fmt if override is not None else None
    integer = fmt is not None and (fmt.startswith("int") or fmt == "binary")
    order = ("int8", "int4", "fp16", "fp32") if integer else ("fp32", "fp16", "int8", "int4")
    return next((d for d in order if d in proc.dtypes
                 and (fmt is None or format_fits(fmt, d))), None)


def _pick(planner: Planner, name: str, options: Sequence[Option], ratios: tuple[float, ...],
          override: Override | None) -> Option:
    """The option of unit ``name`` at the group ``ratios`` that does what ``override``
    asks (the baseline where it says nothing)."""
    profile = planner.profile
    processor = (override.processor if override and override.processor else profile.host)
    dtype = _dtype(profile.processors[processor], override)
    fmt = (override.fmt if override and override.fmt else
           NATURAL_FORMAT.get(dtype or ""))
    sparsity = override.sparsity if override and override.sparsity else 0.0
    rank = override.rank if override and override.rank else 1.0
    plain = planner.units[planner.problem.index[name]].kind != "compressible"
    for option in options:
        c = option.choice
        if option.ratios == ratios and c.processor == processor and c.dtype == dtype and (
                plain or (c.fmt == fmt and c.sparsity == sparsity and c.rank == rank)):
            return option
    raise PlanError(f"layer {name!r}: no option with processor {processor}, dtype {dtype}, "
                    f"weights {fmt}, sparsity {sparsity:g}, rank {rank:g} (the processor "
                    f"computes {', '.join(profile.processors[processor].dtypes)}; "
                    "integer dtypes need integer weight formats)")


__all__ = [
    "Change",
    "DepthwiseSeparable",
    "GlobalPoolingHead",
    "MoveDownsampling",
    "Override",
    "Resolution",
    "WhatIf",
    "WidthMultiplier",
    "describe",
    "fixed_plan",
    "whatif",
]
