"""The roofline cost model: latency and energy of layers on the processors of a profile.

One layer on one processor at one dtype costs ``max(compute, memory) + launch overhead``:

- compute time = FLOPs / (peak ops/s at the dtype × the op class's efficiency), with the MAC
  part sped up on processors that skip zeros when the weights are sparse enough;
- memory time = weight bytes read from DRAM (or from on-chip memory when the processor keeps
  weights on chip and the whole model fits) + activation bytes read and written, at on-chip
  bandwidth when the layer's activations fit on chip, else at DRAM bandwidth.

Layers fused into their producer at deployment (batch norm after a conv or linear, and the
activation after them, as TFLite, NNAPI, Core ML and TensorRT do) and views (reshape,
dropout) are free. An op or a dtype the processor cannot run is :class:`Infeasible` with a
reason, never a number. Costs are values you add: a model's cost is the sum of its layers'
and of the transfers where consecutive layers change processor, each tensor charged once
per processor it moves to.

Whole models (placements and transfers) are in :mod:`planner.cost.placement`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np

from graphs import OPS, Graph, Layer, Summable, Work, folds_into
from hardware_profiles import DTYPE_BITS, Dtype, HardwareProfile, Processor

Num = float | np.ndarray
"""A count or an array of counts (see :func:`roofline_terms`)."""
Bound = Literal["compute", "memory", "free"]
SparsityPattern = Literal["unstructured", "2:4"]
Gemm = tuple[float, float, float]
"""``(m, n, k)`` of a matrix product: output channels, output positions, reduction."""
Shape = tuple[int, ...]

FUSABLE_ACTIVATIONS = frozenset(kind for kind, spec in OPS.items() if spec.fuses)
"""Activations runtimes fuse into the conv or linear before them (``OpSpec.fuses``)."""


@dataclass(frozen=True)
class Cost(Summable):
    """Seconds, joules and DRAM bytes of some execution; add costs with ``+``."""

    latency_s: float = 0.0
    compute_s: float = 0.0
    memory_s: float = 0.0
    overhead_s: float = 0.0
    transfer_s: float = 0.0
    energy_j: float = 0.0
    dram_bytes: float = 0.0



@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer on one processor at one dtype, and what bounds it."""

    layer: str
    processor: str
    dtype: str
    cost: Cost
    bound: Bound
    flops: int
    traffic_bytes: int
    unknown_compute: bool = False

    @property
    def latency_s(self) -> float:
        """End-to-end seconds of this layer."""
        return self.cost.latency_s

    @property
    def intensity(self) -> float:
        """FLOPs per byte of memory traffic."""
        return self.flops / self.traffic_bytes if self.traffic_bytes else math.inf

    @property
    def achieved_ops_per_s(self) -> float:
        """FLOPs per second this layer reaches (for the roofline chart)."""
        return self.flops / self.cost.latency_s if self.cost.latency_s else 0.0


@dataclass(frozen=True)
class Infeasible:
    """A layer that cannot run on a processor at a dtype, and why."""

    layer: str
    processor: str
    dtype: str
    reason: str

    @property
    def latency_s(self) -> float:
        """Infinite: the placement is not possible."""
        return math.inf


def dtype_bits(dtype: str) -> int:
    """Bits per element of a compute dtype."""
    return DTYPE_BITS[dtype]


