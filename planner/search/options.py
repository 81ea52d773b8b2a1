"""The option space: every way to compress and place each decision unit, and its cost.

A *unit* is a layer the planner decides for, together with the layers that run fused with
it (activations after a conv or linear) and the views that follow it for free (reshape,
flatten, dropout). Units are compressible (conv, linear, embedding, attention: weight
options) or plain (every other op: only where and in which dtype it runs). Inputs are units
on the host with a dtype choice (the host quantizes before sending).

An option fixes the keep ratio of every free channel group the unit touches, its sparsity,
weight format, low-rank fraction, processor and dtype. Its cost is exact under the cost
model: MACs and bytes come from the op table on the pruned or factorised shapes, latency and
energy from the roofline, stored bits from the storage model. Two size terms are rates
measured on the layer's unpruned weights (Huffman-coded k-means indices and sparse position
indices); ``Planner.solve`` measures the chosen ones exactly by compressing the weights
and re-solves while the measured plan breaks its size budget. Options
dominated in size, latency, energy and error within the same ratios, processor and dtype
are dropped: the ILP optimum is unchanged.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from graphs import Graph, Layer, Work, bits_to_bytes, is_depthwise, op_spec, op_work
from hardware_profiles import DTYPE_BITS, HardwareProfile, Processor
from planner.compression.coupling import Coupling
from planner.compression.decision_units import Unit, keep_ratios, pruned_io
from planner.compression.storage import (
    INDEX_WIDTHS,
    SCALE_BITS,
    bias_bits,
    format_bits,
    index_bits_bound,
    is_entropy_coded,
)
from planner.compression.transforms import factor_specs, lowrank_shapes
from planner.cost import (
    Gemm,
    LayerCost,
    fused_cost,
    fused_layers,
    gemm_shape,
    roofline,
    roofline_terms,
    sparse_speedup,
)
from planner.execution import act_bits
from planner.search.option_table import (
    CODED_COLUMNS,
    FLOAT_COLUMNS,
    INT_COLUMNS,
    PRICING_TERMS,
    OptionTable,
)

DEFAULT_KEEP = (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25)
DEFAULT_SPARSITY = (0.0, 0.5, 0.75, 0.9)
DEFAULT_FORMATS = ("fp32", "fp16", "int8", "int4", "binary", "kmeans4", "kmeans6")
DEFAULT_RANKS = (1.0, 0.5, 0.25)



@dataclass(frozen=True)
class OptionSpace:
    """What the planner may choose from. ``processors``/``dtypes`` restrict placement
    (None: every processor and every dtype it computes in)."""

    keep_ratios: tuple[float, ...] = DEFAULT_KEEP
    sparsities: tuple[float, ...] = DEFAULT_SPARSITY
    formats: tuple[str, ...] = DEFAULT_FORMATS
    ranks: tuple[float, ...] = DEFAULT_RANKS
    processors: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] | None = None
    resolution: float = 0.0
    """Options of a cell whose quantities lie within a factor ``1 + resolution`` of each
    other count as equal (the first in (size, latency, energy, error) order stays): fewer
    options, a plan within that factor per option of one over the full set. 0: exact."""

    def __post_init__(self) -> None:
        for name, values in (("keep_ratios", self.keep_ratios), ("ranks", self.ranks)):
            if 1.0 not in values or any(not 0 < v <= 1 for v in values):
                raise ValueError(f"{name} must lie in (0, 1] and include 1, got {values}")
        if 0.0 not in self.sparsities or any(not 0 <= s < 1 for s in self.sparsities):
            raise ValueError(f"sparsities must lie in [0, 1) and include 0, got "
                             f"{self.sparsities}")
        for fmt in self.formats:
            format_bits(fmt)
        if not 0 <= self.resolution < 1:
            raise ValueError(f"resolution must lie in [0, 1), got {self.resolution}")


def format_fits(fmt: str, dtype: str) -> bool:
    """A weight format the dtype can compute with: integer dtypes need integer-like weights
    no wider than the dtype; float dtypes dequantize any narrower format."""
    bits = format_bits(fmt)
    if dtype.startswith("int"):
        return fmt not in ("fp32", "fp16") and bits <= DTYPE_BITS[dtype]
    return bits <= DTYPE_BITS[dtype]


# ---------------------------------------------------------------- per-layer facts


@dataclass
class LayerFacts:
    """Per-unit proxies and size rates measured on the (unpruned) weights.

    ``prune_error[r]``: relative output energy removed when the unit's own output group
    keeps ratio r; ``format_error``, ``sparsity_error``, ``rank_error``: relative weight error
    of each transform alone; ``act_error[dtype]``: relative error of storing the unit's
    output at that dtype; ``sensitivity``: how a relative output error of this unit grows
    into the network output (energy ratio); ``kmeans_bits_per_value[fmt]`` and
    ``index_bits_per_weight[s]`` (and its Huffman-coded twin): measured size rates.
    """

    sensitivity: float = 1.0
    prune_error: dict[float, float] = field(default_factory=dict)
    format_error: dict[str, float] = field(default_factory=dict)
    sparsity_error: dict[float, float] = field(default_factory=dict)
    rank_error: dict[float, float] = field(default_factory=dict)
    act_error: dict[str, float] = field(default_factory=dict)
    kmeans_bits_per_value: dict[str, float] = field(default_factory=dict)
    index_bits_per_weight: dict[float, float] = field(default_factory=dict)
    huffman_index_bits_per_weight: dict[float, float] = field(default_factory=dict)


# ---------------------------------------------------------------- shapes after pruning


Tensor = tuple[str, int, int]
"""A weight tensor as (name, elements, rows); rows get one scale each in int formats."""


def pruned_attrs(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...]
                 ) -> dict[str, Any]:
    """The attributes of a conv/linear/embedding pruned to these input and output shapes."""
    a = dict(layer.attrs)
    if layer.op == "conv2d":
        a["out_channels"] = out_shape[1]
        if is_depthwise(layer.input_shapes[0][1], layer.attrs):
            a["groups"] = in_shape[1]
    elif layer.op == "linear":
        a["out_features"] = out_shape[-1]
    elif layer.op == "embedding":
        a["embedding_dim"] = out_shape[-1]
    return a


def _summed_at(found: tuple[list[Work], list[Tensor]] | None, bits: int
               ) -> tuple[Work, list[Tensor]] | None:
    """:func:`factor_works`' result as one layer's work with activations at ``bits``."""
    if found is None:
        return None
    works, tensors = found
    return sum((at_activation_bits(w, bits) for w in works), Work()), tensors


def factor_works(layer: Layer, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 rank: float, folded_bias: bool = False
                 ) -> tuple[list[Work], list[Tensor]] | None:
    """The work of a conv/linear/embedding/attention at pruned shapes before the activation
    width is known: of each layer it computes as (itself, or the factors of a low-rank
    decomposition), activations at 8 bits so that their bytes equal elements
    (:func:`at_activation_bits` turns them into any width exactly; weights not counted:
    the storage model prices them), and its weight tensors (with a bias when
    ``folded_bias``: a batch norm folds into it). None when ``rank`` does not factorise
    this layer with fewer parameters."""
    a = pruned_attrs(layer, in_shape, out_shape)
    op = layer.op
    if folded_bias:
        a["bias"] = True
    layers: list[tuple[str, dict[str, object]]] = [(op, a)]
    if rank < 1:
        channel_axis = 1 if op == "conv2d" else -1
        shapes = lowrank_shapes(op, a, in_shape[channel_axis], out_shape[channel_axis], rank)
        if shapes is None:
            return None
        layers = list(factor_specs(op, a, shapes))
    works, tensors = [], []
    x = [in_shape, *layer.input_shapes[1:]]
    for f_op, f_attrs in layers:
        spec = op_spec(f_op)
        y = spec.infer(x, f_attrs)
        works.append(op_work(f_op, x, y, f_attrs, 0, 8))
        tensors += [(k, math.prod(w.shape), w.shape[0]) for k, w in spec.weights(x, f_attrs)
                    .items() if w.stored]
        x = [y]
    return works, tensors


def at_activation_bits(work: Work, bits: int) -> Work:
    """``work`` of one op whose activations were counted at 8 bits (bytes = elements) with
    activations at ``bits``: the bytes :func:`~graphs.op_work` counts at that width."""
    return replace(work, input_bytes=bits_to_bytes(work.input_bytes, bits),
                   output_bytes=bits_to_bytes(work.output_bytes, bits))


# ---------------------------------------------------------------- sizes


def weight_bits(tensors: list[Tensor], fmt: str, sparsity: float, facts: LayerFacts,
                dtype_bits: int, bound: bool = False) -> int:
    """Stored bits of a layer's weights under ``fmt`` and ``sparsity``: values (Huffman-coded
    k-means indices at the measured rate), per-row scales of int and binary formats, the
    k-means codebook, sparse positions at the measured rate, biases at 32 (fp16: 16) bits.

    ``bound``: an upper bound on what any tensor of these shapes stores instead of the
    measured rates: a Huffman code never exceeds the fixed-width code of its alphabet
    (``format_bits`` per k-means index), and positions take at most
    :func:`~planner.compression.storage.index_bits_bound`.

    The definition for one pair: enumeration prices every pair of a layer at once with
    :func:`weight_bits_tables`, which is tested against this."""
    total = 0
    for key, n, rows in tensors:
        if key.endswith("bias"):
            total += bias_bits(n, fmt)
            continue
        if not key.endswith("weight"):
            total += n * max(16, dtype_bits)
            continue
        values = n - round(sparsity * n)
        if is_entropy_coded(fmt):
            rate = format_bits(fmt) if bound else facts.kmeans_bits_per_value.get(
                fmt, format_bits(fmt))
            total += round(values * rate)
            total += (1 << format_bits(fmt)) * SCALE_BITS
        else:
            total += values * format_bits(fmt)
            if fmt in ("int8", "int4", "binary"):
                total += rows * SCALE_BITS
        if sparsity > 0 and bound:
            total += index_bits_bound(n, values)
        elif sparsity > 0:
            rates = (facts.huffman_index_bits_per_weight if is_entropy_coded(fmt)
                     else facts.index_bits_per_weight)
            total += round(n * rates.get(sparsity, 1.0))
    return total


@dataclass(frozen=True)
class PairRates:
    """What the size of each (format, sparsity) pair depends on, as arrays over the pairs:
    computed once per unit and dtype, then applied to many pruned shapes."""

    pairs: tuple[tuple[str, float], ...]
    sparsities: tuple[float, ...]
    """Each pair's sparsity (what the roofline of a pair depends on)."""
    formats: np.ndarray
    """Each pair's format name (a numpy string array)."""
    sparsity: np.ndarray
    format_bits: np.ndarray
    entropy: np.ndarray
    """Huffman-coded k-means indices (and a codebook per tensor)."""
    row_scales: np.ndarray
    """One scale per output row (int and binary formats)."""
    kmeans_rate: np.ndarray
    """Measured bits per k-means index (the format's width where none was measured)."""
    index_rate: np.ndarray
    """Measured sparse-position bits per weight."""
    bias_bits: np.ndarray

    @classmethod
    def of(cls, pairs: Sequence[tuple[str, float]], facts: LayerFacts) -> PairRates:
        """The rates of ``pairs`` under a unit's measured ``facts``."""
        formats = [f for f, _ in pairs]
        return cls(
            tuple(pairs), tuple(s for _, s in pairs), np.array(formats, dtype=str),
            np.array([s for _, s in pairs], dtype=float),
            np.array([format_bits(f) for f in formats], dtype=np.int64),
            np.array([is_entropy_coded(f) for f in formats], dtype=bool),
            np.array([f in ("int8", "int4", "binary") for f in formats], dtype=bool),
            np.array([facts.kmeans_bits_per_value.get(f, format_bits(f)) for f in formats],
                     dtype=float),
            np.array([(facts.huffman_index_bits_per_weight if is_entropy_coded(f)
                       else facts.index_bits_per_weight).get(s, 1.0) for f, s in pairs],
                     dtype=float),
            np.array([bias_bits(1, f) for f in formats], dtype=np.int64))