def roofline(name: str, work: Work, op: str, op_class: str, processor_name: str,
             processor: Processor, dtype: str, *, sparsity: float = 0.0,
             pattern: SparsityPattern = "unstructured",
             weights_on_chip: bool = False, gemm: Gemm | None = None) -> LayerCost | Infeasible:
    """Cost of one execution with ``work`` (already at the dtype's byte widths).

    ``sparsity`` is the fraction of zero weights, in ``pattern`` (speeds up the MACs only on
    processors that skip that pattern); ``weights_on_chip`` reads weights at on-chip
    bandwidth; ``gemm`` is the matrix product the op computes (:func:`gemm_shape`), which a
    calibrated profile's efficiency curves price.
    """
    if not processor.runs_op(op):
        return Infeasible(name, processor_name, dtype, f"{processor_name} does not run {op}")
    if dtype not in processor.peak_ops_per_s:
        return Infeasible(name, processor_name, dtype,
                          f"{processor_name} computes in {', '.join(processor.dtypes)}, "
                          f"not {dtype}")
    if work.flops == 0 and work.traffic_bytes == 0:
        return LayerCost(name, processor_name, dtype, Cost(), "free", 0, 0,
                         unknown_compute=op == "opaque")
    compute_s, memory_s, dram_bytes, energy = roofline_terms(
        work.macs, work.flops, work.weight_read_bytes, work.input_bytes + work.output_bytes,
        sparse_speedup(processor, sparsity, pattern), processor, dtype, op_class,
        weights_on_chip, gemm, op)
    compute_s, memory_s = float(compute_s), float(memory_s)
    dram_bytes, energy = float(dram_bytes), float(energy)
    overhead_s = processor.overhead_of(op_class, op, dtype)
    cost = Cost(latency_s=max(compute_s, memory_s) + overhead_s, compute_s=compute_s,
                memory_s=memory_s, overhead_s=overhead_s, energy_j=energy,
                dram_bytes=dram_bytes)
    return LayerCost(name, processor_name, dtype, cost,
                     "compute" if compute_s >= memory_s else "memory", work.flops,
                     work.traffic_bytes, unknown_compute=op == "opaque")


def roofline_terms(macs: Num, flops: Num, weight_read_bytes: Num, activation_bytes: Num,
                   speedup: Num, processor: Processor, dtype: str, op_class: str,
                   weights_on_chip: bool = False, gemm: Gemm | None = None,
                   op: str | None = None) -> tuple[Num, Num, Num, Num]:
    """Compute seconds, memory seconds, DRAM bytes and joules of one execution; every count
    may be a numpy array (the option enumeration prices many variants of a layer at once).

    >>> from hardware_profiles import load
    >>> cpu = load("raspberry_pi_5").processors["cpu"]
    >>> c, m, d, e = roofline_terms(np.array([1e6, 1e9]), np.array([2e6, 2e9]),
    ...                             np.array([4e6, 4e6]), 0, 1.0, cpu, "fp32", "conv")
    >>> bool(c[0] < m[0]) and bool(c[1] > m[1])  # small layer memory-, large compute-bound
    True
    """
    which = cast(Dtype, dtype)
    peak = (processor.peak_ops_per_s[which].value
            * processor.efficiency_at(op_class, gemm, op, dtype))
    mac_flops = np.multiply(macs, 2)
    compute_s = (mac_flops / speedup + (np.subtract(flops, mac_flops))) / peak
    onchip_bw = processor.onchip_bytes_per_s.value
    dram_bw = processor.dram_bytes_per_s.value
    on_chip = np.less_equal(activation_bytes, processor.onchip_bytes.value)
    weight_bw = onchip_bw if weights_on_chip else dram_bw
    memory_s = np.divide(weight_read_bytes, weight_bw) + np.divide(
        activation_bytes, np.where(on_chip, onchip_bw, dram_bw))
    dram_bytes = np.multiply(weight_read_bytes, 0 if weights_on_chip else 1) + np.where(
        on_chip, 0, activation_bytes)
    onchip_bytes = np.add(weight_read_bytes, activation_bytes) - dram_bytes
    e_mac = processor.energy_per_mac_j[which].value
    energy = (np.multiply(macs, e_mac) + np.subtract(flops, mac_flops) / 2 * e_mac
              + dram_bytes * processor.energy_per_dram_byte_j.value
              + onchip_bytes * processor.energy_per_onchip_byte_j.value)
    return compute_s, memory_s, dram_bytes, energy


def gemm_shape(op: str, input_shapes: Sequence[Shape], output_shape: Shape,
               attrs: Mapping[str, Any]) -> Gemm | None:
    """The ``(m, n, k)`` an op's efficiency curve is read at: for a conv, linear or matmul
    the matrix product it computes (the op table's ``gemm`` handler); for an op with FLOPs
    but no MACs (activations, pooling, normalisation, softmax) ``(1, output elements, FLOPs
    per output element)``, the shape calibration benchmarks such ops at; None for ops that
    compute nothing.

    >>> from graphs import build_zoo_model
    >>> graph = build_zoo_model("resnet18")
    >>> conv, pool = graph["conv1"], graph["maxpool"]
    >>> gemm_shape(conv.op, conv.input_shapes, conv.output_shape, conv.attrs)
    (64.0, 12544.0, 147.0)
    >>> gemm_shape(pool.op, pool.input_shapes, pool.output_shape, pool.attrs)
    (1.0, 200704.0, 9.0)
    """
    spec = OPS.get(op)
    if spec is None:
        return None
    if spec.gemm is not None:
        return spec.gemm(input_shapes, output_shape, attrs)
    outputs = math.prod(output_shape)
    if outputs == 0 or spec.macs(input_shapes, output_shape, attrs):
        return None  # a product whose shape the op table does not declare
    flops = spec.other_flops(input_shapes, output_shape, attrs)
    return (1.0, float(outputs), flops / outputs) if flops > 0 else None


def sparse_speedup(processor: Processor, sparsity: float,
                   pattern: SparsityPattern = "unstructured") -> float:
    """Speed-up of the MACs from zero weights: min(1/(1 − sparsity), the processor's best)
    where the processor skips zeros of this ``pattern`` and the weights are sparse enough;
    1 elsewhere."""
    support = processor.sparse
    if support is None or support.pattern != pattern or sparsity < support.min_sparsity:
        return 1.0
    return min(1.0 / (1.0 - sparsity), support.max_speedup.value)


def fused_layers(graph: Graph, residual_add: bool = False) -> dict[str, str]:
    """Layers that deployment runtimes fuse into the conv or linear before them, mapped to
    that conv or linear: a batch norm or an activation whose only input is a conv/linear (or
    such a fused chain) that feeds nothing else. A batch norm folds only into the conv or
    linear itself, where :func:`graphs.transforms.folds_into` says it folds.

    With ``residual_add`` (a runtime whose processor has ``fuses_residual_add``), an add of
    two tensors one of which is such a conv chain's output, read by nothing else, fuses into
    that conv too, and so does the activation after it.
    """
    fused: dict[str, str] = {}
    for layer in graph:
        if residual_add and layer.op == "add" and len(layer.inputs) == 2:
            for source in layer.inputs:
                producer = graph[source]
                root = producer.name if producer.op == "conv2d" else fused.get(producer.name)
                if (root is not None and graph[root].op == "conv2d"
                        and graph.consumers(source) == [layer.name]
                        and producer.output_shape == layer.output_shape):
                    fused[layer.name] = root
                    break
            continue
        if len(layer.inputs) != 1 or layer.attrs.get("scalar") is not None:
            continue
        producer = graph[layer.inputs[0]]
        if graph.consumers(producer.name) != [layer.name]:
            continue
        root = producer.name if producer.op in ("conv2d", "linear") else fused.get(producer.name)
        if root is None:
            continue
        if folds_into(graph, layer) or layer.spec.fuses:
            fused[layer.name] = root
    return fused


def fused_cost(name: str, processor: str, dtype: str, seconds: float) -> LayerCost:
    """The cost of a layer that runs inside another's pass: no work of its own, only the
    ``seconds`` (all overhead) the runtime still spends on it."""
    return LayerCost(name, processor, dtype, Cost(latency_s=seconds, overhead_s=seconds),
                     "free" if seconds == 0 else "memory", 0, 0)


def layer_cost(layer: Layer, profile: HardwareProfile, processor: str, dtype: str, *,
               work: Work | None = None, sparsity: float = 0.0, fused: bool = False,
               weights_on_chip: bool = False) -> LayerCost | Infeasible:
    """Cost of ``layer`` on ``processor`` at ``dtype`` (weights and activations stored at the
    dtype's width unless ``work`` is given). Fused layers are free where the processor runs
    the op, but for the pass over the output some runtimes still make for a fused
    activation (``Processor.fused_activation_s_per_element``)."""
    proc = profile.processors[processor]
    if fused:
        if not proc.runs_op(layer.op):
            return Infeasible(layer.name, processor, dtype, f"{processor} does not run "
                              f"{layer.op}")
        elements = (work.output_bytes * 8 / dtype_bits(dtype) if work is not None
                    else layer.output_elements)
        return fused_cost(layer.name, processor, dtype,
                          proc.fused_activation_s(layer.op, elements))
    bits = dtype_bits(dtype)
    work = work if work is not None else layer.work(weight_bits=bits, activation_bits=bits)
    return roofline(layer.name, work, layer.op, layer.op_class, processor, proc, dtype,
                    sparsity=sparsity, weights_on_chip=weights_on_chip,
                    gemm=gemm_shape(layer.op, layer.input_shapes, layer.output_shape,
                                    layer.attrs))