def weight_bits_tables(shapes: Sequence[list[Tensor] | None], rates: PairRates,
                       dtype_bits: int, bound: bool = False) -> np.ndarray:
    """:func:`weight_bits` of each (format, sparsity) pair of ``rates`` for the tensors of
    many shapes of one layer (the same tensors, pruned differently) in one pass: shapes ×
    pairs, in bits. A row whose shape is None (the layer does not factorise there) is 0."""
    total = np.zeros((len(shapes), len(rates.pairs)), dtype=np.int64)
    families: dict[tuple[str, ...], list[int]] = {}
    for s, tensors in enumerate(shapes):
        if tensors is not None:
            families.setdefault(tuple(k for k, _, _ in tensors), []).append(s)
    value_rate = rates.format_bits.astype(float) if bound else rates.kmeans_rate
    codebook = np.where(rates.entropy, (1 << rates.format_bits) * SCALE_BITS, 0)
    scales = np.where(rates.row_scales, SCALE_BITS, 0)
    sparse = rates.sparsity > 0
    for keys, members in families.items():
        sizes = np.array([[(n, rows) for _, n, rows in shapes[s] or ()] for s in members],
                         dtype=np.int64).reshape(len(members), len(keys), 2)
        part = np.zeros((len(members), len(rates.pairs)), dtype=np.int64)
        for t, key in enumerate(keys):
            n, rows = sizes[:, t, :1], sizes[:, t, 1:]  # columns: one per shape
            if key.endswith("bias"):
                part += rates.bias_bits * n
                continue
            if not key.endswith("weight"):
                part += n * max(16, dtype_bits)
                continue
            values = n - np.round(rates.sparsity * n).astype(np.int64)
            part += np.where(rates.entropy,
                             np.round(values * value_rate).astype(np.int64) + codebook,
                             values * rates.format_bits + rows * scales)
            positions = (_index_bits_bounds(n, values) if bound
                         else np.round(n * rates.index_rate).astype(np.int64))
            part += np.where(sparse, positions, 0)
        total[members] = part
    return total


def _index_bits_bounds(n: np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`~planner.compression.storage.index_bits_bound` of each count of ``values``
    among ``n`` (arrays that broadcast together)."""
    zeros = n - values
    widths = np.array(list(INDEX_WIDTHS), dtype=np.int64).reshape(-1, *[1] * zeros.ndim)
    relative = (values[None] + zeros[None] // ((1 << widths) - 1)) * widths
    return np.minimum(n, relative.min(axis=0))


def plain_weight_bits(layer: Layer, in_shapes: list[tuple[int, ...]], dtype: str) -> int:
    """Stored bits of a plain layer's parameters (norm scales and shifts): at the dtype's
    width, at least 16 bits."""
    bits = max(16, DTYPE_BITS[dtype])
    spec = layer.spec.weights(in_shapes, _plain_attrs(layer, in_shapes))
    return sum(math.prod(w.shape) for w in spec.values() if w.stored) * bits


def _plain_attrs(layer: Layer, in_shapes: list[tuple[int, ...]]) -> Mapping[str, object]:
    if layer.op == "layer_norm":
        n = len(layer.attrs["normalized_shape"])
        return {**layer.attrs, "normalized_shape": in_shapes[0][len(in_shapes[0]) - n:]}
    return layer.attrs


def scaled_plain_work(layer: Layer, in_shapes: list[tuple[int, ...]],
                      out_shape: tuple[int, ...], bits: int) -> Work:
    """Work of a plain op after pruning: its FLOPs and activation bytes scale with the
    elements of the tensors it reads and writes (every such op is linear in channels)."""
    full = layer.work(weight_bits=0, activation_bits=bits)
    f_out = math.prod(out_shape) / max(1, math.prod(layer.output_shape))
    in_bytes = sum(
        bits_to_bytes(math.prod(s), bits) for s in in_shapes) if layer.spec.moves_data else 0
    return Work(macs=round(full.macs * f_out), flops=round(full.flops * f_out), params=0,
                weight_bytes=0, weight_read_bytes=0, input_bytes=in_bytes,
                output_bytes=bits_to_bytes(math.prod(out_shape), bits)
                if layer.spec.moves_data else 0)


# ---------------------------------------------------------------- enumeration


def placements(unit: Unit, graph: Graph, profile: HardwareProfile, space: OptionSpace
               ) -> list[tuple[str, str]]:
    """(processor, dtype) pairs where every op of the unit runs."""
    pairs = []
    for name, proc in profile.processors.items():
        if space.processors is not None and name not in space.processors:
            continue
        if unit.kind != "input" and not all(proc.runs_op(graph[m].op) for m in unit.members):
            continue
        for dtype in proc.dtypes:
            if space.dtypes is None or dtype in space.dtypes:
                pairs.append((name, dtype))
    if unit.kind == "input":
        host = profile.processors[profile.host]
        pairs = [(profile.host, d) for d in host.dtypes
                 if space.dtypes is None or d in space.dtypes]
    return pairs


Dimension = Literal["size", "latency", "energy", "error", "memory"]
ALL_DIMENSIONS: tuple[Dimension, ...] = ("size", "latency", "energy", "error", "memory")
TABLE_COLUMNS: tuple[Dimension, ...] = ("size", "latency", "energy", "error", "memory")
"""What options are compared in: stored bits, latency, energy, error and output bytes (the
bytes a plan keeps live and moves between processors)."""


def cell_key(processor: str, dims: tuple[Dimension, ...]) -> str:
    """What two options must share to be compared: the processor when latency or energy
    is read (transfers, per-processor costs). Output bytes are compared like any cost
    (fewer bytes never make live memory or a transfer dearer), so options of one
    processor in different activation dtypes compete in one cell."""
    return processor if {"latency", "energy"} & set(dims) else ""


def dominance_columns(dims: tuple[Dimension, ...]) -> list[int]:
    """The :data:`TABLE_COLUMNS` (by index) one option must not exceed to dominate another
    when a plan reads ``dims``: each read quantity, and output bytes when latency is read
    (transfers)."""
    read = set(dims) | ({"memory"} if "latency" in dims else set())
    return [k for k, d in enumerate(TABLE_COLUMNS) if d in read]


def unit_options(unit: Unit, graph: Graph, coupling: Coupling, profile: HardwareProfile,
                 space: OptionSpace, facts: LayerFacts,
                 dims: tuple[Dimension, ...] = ALL_DIMENSIONS, front: bool = True,
                 memo: CostMemo | None = None) -> OptionTable:
    """Every option of one unit not dominated in ``dims`` (the quantities that some budget
    or the objective reads, see :func:`dominance_columns`) by another option of the same
    *cell*: same keep ratios and same :func:`cell_key`, so the same consumers' costs and
    transfer links. Dropping them leaves the ILP optimum unchanged. Among options equal in
    those the one lowest in (size, latency, energy, error, output bytes) stays.
    ``front=False`` keeps every option (what-if analysis asks for a given one). Empty: the
    unit runs nowhere. ``memo``: costs shared with the other units of the problem."""
    memo = memo or CostMemo()
    cells: dict[str, list[tuple[str, str]]] = {}
    for processor, dtype in placements(unit, graph, profile, space):
        cells.setdefault(cell_key(processor, dims), []).append((processor, dtype))
    keep = dominance_columns(dims)
    variants = _Variants(space, facts, unit.layer)
    names = {"fmt": tuple(sorted({*space.formats, "fp32"})),
             "processor": tuple(sorted(profile.processors)),
             "dtype": tuple(sorted({d for p in profile.processors.values() for d in p.dtypes}))}
    fronts: list[tuple[_Shaped, list[_Block], np.ndarray]] = []
    runtime_fused = unit.kind == "plain" and unit.name in memo.fused_by_runtime(graph)
    shapes: list[_Shaped] = []
    tables = _SizeTables(shapes)
    for ratios in itertools.product(*[space.keep_ratios for _ in unit.groups]):
        shapes.append(_Shaped(unit, ratios, coupling, facts, memo, tables, len(shapes)))
    for shape in shapes:
        for places in cells.values():
            blocks = [b for processor, dtype in places
                      if (b := _block(shape, profile, space, variants, processor, dtype,
                                      runtime_fused)) is not None]
            if blocks:
                fronts.append((shape, blocks, _front_rows(
                    shape, blocks, keep if front else None,
                    space.resolution if front else 0.0)))
    if not fronts:
        return OptionTable.empty(unit.name, len(unit.groups))
    columns = _table_columns(unit, fronts, names)
    return OptionTable(unit.name, {k: columns[k] for k in FLOAT_COLUMNS},
                       {k: columns[k] for k in INT_COLUMNS},
                       {k: columns[k] for k in CODED_COLUMNS}, names,
                       columns["ratios"], columns["exact"], columns["pricing"])


class CostMemo:
    """Work and roofline terms shared by every unit of a problem: layers of equal shapes
    (repeated blocks, chains) are priced once. Pass one to every :func:`unit_options`
    call of a problem."""

    def __init__(self) -> None:
        self.works: dict[tuple[object, ...], tuple[Work, list[Tensor]] | None] = {}
        self.factors: dict[tuple[object, ...], tuple[list[Work], list[Tensor]] | None] = {}
        self.terms: dict[tuple[object, ...], tuple[np.ndarray, float, np.ndarray]] = {}
        self.blocks: dict[tuple[object, ...], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.per_channel: dict[tuple[object, ...], bool] = {}
        """Whether the tensors of a layer's shape (a :meth:`factored` key) hold per-channel
        tensors other than weights and biases."""
        self._signatures: dict[str, tuple[object, ...]] = {}
        self._residual: dict[int, frozenset[str]] = {}

    def fused_by_runtime(self, graph: Graph) -> frozenset[str]:
        """Layers that fuse into a conv only on processors with ``fuses_residual_add`` (the
        residual add after a conv and the activation after that add)."""
        if id(graph) not in self._residual:
            self._residual[id(graph)] = frozenset(
                set(fused_layers(graph, residual_add=True)) - set(fused_layers(graph)))
        return self._residual[id(graph)]

    def signature(self, unit: Unit) -> tuple[object, ...]:
        """What the work of ``unit``'s layer depends on besides its pruned shapes."""
        if unit.name not in self._signatures:
            layer = unit.layer
            self._signatures[unit.name] = (
                layer.op, repr(sorted(layer.attrs.items())),
                tuple(map(tuple, layer.input_shapes)), unit.folds_norm)
        return self._signatures[unit.name]

    def work(self, unit: Unit, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
             rank: float, bits: int) -> tuple[Work, list[Tensor]] | None:
        """Work (activations at ``bits``) and weight tensors of ``unit``'s layer at these
        shapes (:func:`factor_works`, memoised for every width)."""
        key = (self.signature(unit), in_shape, out_shape, rank, bits)
        if key not in self.works:
            self.works[key] = _summed_at(self.factored(unit, in_shape, out_shape, rank), bits)
        return self.works[key]

    def factored(self, unit: Unit, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 rank: float) -> tuple[list[Work], list[Tensor]] | None:
        """:func:`factor_works` of ``unit``'s layer at these shapes, memoised."""
        shapes = (self.signature(unit), in_shape, out_shape, rank)
        if shapes not in self.factors:
            self.factors[shapes] = factor_works(unit.layer, in_shape, out_shape, rank,
                                                unit.folds_norm)
        return self.factors[shapes]

    def block_terms(self, stored: _Stored, variants: _Variants, name: str,
                    processor: Processor, dtype: str, op_class: str, gemm: Gemm | None,
                    op: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`roofline` of each candidate of ``stored`` (rank by rank) on
        ``processor`` (called ``name``): compute s, activation s, joules without weights."""
        key = (stored.terms_key, name, dtype, op_class, op, gemm)
        if key not in self.blocks:
            terms = [self.roofline(work, rates, variants.speedup(rates, name, processor),
                                   name, processor, dtype, op_class, gemm, op)
                     for work, rates in stored.parts]
            self.blocks[key] = (np.concatenate([c for c, _, _ in terms]),
                                np.repeat([a for _, a, _ in terms],
                                          [len(c) for c, _, _ in terms]),
                                np.concatenate([e for _, _, e in terms]))
        return self.blocks[key]

    def roofline(self, work: Work, rates: PairRates, speedup: np.ndarray, name: str,
                 processor: Processor, dtype: str, op_class: str, gemm: Gemm | None,
                 op: str) -> tuple[np.ndarray, float, np.ndarray]:
        """(compute s, activation s, joules without weights) of each pair of ``rates``
        on ``processor`` (called ``name``): the roofline with the weight term apart."""
        key = (work.macs, work.flops, work.input_bytes + work.output_bytes, name, dtype,
               op_class, op, gemm, rates.sparsities)
        if key not in self.terms:
            compute, activation, _, energy = roofline_terms(
                work.macs, work.flops, 0, work.input_bytes + work.output_bytes, speedup,
                processor, dtype, op_class, gemm=gemm, op=op)
            n = len(rates.pairs)
            self.terms[key] = (np.zeros(n) + compute, float(activation), np.zeros(n) + energy)
        return self.terms[key]


class _Variants:
    """(format, sparsity) pairs a dtype and rank allow: their rates, summed weight errors
    and, per processor, the speed-up of their sparsity."""

    def __init__(self, space: OptionSpace, facts: LayerFacts, layer: Layer) -> None:
        self.space, self.facts = space, facts
        self.read_fraction = _read_fraction(layer)
        self._cache: dict[tuple[str, bool], tuple[PairRates, np.ndarray, np.ndarray]] = {}
        self._every: dict[bool, PairRates] = {}
        self._speedups: dict[tuple[int, str], np.ndarray] = {}
        self._layouts: dict[tuple[str, tuple[float, ...]], _Layout] = {}

    def every(self, factorised: bool) -> PairRates:
        """The rates of every pair of the space (a dtype allows some of them)."""
        if factorised not in self._every:
            pairs = [(f, s) for f in self.space.formats
                     for s in self.space.sparsities if s == 0 or not factorised]
            self._every[factorised] = PairRates.of(pairs, self.facts)
        return self._every[factorised]

    def of(self, dtype: str, factorised: bool) -> tuple[PairRates, np.ndarray, np.ndarray]:
        """The pairs' rates, summed weight errors, and positions among :meth:`every`."""
        key = (dtype, factorised)
        if key not in self._cache:
            every = self.every(factorised).pairs
            index = np.array([k for k, (f, _) in enumerate(every) if format_fits(f, dtype)],
                             dtype=np.int64)
            pairs = [every[k] for k in index]
            errors = np.array([self.facts.format_error.get(f, 0.0)
                               + self.facts.sparsity_error.get(s, 0.0) for f, s in pairs])
            self._cache[key] = PairRates.of(pairs, self.facts), errors, index
        return self._cache[key]

    def layout(self, dtype: str, ranks: tuple[float, ...]) -> _Layout:
        """The candidates of a shape in ``dtype`` at these low-rank fractions (those that
        factorise it), shared by every shape with the same ones."""
        key = (dtype, ranks)
        if key not in self._layouts:
            self._layouts[key] = _Layout.of(self, dtype, ranks)
        return self._layouts[key]

    def speedup(self, rates: PairRates, name: str, processor: Processor) -> np.ndarray:
        """Each pair's sparse speed-up on ``processor`` (called ``name``)."""
        key = (id(rates), name)
        if key not in self._speedups:
            self._speedups[key] = np.array([sparse_speedup(processor, s)
                                            for _, s in rates.pairs])
        return self._speedups[key]


@dataclass(frozen=True)
class _Layout:
    """The order of a unit's candidates in one dtype at some low-rank fractions (rank by
    rank, the pairs the dtype allows), and what of them depends on neither the keep
    ratios nor the processor."""

    ranks: tuple[float, ...]
    rates: list[PairRates]
    """The pairs of each rank (:meth:`_Variants.of`)."""
    every: list[PairRates]
    """Every pair of the space at each rank, and the positions of the dtype's among them."""
    index: list[np.ndarray]
    counts: list[int]
    rank: np.ndarray
    formats: np.ndarray
    sparsity: np.ndarray
    pair_errors: np.ndarray
    """Each candidate's format and sparsity errors (summed)."""
    rank_errors: np.ndarray
    """Each candidate's low-rank error (0 at rank 1)."""
    exact: np.ndarray
    """Whether each candidate's stored bits are exact on the unpruned layer
    (:func:`_exact_sizes`)."""
    exact_pruned: np.ndarray
    """The same on a pruned layer."""
    sparsities: tuple[tuple[float, ...], ...]
    """Each rank's pairs' sparsities (what their roofline depends on)."""

    @classmethod
    def of(cls, variants: _Variants, dtype: str, ranks: tuple[float, ...]) -> _Layout:
        """The layout of ``variants``' unit in ``dtype`` at ``ranks``."""
        found = [variants.of(dtype, rank < 1) for rank in ranks]
        rates = [r for r, _, _ in found]
        facts = variants.facts
        counts = [len(r.pairs) for r in rates]
        return cls(
            ranks, rates, [variants.every(rank < 1) for rank in ranks],
            [index for _, _, index in found], counts, np.repeat(ranks, counts),
            np.concatenate([r.formats for r in rates]),
            np.concatenate([r.sparsity for r in rates]),
            np.concatenate([errors for _, errors, _ in found]),
            np.repeat([facts.rank_error.get(rank, 0.0) for rank in ranks], counts),
            np.concatenate([_exact_sizes(r, rank, True, facts)
                            for rank, r in zip(ranks, rates, strict=True)]),
            np.concatenate([_exact_sizes(r, rank, False, facts)
                            for rank, r in zip(ranks, rates, strict=True)]),
            tuple(r.sparsities for r in rates))


class _Shaped:
    """A unit at one combination of keep ratios: shapes, errors, and caches of work and
    stored sizes shared by its cells."""

    def __init__(self, unit: Unit, ratios: tuple[float, ...], coupling: Coupling,
                 facts: LayerFacts, memo: CostMemo, tables: _SizeTables, index: int
                 ) -> None:
        self.unit, self.ratios, self.facts, self.memo = unit, ratios, facts, memo
        self.tables, self.index = tables, index
        """The stored-bit tables of every combination of the unit's keep ratios, and the
        row of this one in them."""
        self.op_class = unit.layer.op_class
        by_group = dict(zip(unit.groups, ratios, strict=True))
        self.in_shapes, self.out_shape = pruned_io(unit.layer, coupling, by_group)
        self.keep_in, self.keep_out = keep_ratios(unit, coupling, by_group)
        self.prune_error = facts.prune_error.get(self.keep_out, 0.0) \
            if unit.kind == "compressible" else 0.0
        self.full = (tuple(unit.layer.input_shapes[0]) == self.in_shapes[0]
                     and self.out_shape == unit.layer.output_shape) if unit.layer.inputs \
            else True
        self._overheads: dict[tuple[str, str], float] = {}
        self._stored: dict[str, _Stored | None] = {}

    def overhead_s(self, name: str, processor: Processor, dtype: str) -> float:
        """The layer's per-op overhead on ``processor`` (called ``name``) computing in
        ``dtype`` and the seconds its fused activations still cost there."""
        if (name, dtype) not in self._overheads:
            layer = self.unit.layer
            self._overheads[name, dtype] = (
                processor.overhead_of(self.op_class, layer.op, dtype)
                + self.fused_activation_s(processor))
        return self._overheads[name, dtype]

    def fused_activation_s(self, processor: Processor) -> float:
        """Seconds the unit's fused activations still cost on ``processor`` at these
        shapes (each is as large as the root's output)."""
        elements = math.prod(self.out_shape)
        return sum(processor.fused_activation_s(op, elements) for op in self.unit.activations)

    @cached_property
    def gemm(self) -> Gemm | None:
        """The matrix product the layer computes at these shapes (a factorised layer is
        priced at its unfactorised shape)."""
        layer = self.unit.layer
        attrs = pruned_attrs(layer, self.in_shapes[0], self.out_shape) \
            if self.unit.kind == "compressible" else layer.attrs
        return gemm_shape(layer.op, self.in_shapes, self.out_shape, attrs)

    def stored(self, dtype: str, variants: _Variants, ranks: Sequence[float]
               ) -> _Stored | None:
        """The compressible unit's candidates here in ``dtype`` (:func:`_stored`), shared
        by every processor that computes in it."""
        if dtype not in self._stored:
            self._stored[dtype] = _stored(self, dtype, variants, ranks)
        return self._stored[dtype]

    def work(self, rank: float, bits: int) -> tuple[Work, list[Tensor]] | None:
        """Work and weight tensors at low-rank fraction ``rank`` and activation ``bits``."""
        return self.memo.work(self.unit, self.in_shapes[0], self.out_shape, rank, bits)

    def tensors(self, rank: float) -> list[Tensor] | None:
        """The weight tensors at low-rank fraction ``rank`` (None: it does not factorise
        the layer here)."""
        found = self.memo.factored(self.unit, self.in_shapes[0], self.out_shape, rank)
        return None if found is None else found[1]

    def wide(self, rank: float, dtype: str) -> int:
        """The width of the layer's per-channel tensors other than weights and biases at
        low-rank fraction ``rank`` in ``dtype`` (0: it has none), in bits."""
        key = (self.memo.signature(self.unit), self.in_shapes[0], self.out_shape, rank)
        if key not in self.memo.per_channel:
            self.memo.per_channel[key] = _per_channel(self.tensors(rank) or [])
        return max(16, DTYPE_BITS[dtype]) if self.memo.per_channel[key] else 0


class _SizeTables:
    """:func:`weight_bits_tables` of every combination of a unit's keep ratios (``shapes``,
    in order), computed for all of them on the first request of a (rank, width of
    per-channel tensors, bound, pairs)."""

    def __init__(self, shapes: list[_Shaped]) -> None:
        self.shapes = shapes
        self._tables: dict[tuple[float, int, bool, int], np.ndarray] = {}
        self._joined: dict[tuple[int, tuple[int, ...], bool], np.ndarray] = {}

    def of(self, rank: float, wide: int, bound: bool, rates: PairRates) -> np.ndarray:
        """Shapes × pairs of ``rates``: stored bits (upper bounds when ``bound``)."""
        key = (rank, wide, bound, id(rates))  # rates come from _Variants' cache
        if key not in self._tables:
            self._tables[key] = weight_bits_tables(
                [shape.tensors(rank) for shape in self.shapes], rates, wide, bound)
        return self._tables[key]

    def joined(self, layout: _Layout, wides: tuple[int, ...], bound: bool) -> np.ndarray:
        """Shapes × the candidates of ``layout``: :meth:`of` of each rank at the pairs its
        dtype allows, side by side (``wides``: :meth:`_Shaped.wide` of each rank)."""
        key = (id(layout), wides, bound)  # layouts come from _Variants' cache
        if key not in self._joined:
            self._joined[key] = np.concatenate(
                [self.of(rank, wide, bound, every)[:, index] for rank, wide, every, index
                 in zip(layout.ranks, wides, layout.every, layout.index, strict=True)], axis=1)
        return self._joined[key]


@dataclass
class _Stored:
    """What a unit's candidates at one combination of keep ratios and one dtype store,
    wherever they run: one per (rank, format, sparsity) the dtype allows, ranks in the
    space's order (a plain or input unit: one fp32 candidate)."""

    rank: np.ndarray
    formats: np.ndarray
    """Each candidate's weight format (a numpy string array)."""
    sparsity: np.ndarray
    size_bits: np.ndarray
    error: np.ndarray
    """Weight and activation error (before sensitivity)."""
    exact: np.ndarray
    """Whether each candidate's stored bits are exact (``_Shaped.exact_sizes``)."""
    macs: np.ndarray
    read_bytes: np.ndarray
    """Weight bytes each execution reads."""
    read_fraction: float = 1.0
    """The share of the stored weights each execution reads (:func:`_read_fraction`)."""
    parts: list[tuple[Work, PairRates]] = field(default_factory=list)
    """The work and pairs of each rank, in order (what the roofline prices; empty for a
    plain or input unit)."""
    bounds: Callable[[], np.ndarray] | None = None
    """Upper bounds on each candidate's stored bits (None: every size is exact)."""
    terms_key: tuple[object, ...] = ()
    """What the roofline of the candidates depends on besides the processor and dtype:
    each rank's work (the object the CostMemo holds, alive as long as it) and
    sparsities."""
    _bound_bits: np.ndarray | None = None

    def bound_bits(self) -> np.ndarray:
        """:attr:`bounds`, computed on first use (-1 where there are none)."""
        if self._bound_bits is None:
            self._bound_bits = (self.bounds() if self.bounds is not None
                                else np.full(len(self.size_bits), -1, np.int64))
        return self._bound_bits

    @classmethod
    def single(cls, size_bits: int, error: float, macs: int) -> _Stored:
        """The one fp32 candidate of a plain or input unit (its size is exact)."""
        return cls(np.ones(1), np.array(["fp32"]), np.zeros(1),
                   np.array([size_bits], np.int64), np.array([error]), np.ones(1, bool),
                   np.array([macs], np.int64), np.zeros(1))


@dataclass
class _Block:
    """The candidates of one cell on one processor at one dtype: ``stored``'s, with what
    running them there costs."""

    processor: str
    dtype: str
    stored: _Stored
    latency_s: np.ndarray
    energy_j: np.ndarray
    act_error: float
    compute_s: np.ndarray | None = None
    activation_s: np.ndarray | None = None
    base_energy_j: np.ndarray | None = None
    pricing: tuple[float, float, float, float] = (0.0, 1.0, 1.0, 0.0)
    """(overhead s, read fraction, DRAM bytes/s, DRAM J/byte)."""


def _stored(shape: _Shaped, dtype: str, variants: _Variants, ranks: Sequence[float]
            ) -> _Stored | None:
    """The compressible unit's candidates at ``shape`` in ``dtype`` (None: none)."""
    bits = act_bits(dtype)
    found = [(rank, w) for rank in ranks if (w := shape.work(rank, bits)) is not None
             and variants.of(dtype, rank < 1)[0].pairs]
    if not found:
        return None
    layout = variants.layout(dtype, tuple(rank for rank, _ in found))
    wides = tuple(shape.wide(rank, dtype) for rank, _ in found)
    size_bits = shape.tables.joined(layout, wides, False)[shape.index]
    fraction = variants.read_fraction
    tables, index = shape.tables, shape.index
    return _Stored(
        layout.rank, layout.formats, layout.sparsity, size_bits,
        layout.pair_errors + (shape.prune_error + layout.rank_errors
                              + shape.facts.act_error.get(dtype, 0.0)),
        layout.exact if shape.full else layout.exact_pruned,
        np.repeat([w.macs for _, (w, _) in found], layout.counts).astype(np.int64),
        np.ceil(np.ceil(size_bits / 8) * fraction), fraction,
        [(w, rates) for (_, (w, _)), rates in zip(found, layout.rates, strict=True)],
        lambda: tables.joined(layout, wides, True)[index],
        (tuple([id(w) for _, (w, _) in found]), layout.sparsities))


def _block(shape: _Shaped, profile: HardwareProfile, space: OptionSpace,
           variants: _Variants, processor: str, dtype: str,
           runtime_fused: bool = False) -> _Block | None:
    """The unit's candidates on one processor at one dtype (None: it does not run there
    in that dtype). ``runtime_fused``: a plain unit
    the runtime fuses into the conv before it where the processor ``fuses_residual_add``,
    free on such a processor (a unit's options cannot see where the conv runs; profiles
    with that flag are one-processor host calibrations)."""
    unit, layer = shape.unit, shape.unit.layer
    bits = act_bits(dtype)
    proc = profile.processors[processor]
    act_error = shape.facts.act_error.get(dtype, 0.0)
    zero = np.zeros(1)
    if unit.kind == "input":
        return _Block(processor, dtype, _Stored.single(0, act_error, 0), zero, zero, act_error)
    if unit.kind == "plain":
        size = plain_weight_bits(layer, shape.in_shapes, dtype)
        work = _with_weights(scaled_plain_work(layer, shape.in_shapes, shape.out_shape, bits),
                             size)
        cost = roofline(unit.name, work, layer.op, shape.op_class, processor, proc, dtype,
                        gemm=shape.gemm)
        if not isinstance(cost, LayerCost):
            return None
        if runtime_fused and proc.fuses_residual_add:
            # the add is free; an activation after it runs in the conv's pass over its output
            cost = fused_cost(unit.name, processor, dtype,
                              proc.fused_activation_s(layer.op, math.prod(shape.out_shape))
                              if layer.spec.fuses else 0.0)
        return _Block(processor, dtype, _Stored.single(size, act_error, work.macs),
                      zero + cost.latency_s + shape.fused_activation_s(proc),
                      zero + cost.cost.energy_j, act_error)
    if not (proc.runs_op(layer.op) and dtype in proc.peak_ops_per_s):
        return None
    stored = shape.stored(dtype, variants, space.ranks)
    if stored is None:
        return None
    # the roofline with the weight term apart, so a re-measured size re-prices exactly
    compute, activation, base = shape.memo.block_terms(
        stored, variants, processor, proc, dtype, shape.op_class, shape.gemm, layer.op)
    bandwidth = proc.dram_bytes_per_s.value
    joules = proc.energy_per_dram_byte_j.value
    overhead = shape.overhead_s(processor, proc, dtype)
    latency = np.maximum(compute, stored.read_bytes / bandwidth + activation) + overhead
    return _Block(processor, dtype, stored, latency, base + stored.read_bytes * joules,
                  act_error, compute, activation, base,
                  (overhead, stored.read_fraction, bandwidth, joules))


def _front_rows(shape: _Shaped, blocks: list[_Block], keep: list[int] | None,
               resolution: float) -> np.ndarray:
    """The cell's candidates (the blocks' candidates in order) on its Pareto front in the
    dimensions ``keep`` (None: every candidate), sorted."""
    counts = [len(b.latency_s) for b in blocks]
    if keep is None:
        return np.arange(sum(counts))
    table = np.column_stack([
        np.concatenate([b.stored.size_bits for b in blocks]),
        np.concatenate([b.latency_s for b in blocks]),
        np.concatenate([b.energy_j for b in blocks]),
        np.concatenate([b.stored.error for b in blocks]),
        np.repeat([_out_bytes(shape, b.dtype) for b in blocks], counts)]).astype(float)
    if resolution > 0:
        step = math.log1p(resolution)
        positive = table > 0
        table[positive] = np.exp(np.ceil(np.log(table[positive]) / step) * step)
    return np.array(pareto_indices(table, keep), dtype=np.int64)


def _out_bytes(shape: _Shaped, dtype: str) -> int:
    """Bytes of the unit's output at these shapes, stored in ``dtype``."""
    return bits_to_bytes(math.prod(shape.out_shape), act_bits(dtype))


def _table_columns(unit: Unit, fronts: list[tuple[_Shaped, list[_Block], np.ndarray]],
                   names: Mapping[str, tuple[str, ...]]) -> dict[str, np.ndarray]:
    """The columns of the unit's :class:`OptionTable` (choice fields coded by ``names``):
    of each cell (its shapes, its blocks, the rows of their candidates that stay), the
    rows that stay, in order. Built in one pass over every block of the unit."""
    blocks = [b for _, cell, _ in fronts for b in cell]
    shapes = [shape for shape, cell, _ in fronts for _ in cell]
    counts = np.array([len(b.latency_s) for b in blocks], dtype=np.int64)
    per_cell = np.array([sum(len(b.latency_s) for b in cell) for _, cell, _ in fronts],
                        dtype=np.int64)
    rows = np.concatenate([start + kept for start, (_, _, kept)
                           in zip(np.cumsum(per_cell) - per_cell, fronts, strict=True)])
    picked = np.repeat(np.arange(len(blocks)), counts)[rows]
    n = len(rows)

    def per_block(values: Sequence[object], dtype: type) -> np.ndarray:
        return np.array(values, dtype=dtype)[picked]

    def stored(field: str) -> np.ndarray:
        return np.concatenate([getattr(b.stored, field) for b in blocks])[rows]

    exact = stored("exact")
    loose = ~exact & per_block([b.stored.bounds is not None for b in blocks], bool)
    needed = np.zeros(len(blocks), bool)
    needed[picked[loose]] = True  # bounds only where a loose candidate stays
    bound = np.where(loose, np.concatenate([
        b.stored.bound_bits() if needed[k] else np.full(len(b.latency_s), -1, np.int64)
        for k, b in enumerate(blocks)])[rows], -1)
    pricing = np.full((n, PRICING_TERMS), np.nan)
    if loose.any():  # latency and energy follow the size measured later
        pricing[loose] = _weight_pricing(blocks, rows, picked)[loose]
    act_error = per_block([b.act_error for b in blocks], float)
    code = {k: {name: i for i, name in enumerate(v)} for k, v in names.items()
            if k != "fmt"}
    return {
        "keep_in": per_block([s.keep_in for s in shapes], float),
        "keep_out": per_block([s.keep_out for s in shapes], float),
        "sparsity": stored("sparsity").astype(float), "rank": stored("rank").astype(float),
        "latency_s": np.concatenate([b.latency_s for b in blocks])[rows].astype(float),
        "energy_j": np.concatenate([b.energy_j for b in blocks])[rows].astype(float),
        "weight_error": stored("error").astype(float) - act_error, "act_error": act_error,
        "size_bits": stored("size_bits").astype(np.int64), "size_bound_bits": bound,
        "out_bytes": per_block([_out_bytes(s, b.dtype) for s, b in zip(shapes, blocks,
                                                                        strict=True)],
                               np.int64),
        "macs": stored("macs").astype(np.int64),
        "fmt": np.searchsorted(np.array(names["fmt"]), stored("formats")).astype(np.int64),
        "processor": per_block([code["processor"][b.processor] for b in blocks], np.int64),
        "dtype": per_block([code["dtype"][b.dtype] for b in blocks], np.int64),
        "ratios": np.array([s.ratios for s in shapes], dtype=float).reshape(
            len(shapes), len(unit.groups))[picked],
        "exact": exact, "pricing": pricing,
    }


def _weight_pricing(blocks: list[_Block], rows: np.ndarray, picked: np.ndarray
                    ) -> np.ndarray:
    """The :class:`WeightPricing` terms (rows × its fields) of the candidates at ``rows``
    among the blocks' concatenated candidates (``picked``: each row's block): how latency
    and energy follow the stored size. Rows of blocks without pricing are NaN."""
    def each(k: str) -> np.ndarray:
        return np.concatenate([getattr(b, k) if getattr(b, k) is not None
                               else np.full(len(b.latency_s), np.nan) for b in blocks])[rows]

    overhead, fraction, bandwidth, joules = np.array(
        [b.pricing for b in blocks], dtype=float)[picked].T
    return np.column_stack([each("compute_s"), each("activation_s"), overhead, fraction,
                            bandwidth, each("base_energy_j"), joules])


def _per_channel(tensors: list[Tensor]) -> bool:
    """Whether a layer stores per-channel tensors other than weights and biases (stored at
    the dtype's width)."""
    return any(not k.endswith(("weight", "bias")) for k, _, _ in tensors)


def _exact_sizes(rates: PairRates, rank: float, full: bool, facts: LayerFacts) -> np.ndarray:
    """Whether each pair's stored bits are exact: its size rates (Huffman-coded k-means
    indices, sparse positions) were measured on the very tensor it stores, i.e. the
    unpruned (``full``), unfactorised weights at that sparsity (k-means: dense). Dense
    formats that are not entropy-coded are always exact (values × bits, per-row scales:
    no measured rate involved)."""
    plain = (rates.sparsity == 0) & ~rates.entropy
    if not full or rank < 1:
        return plain
    kmeans = np.array([f in facts.kmeans_bits_per_value for f in rates.formats], dtype=bool)
    index = np.array([s in facts.index_bits_per_weight for s in rates.sparsity], dtype=bool)
    return plain | np.where(rates.entropy, (rates.sparsity == 0) & kmeans, index)


def _with_weights(work: Work, size_bits: int, read_fraction: float = 1.0) -> Work:
    """Work whose weights are the stored bits; ``read_fraction`` of them are read per
    execution (1, except an embedding, which reads only its gathered rows)."""
    nbytes = math.ceil(size_bits / 8)
    return Work(work.macs, work.flops, work.params, nbytes, math.ceil(nbytes * read_fraction),
                work.input_bytes, work.output_bytes)


def _read_fraction(layer: Layer) -> float:
    if layer.op != "embedding":
        return 1.0
    return min(1.0, math.prod(layer.input_shapes[0]) / layer.attrs["num_embeddings"])


def pareto_indices(table: np.ndarray, dims: list[int] | None = None) -> list[int]:
    """Rows of ``table`` (columns as :data:`TABLE_COLUMNS`, lower is better) not dominated in
    the columns ``dims`` (all by default) by another row; among rows equal in ``dims`` the
    one lowest in every column, in order, stays. Sorted.

    >>> t = np.array([[8, 1.0, 1.0, 0.1], [16, 2.0, 1.0, 0.0]])
    >>> pareto_indices(t), pareto_indices(t, [0, 1])
    ([0, 1], [0])
    """
    dims = list(range(table.shape[1])) if dims is None else dims
    if len(table) <= 1:
        return list(range(len(table)))
    order = np.lexsort([table[:, i] for i in reversed([*dims, *range(table.shape[1])])])
    if not dims:
        return [int(order[0])]
    keys = table[order][:, dims]
    if len(dims) == 1:
        return [int(order[0])]
    if len(dims) == 2:  # rows before i are no higher in the first key: compare the second
        lowest = np.minimum.accumulate(keys[:, 1])
        dominated = np.concatenate([[False], lowest[:-1] <= keys[1:, 1]])
    else:
        below = np.all(keys[None, :, :] <= keys[:, None, :], axis=2)  # [i, j]: row j ≤ i
        dominated = np.tril(below, k=-1).any(axis=1)
    return np.sort(order[~dominated]).tolist()


__all__ = [
    "ALL_DIMENSIONS",
    "DEFAULT_FORMATS",
    "DEFAULT_KEEP",
    "DEFAULT_RANKS",
    "DEFAULT_SPARSITY",
    "CostMemo",
    "Dimension",
    "LayerFacts",
    "OptionSpace",
    "format_fits",
    "pareto_indices",
    "unit_options",
]
