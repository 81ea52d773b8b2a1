"""Microbenchmarks of onnxruntime's own CPU kernels: one-op ONNX graphs at a grid of shapes.

Each benchmark is a graph of a single node (a convolution, a depthwise convolution, a
matrix product, an elementwise op, a pooling) built with ``onnx.helper`` and run in an
onnxruntime CPU session at a pinned intra-op thread count with every graph optimisation
on, as a deployment runs it. A kernel's time is the median of timed repeats after warm-up,
less the cost of calling a session at all (measured on a one-element graph); repeats are
checked for agreement (the medians of the first and second half of the runs), and a
benchmark whose halves disagree by more than :data:`AGREEMENT` is measured once more and
flagged when they still do.

Shapes are described by the GEMM a kernel computes, ``(m, n, k)``: output channels per
group, output positions (batch × height × width) and the reduction length (input channels
per group × kernel area); a depthwise convolution is ``(channels, positions, kernel area)``.
:mod:`hardware_profiles.efficiency_fit` turns the timings into efficiency curves.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

AGREEMENT = 0.10
"""Largest relative difference between the two halves' medians of one benchmark."""

OPSET = 17

LAYOUT_OPS = frozenset({"ReorderInput", "ReorderOutput"})
"""Nodes onnxruntime inserts to change layout (to and from NCHWc blocks)."""

FLOPS_PER_ELEMENT = {"Add": 1, "Mul": 1, "Relu": 1, "Sigmoid": 4, "HardSwish": 5,
                     "LayerNormalization": 8, "Softmax": 5}
"""FLOPs the graph op table counts per element of these ops (a test keeps them equal)."""


FUSED_ACTIVATIONS = {"relu": "Relu", "relu6": "Clip", "clamp": "Clip", "hardswish": "HardSwish",
                     "hardsigmoid": "HardSigmoid", "sigmoid": "Sigmoid", "tanh": "Tanh",
                     "silu": "SiLU"}
"""The ONNX op each fused activation kind exports as (``SiLU``: ``Mul(x, Sigmoid(x))``)."""


def halves_agree(times: list[float]) -> bool:
    """Whether the medians of the first and second half of timed runs differ by at most
    :data:`AGREEMENT` (the machine's load did not change under the measurement)."""
    half = max(1, len(times) // 2)
    first, second = statistics.median(times[:half]), statistics.median(times[half:])
    return abs(first - second) <= AGREEMENT * min(first, second)


@dataclass(frozen=True)
class KernelTiming:
    """One benchmark: its op class, GEMM shape ``(m, n, k)``, FLOPs, activation and weight
    bytes moved (fp32), and measured seconds per run (``agreed``: the halves agree)."""

    op_class: str
    label: str
    m: float
    n: float
    k: float
    flops: float
    activation_bytes: float
    weight_bytes: float
    seconds: float
    agreed: bool
    op: str = ""
    """The graph op kind the benchmark runs (``conv2d``, ``add``, ``max_pool2d``, …)."""


@dataclass(frozen=True)
class _Case:
    op_class: str
    label: str
    dims: tuple[float, float, float]
    flops: float
    activation_bytes: float
    weight_bytes: float
    model: Callable[[], Any]
    inputs: dict[str, np.ndarray]
    only: frozenset[str] | None = None
    """The ops whose kernels are timed (None: every kernel but layout changes)."""
    op: str = ""
    """The graph op kind the benchmark runs."""


def ort_modules() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, or an ImportError naming the extra to install."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ImportError("calibrating onnxruntime needs onnx and onnxruntime: "
                          "pip install 'edge-compression-planner[export]'") from None
    return onnx, onnxruntime


def _graph(node: Any, inputs: dict[str, tuple[int, ...]], output: tuple[int, ...],
           weights: dict[str, np.ndarray], opset: int = OPSET) -> Any:
    """A model of ``node`` (or a list of nodes ending in output ``y``)."""
    onnx, _ = ort_modules()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    floats = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        node if isinstance(node, list) else [node], "kernel",
        [helper.make_tensor_value_info(name, floats, list(shape))
         for name, shape in inputs.items()],
        [helper.make_tensor_value_info("y", floats, list(output))],
        [numpy_helper.from_array(w, name) for name, w in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32)


def conv_case(cin: int, cout: int, size: int, kernel: int, stride: int = 1,
              groups: int = 1) -> _Case:
    """A convolution on a ``cin × size × size`` image, 'same' padding; ``groups == cin ==
    cout`` is a depthwise convolution."""
    onnx, _ = ort_modules()
    out = (size + 2 * (kernel // 2) - kernel) // stride + 1
    positions = out * out
    per_group_in = cin // groups
    macs = cout * positions * per_group_in * kernel * kernel
    depthwise = groups > 1 and groups == cin == cout
    dims = ((cout, positions, kernel * kernel / stride**2) if depthwise
            else (cout // groups, positions, per_group_in * kernel * kernel))
    weight = _rand(cout, per_group_in, kernel, kernel)
    pad = kernel // 2

    def model() -> Any:
        node = onnx.helper.make_node("Conv", ["x", "w", "b"], ["y"], group=groups,
                                     kernel_shape=[kernel, kernel], strides=[stride, stride],
                                     pads=[pad] * 4)
        return _graph(node, {"x": (1, cin, size, size)}, (1, cout, out, out),
                      {"w": weight, "b": _rand(cout)})

    return _Case("depthwise_conv" if depthwise else "conv",
                 f"{'dw' if depthwise else 'conv'}{kernel}x{kernel}/{stride} {cin}->{cout} "
                 f"@{size}", dims, 2.0 * macs, 4.0 * (cin * size * size + cout * positions),
                 4.0 * weight.size, model, {"x": _rand(1, cin, size, size)}, op="conv2d")


def gemm_case(rows: int, k: int, m: int) -> _Case:
    """A linear layer: ``rows × k`` activations by a ``m × k`` weight, output ``rows × m``,
    as ``planner export`` writes it: one ``Gemm`` (``transB``) for a single row (a
    classifier), ``MatMul`` then a bias ``Add`` on a ``1 × rows × k`` sequence (a
    transformer's projections) otherwise."""
    onnx, _ = ort_modules()
    helper = onnx.helper
    weight = _rand(m, k)
    shape = (rows, k) if rows == 1 else (1, rows, k)

    def model() -> Any:
        if rows == 1:
            node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
            return _graph(node, {"x": shape}, (rows, m), {"w": weight, "b": _rand(m)})
        nodes = [helper.make_node("MatMul", ["x", "wt"], ["p"]),
                 helper.make_node("Add", ["p", "b"], ["y"])]
        return _graph(nodes, {"x": shape}, (1, rows, m),
                      {"wt": np.ascontiguousarray(weight.T), "b": _rand(m)})

    return _Case("gemm", f"gemm {rows}x{k} by {k}x{m}", (m, rows, k), 2.0 * rows * k * m,
                 4.0 * (rows * k + rows * m), 4.0 * weight.size, model, {"x": _rand(*shape)},
                 op="linear")


def matmul_case(batch: int, rows: int, k: int, m: int) -> _Case:
    """A batched product of two activations (attention's ``QKᵀ`` and ``AV``)."""
    onnx, _ = ort_modules()

    def model() -> Any:
        node = onnx.helper.make_node("MatMul", ["a", "b"], ["y"])
        return _graph(node, {"a": (batch, rows, k), "b": (batch, k, m)}, (batch, rows, m), {})

    return _Case("matmul", f"matmul {batch}x{rows}x{k} by {k}x{m}", (m, batch * rows, k),
                 2.0 * batch * rows * k * m, 4.0 * batch * (rows * k + k * m + rows * m), 0.0,
                 model, {"a": _rand(batch, rows, k), "b": _rand(batch, k, m)}, op="matmul")


def elementwise_case(op: str, elements: int) -> _Case:
    """A unary (``Relu``, ``Sigmoid``, ``HardSwish``) or binary (``Add``, ``Mul``) op on
    ``elements`` values."""
    onnx, _ = ort_modules()
    binary = op in ("Add", "Mul")
    names = ["a", "b"] if binary else ["a"]

    def model() -> Any:
        node = onnx.helper.make_node(op, names, ["y"])
        return _graph(node, {n: (1, elements) for n in names}, (1, elements), {})

    return _Case("elementwise", f"{op} on {elements}", (1, elements, FLOPS_PER_ELEMENT[op]),
                 float(elements * FLOPS_PER_ELEMENT[op]),
                 4.0 * elements * (len(names) + 1), 0.0, model,
                 {n: _rand(1, elements) for n in names}, op=op.lower())


def _after_conv(node: Any, channels: int, size: int, output: tuple[int, ...]) -> Any:
    """``node`` reading the output of a 1×1 convolution, as pooling reads in a CNN:
    onnxruntime then runs it in the convolution's blocked (NCHWc) layout, which for
    pooling is several times slower than the plain layout a lone pooling runs in."""
    onnx, _ = ort_modules()
    conv = onnx.helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[1, 1])
    return _graph([conv, node], {"x": (1, channels, size, size)}, output,
                  {"w": _rand(channels, channels, 1, 1)})


def pool_case(channels: int, size: int, kernel: int, stride: int) -> _Case:
    """A max pooling of ``channels × size × size`` after a convolution (odd kernels padded
    to keep the size over the stride, even ones unpadded); its kernel alone is timed."""
    onnx, _ = ort_modules()
    pad = kernel // 2 if kernel % 2 else 0
    out = (size + 2 * pad - kernel) // stride + 1

    def model() -> Any:
        node = onnx.helper.make_node("MaxPool", ["a"], ["y"], kernel_shape=[kernel, kernel],
                                     strides=[stride, stride], pads=[pad] * 4)
        return _after_conv(node, channels, size, (1, channels, out, out))

    return _Case("pooling", f"maxpool{kernel}x{kernel}/{stride} {channels} @{size}",
                 (1, channels * out * out, kernel * kernel),
                 float(channels * out * out * kernel**2),
                 4.0 * channels * (size * size + out * out), 0.0, model,
                 {"x": _rand(1, channels, size, size)}, frozenset({"MaxPool"}), op="max_pool2d")


def global_pool_case(channels: int, size: int) -> _Case:
    """A global average pooling of ``channels × size × size`` (one add per input value)
    after a convolution; its kernel alone is timed."""
    onnx, _ = ort_modules()

    def model() -> Any:
        node = onnx.helper.make_node("GlobalAveragePool", ["a"], ["y"])
        return _after_conv(node, channels, size, (1, channels, 1, 1))

    return _Case("pooling", f"global avgpool {channels} @{size}", (1, channels, size * size),
                 float(channels * size * size), 4.0 * channels * (size * size + 1), 0.0, model,
                 {"x": _rand(1, channels, size, size)}, frozenset({"GlobalAveragePool"}),
                 op="adaptive_avg_pool2d")


def layer_norm_case(rows: int, hidden: int) -> _Case:
    """A layer norm of ``rows × hidden`` over its last axis, with scale and bias."""
    onnx, _ = ort_modules()
    elements = rows * hidden
    flops = FLOPS_PER_ELEMENT["LayerNormalization"]

    def model() -> Any:
        node = onnx.helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1)
        return _graph(node, {"x": (rows, hidden)}, (rows, hidden),
                      {"g": _rand(hidden), "b": _rand(hidden)})

    return _Case("normalization", f"layernorm {rows}x{hidden}", (1, elements, flops),
                 float(flops * elements), 8.0 * elements, 8.0 * hidden, model,
                 {"x": _rand(rows, hidden)}, op="layer_norm")


def softmax_case(rows: int, columns: int) -> _Case:
    """A softmax of ``rows × columns`` along its last axis (attention's scores)."""
    onnx, _ = ort_modules()
    elements = rows * columns
    flops = FLOPS_PER_ELEMENT["Softmax"]

    def model() -> Any:
        node = onnx.helper.make_node("Softmax", ["x"], ["y"], axis=-1)
        return _graph(node, {"x": (rows, columns)}, (rows, columns), {})

    return _Case("softmax", f"softmax {rows}x{columns}", (1, elements, flops),
                 float(flops * elements), 8.0 * elements, 0.0, model,
                 {"x": _rand(rows, columns)}, op="softmax")


def movement_case(op: str, shape: tuple[int, ...]) -> _Case:
    """A ``Transpose`` swapping the two middle axes of ``shape`` (attention's head split,
    a channel shuffle) or a ``Concat`` of two ``shape`` tensors along axis 1: no FLOPs,
    only bytes moved."""
    onnx, _ = ort_modules()
    elements = int(np.prod(shape))
    if op == "Transpose":
        perm = [0, 2, 1, *range(3, len(shape))]
        out = tuple(shape[p] for p in perm)
        names = ["x"]
    elif op == "Concat":
        out = (shape[0], 2 * shape[1], *shape[2:])
        names = ["x", "z"]
    else:
        raise ValueError(f"movement_case takes Transpose or Concat, got {op!r}")

    def model() -> Any:
        attrs = {"perm": perm} if op == "Transpose" else {"axis": 1}
        node = onnx.helper.make_node(op, names, ["y"], **attrs)
        return _graph(node, {n: shape for n in names}, out, {})

    return _Case("data_movement", f"{op} {'x'.join(map(str, shape))}", (1, elements, 0), 0.0,
                 8.0 * elements * len(names), 0.0, model, {n: _rand(*shape) for n in names},
                 op="permute" if op == "Transpose" else "concat")


WIDTHS = (8, 16, 24, 32, 40, 48, 58, 64, 72, 80, 96, 100, 112, 116, 120, 128, 144, 160, 192,
          200, 232, 240, 256, 288, 320, 384, 464, 480, 512, 576, 672, 960, 1024, 1280, 2048)
"""Channel counts the sampled convolutions draw from: the widths CNN families use (many are
not multiples of the 16-channel blocks vectorised kernels work in, and a few, as in
ShuffleNet, not even of 8)."""
SIZES = (7, 14, 28, 56, 112)
"""Image sizes of the grid (square)."""


ConvShape = tuple[int, int, int, int, int, int]
"""(in channels, out channels, image size, kernel, stride, groups) of :func:`conv_case`."""


def _sampled_conv_shapes(seed: int = 0) -> Iterator[ConvShape]:
    """Convolutions at random widths, sizes and strides (a fixed seed, so every calibration
    times the same ones): 1×1, 3×3 and 5×5 dense, 3×3 and 5×5 depthwise, and stems on a
    224×224 RGB image."""
    rng = np.random.default_rng(seed)

    def pick(values: tuple[int, ...]) -> int:
        return int(values[int(rng.integers(len(values)))])

    def draw(count: int, kernel: int, max_macs: float, depthwise: bool = False
             ) -> Iterator[ConvShape]:
        made = 0
        while made < count:
            cin, cout, size = pick(WIDTHS), pick(WIDTHS), pick(SIZES)
            stride = 2 if rng.random() < 0.25 else 1
            if depthwise:
                cout = cin
            out = (size - 1) // stride + 1
            macs = cout * out * out * (1 if depthwise else cin) * kernel * kernel
            if not 2e4 <= macs <= max_macs:
                continue
            made += 1
            yield cin, cout, size, kernel, stride, cin if depthwise else 1

    yield from draw(160, 1, 2.5e8)
    yield from draw(70, 3, 5e8)
    yield from draw(10, 5, 3e8)
    yield from draw(70, 3, 1e8, depthwise=True)
    yield from draw(20, 5, 1e8, depthwise=True)
    for cout, kernel, stride in ((16, 3, 2), (24, 3, 2), (32, 3, 2), (64, 3, 2), (64, 7, 2),
                                 (96, 7, 2), (64, 11, 4)):
        yield 3, cout, 224, kernel, stride, 1


def _sampled_convs(seed: int = 0) -> Iterator[_Case]:
    """:func:`conv_case` of every :func:`_sampled_conv_shapes`."""
    for shape in _sampled_conv_shapes(seed):
        yield conv_case(*shape)


INT8_EVERY = 4
"""The int8 grid times every this many of the sampled convolutions."""
INT8_KERNELS = frozenset({"QLinearConv", "Conv", "FusedConv"})
"""The kernels an int8 convolution's time is read from (its QLinearConv; a Conv where
onnxruntime did not fuse the pattern)."""


def int8_conv_case(cin: int, cout: int, size: int, kernel: int, stride: int = 1,
                   groups: int = 1) -> _Case:
    """:func:`conv_case` as ``planner export`` writes a convolution that computes in int8:
    its input and output static QDQ (uint8, zero point 128) and its weights int8 with
    per-channel scales, which onnxruntime runs as one ``QLinearConv``; the bytes moved are
    one per element."""
    onnx, _ = ort_modules()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    fp32 = conv_case(cin, cout, size, kernel, stride, groups)
    out = (size + 2 * (kernel // 2) - kernel) // stride + 1
    weight = _rand(cout, cin // groups, kernel, kernel)
    scales = (np.abs(weight).reshape(cout, -1).max(1) / 127).astype(np.float32)
    codes = np.round(weight / scales[:, None, None, None]).astype(np.int8)
    pad = kernel // 2

    def model() -> Any:
        u8 = onnx.TensorProto.UINT8
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
                 helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
                 helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
                 helper.make_node("Conv", ["xd", "w", "b"], ["c"], group=groups,
                                  kernel_shape=[kernel, kernel], strides=[stride, stride],
                                  pads=[pad] * 4),
                 helper.make_node("QuantizeLinear", ["c", "s", "z"], ["yq"]),
                 helper.make_node("DequantizeLinear", ["yq", "s", "z"], ["y"])]
        model = _graph(nodes, {"x": (1, cin, size, size)}, (1, cout, out, out),
                       {"b": _rand(cout), "ws": scales, "s": np.array(0.05, np.float32)})
        model.graph.initializer.extend([
            numpy_helper.from_array(codes, "wq"),
            numpy_helper.from_array(np.zeros(cout, np.int8), "wz"),
            helper.make_tensor("z", u8, [], [128])])
        return model

    elements = cin * size * size + cout * out * out
    return _Case(fp32.op_class, f"int8 {fp32.label}", fp32.dims, fp32.flops, float(elements),
                 float(weight.size), model, fp32.inputs, INT8_KERNELS, "conv2d")


def int8_cases(quick: bool = False) -> Iterator[_Case]:
    """The int8 grid: every :data:`INT8_EVERY`-th sampled convolution (with ``quick``, a
    dense and a depthwise one)."""
    if quick:
        yield int8_conv_case(32, 32, 14, 3)
        yield int8_conv_case(64, 64, 14, 3, groups=64)
        return
    for k, shape in enumerate(_sampled_conv_shapes()):
        if k % INT8_EVERY == 0:
            yield int8_conv_case(*shape)


def default_cases(quick: bool = False) -> Iterator[_Case]:
    """The calibration grid: the shapes mobile and server CNNs and transformers use (with
    ``quick``, a few of each kind, for tests)."""
    sizes = (14, 56) if quick else SIZES
    channels = (32, 128) if quick else (16, 32, 64, 128, 256, 512)
    for size in sizes:
        for cin in channels:
            for cout in channels:
                if cin * cout * size * size > (64 * 64 * 112 * 112 if not quick else 1 << 22):
                    continue
                if quick or cin == cout:
                    yield conv_case(cin, cout, size, 1)
                if quick or cin == cout:
                    yield conv_case(cin, cout, size, 3)
        for c in (32, 96, 384) if quick else (16, 32, 58, 96, 116, 144, 232, 384, 960):
            if c * size * size > 1_300_000:
                continue
            for kernel in (3,) if quick else (3, 5):
                for stride in (1, 2):
                    yield conv_case(c, c, size, kernel, stride, groups=c)
    if not quick:
        yield from _sampled_convs()
    for rows in (1, 8, 128) if quick else (1, 8, 32, 128, 512):
        for k, m in ((256, 256), (768, 768), (768, 3072), (3072, 768), (1024, 1000)):
            if quick and k != m:
                continue
            yield gemm_case(rows, k, m)
    if not quick:
        for k, m in ((512, 1000), (1280, 1000), (2048, 1000), (4096, 1000), (576, 1024),
                     (960, 1280), (4096, 4096), (9216, 4096), (512, 10)):
            yield gemm_case(1, k, m)
    for rows, k in ((64, 64), (128, 64)) if quick else ((64, 64), (128, 64), (256, 64),
                                                        (197, 64), (128, 32)):
        yield matmul_case(12, rows, k, rows)
        yield matmul_case(12, rows, rows, k)
    for elements in (1 << 12, 1 << 16, 1 << 20) if quick else (1 << 10, 1 << 13, 1 << 16,
                                                                1 << 19, 1 << 21):
        for op in ("Add", "Relu", "Sigmoid", "HardSwish"):
            yield elementwise_case(op, elements)
    for planes, size in ((64, 112), (256, 14)) if quick else ((64, 112), (96, 56), (256, 14),
                                                              (512, 28), (24, 112), (256, 28)):
        yield pool_case(planes, size, 3, 2)
    for planes, size in () if quick else ((64, 224), (128, 112), (256, 56), (512, 28),
                                          (512, 14), (64, 56)):
        yield pool_case(planes, size, 2, 2)
    for planes, size in ((512, 7),) if quick else ((512, 7), (1280, 7), (2048, 7), (96, 56),
                                                   (576, 7)):
        yield global_pool_case(planes, size)
    for rows, hidden in ((16, 256),) if quick else ((1, 768), (16, 256), (128, 768),
                                                    (512, 768), (197, 384)):
        yield layer_norm_case(rows, hidden)
    for rows, columns in ((768, 64),) if quick else ((12, 16), (768, 64), (1536, 128),
                                                     (2364, 197), (6144, 512)):
        yield softmax_case(rows, columns)
    for shape in ((1, 64, 12, 64),) if quick else ((1, 16, 12, 64), (1, 128, 12, 64),
                                                    (1, 512, 12, 64), (1, 2, 58, 28, 28),
                                                    (1, 2, 116, 14, 14)):
        yield movement_case("Transpose", shape)
    for shape in ((1, 64, 28, 28),) if quick else ((1, 64, 56, 56), (1, 116, 28, 28),
                                                    (1, 232, 14, 14), (1, 64, 14, 14)):
        yield movement_case("Concat", shape)


def _conv_then(op: str | None, channels: int, size: int, groups: int, kernel: int) -> Any:
    """A ``channels × size × size`` convolution (``groups`` groups, 'same' padding) and the
    activation ``op`` after it (None: the convolution alone; ``Clip`` to [0, 6]; ``SiLU``
    as ``Mul(x, Sigmoid(x))``)."""
    onnx, _ = ort_modules()
    helper = onnx.helper
    out = "y" if op is None else "a"
    nodes = [helper.make_node("Conv", ["x", "w"], [out], group=groups,
                              kernel_shape=[kernel, kernel], pads=[kernel // 2] * 4)]
    weights = {"w": _rand(channels, channels // groups, kernel, kernel)}
    if op == "Clip":
        weights |= {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}
        nodes.append(helper.make_node("Clip", ["a", "lo", "hi"], ["y"]))
    elif op == "SiLU":
        nodes += [helper.make_node("Sigmoid", ["a"], ["g"]),
                  helper.make_node("Mul", ["a", "g"], ["y"])]
    elif op is not None:
        nodes.append(helper.make_node(op, ["a"], ["y"]))
    shape = (1, channels, size, size)
    return _graph(nodes, {"x": shape}, shape, weights)


class Timer:
    """Times ONNX models in onnxruntime at ``threads`` intra-op threads."""

    def __init__(self, threads: int, budget_s: float, min_runs: int = 5) -> None:
        self.threads, self.budget_s, self.min_runs = threads, budget_s, min_runs
        _, self.ort = ort_modules()
        self.call_s = 0.0

    def session(self, model: Any, profile_prefix: str | None = None) -> Any:
        """An optimised CPU session of ``model`` at the timer's thread count (profiling to
        files starting with ``profile_prefix`` when given)."""
        options = self.ort.SessionOptions()
        if profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = profile_prefix
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        return self.ort.InferenceSession(model.SerializeToString(), options,
                                         providers=["CPUExecutionProvider"])

    def _count(self, seconds_per_run: float) -> int:
        """Timed runs that fill the budget: at least ``min_runs``, at most 2,000."""
        return int(min(2000, max(self.min_runs, self.budget_s / max(seconds_per_run, 1e-7))))

    def runs(self, model: Any, inputs: dict[str, np.ndarray]) -> list[float]:
        """Wall seconds of each timed session call, after two warm-up calls."""
        session = self.session(model)
        session.run(None, inputs)
        t0 = time.perf_counter()
        session.run(None, inputs)
        times: list[float] = []
        for _ in range(self._count(time.perf_counter() - t0)):
            t0 = time.perf_counter()
            session.run(None, inputs)
            times.append(time.perf_counter() - t0)
        return times

    def kernel_runs(self, model: Any, inputs: dict[str, np.ndarray],
                    only: frozenset[str] | None = None) -> list[float]:
        """Seconds of the model's compute kernels in each timed run, from onnxruntime's
        profiler: the layout changes onnxruntime puts around a lone kernel
        (:data:`LAYOUT_OPS`) are left out, since inside a model they happen once at its
        edges, not around every conv. ``only``: the kernels of these ops alone."""
        import json
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            plain = self.session(model)
            plain.run(None, inputs)
            t0 = time.perf_counter()
            plain.run(None, inputs)
            count = self._count(time.perf_counter() - t0)
            session = self.session(model, profile_prefix=str(Path(folder) / "k"))
            for _ in range(2 + count):
                session.run(None, inputs)
            trace = json.loads(Path(session.end_profiling()).read_text())
        events = [event for event in trace if event.get("cat") == "Node"
                  and event.get("name", "").endswith("_kernel_time")
                  and event.get("args", {}).get("op_name") not in LAYOUT_OPS]
        runs = 2 + count
        per_run = len(events) // runs  # compute nodes per run
        if per_run == 0:
            raise RuntimeError("onnxruntime's profile has no kernel events for this model")
        sums = [sum(e["dur"] * 1e-6 for e in events[i * per_run:(i + 1) * per_run]
                    if only is None or e.get("args", {}).get("op_name") in only)
                for i in range(runs)]
        return sums[2:]

    def median(self, model: Any, inputs: dict[str, np.ndarray], kernels_only: bool = False,
               only: frozenset[str] | None = None) -> tuple[float, bool]:
        """Median seconds per run (of the kernels alone with ``kernels_only``, of the
        kernels of ops ``only`` when given) and whether the two halves of the runs agree
        (measured a second time when they do not)."""
        for _ in range(2):
            times = (self.kernel_runs(model, inputs, only) if kernels_only
                     else self.runs(model, inputs))
            agreed = halves_agree(times)
            if agreed:
                break
        return statistics.median(times), agreed

    def chain_seconds(self, length: int) -> float:
        """Median seconds of one session call of ``length`` chained ``Relu`` on 16 values."""
        onnx, _ = ort_modules()
        helper = onnx.helper
        names = ["x"] + [f"t{i}" for i in range(length - 1)] + ["y"]
        nodes = [helper.make_node("Relu", [a], [b]) for a, b in itertools.pairwise(names)]
        floats = onnx.TensorProto.FLOAT
        graph = helper.make_graph(nodes, "chain",
                                  [helper.make_tensor_value_info("x", floats, [16])],
                                  [helper.make_tensor_value_info("y", floats, [16])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        return self.median(model, {"x": _rand(16)})[0]

    def dispatch(self) -> tuple[float, float]:
        """(seconds per node, seconds per session call beyond its nodes), from chains of 1
        and 65 tiny nodes."""
        one, many = self.chain_seconds(1), self.chain_seconds(65)
        per_node = max((many - one) / 64, 0.0)
        self.call_s = max(one - per_node, 0.0)
        return per_node, self.call_s

    def time(self, case: _Case) -> KernelTiming:
        """The kernel's seconds per run, from onnxruntime's profiler."""
        seconds, agreed = self.median(case.model(), case.inputs, kernels_only=True,
                                      only=case.only)
        return KernelTiming(case.op_class, case.label, *case.dims, case.flops,
                            case.activation_bytes, case.weight_bytes, max(seconds, 1e-9),
                            agreed, case.op)

    def fuses_residual_add(self) -> bool:
        """Whether onnxruntime runs ``Relu(Conv(a) + a)``, ``a = Conv(x)``, as two conv
        kernels (its NCHWc convolutions fuse the add, on x86 with AVX2 or AVX-512): no
        ``Add`` kernel in its profile."""
        import json
        import tempfile
        from pathlib import Path

        onnx, _ = ort_modules()
        helper = onnx.helper
        shape = (1, 32, 14, 14)
        model = _graph([helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[1, 1]),
                        helper.make_node("Conv", ["a", "w"], ["c"], kernel_shape=[1, 1]),
                        helper.make_node("Add", ["c", "a"], ["s"]),
                        helper.make_node("Relu", ["s"], ["y"])],
                       {"x": shape}, shape, {"w": _rand(32, 32, 1, 1)})
        with tempfile.TemporaryDirectory() as folder:
            session = self.session(model, profile_prefix=str(Path(folder) / "r"))
            session.run(None, {"x": _rand(*shape)})
            trace = json.loads(Path(session.end_profiling()).read_text())
        ops = {e.get("args", {}).get("op_name") for e in trace if e.get("cat") == "Node"}
        return "Add" not in ops and "Relu" not in ops

    def fused_activation_rates(self, quick: bool = False) -> dict[str, float]:
        """Seconds per output element each activation kind adds to the convolution it is
        fused into: the kernel time of ``act(Conv(x))`` less that of ``Conv(x)``, on a
        depthwise and a 1×1 convolution (the mean of the two; never below 0). Kinds that
        export as the same op (``relu6`` and ``clamp`` as ``Clip``) are timed once."""
        shapes = ((96, 56, 96, 3),) if quick else ((96, 56, 96, 3), (64, 56, 1, 1))
        kinds = ("relu", "relu6") if quick else tuple(FUSED_ACTIVATIONS)
        ops = sorted({FUSED_ACTIVATIONS[kind] for kind in kinds})
        added: dict[str, list[float]] = {op: [] for op in ops}
        for channels, size, groups, kernel in shapes:
            inputs = {"x": _rand(1, channels, size, size)}
            conv = (channels, size, groups, kernel)
            plain, _ = self.median(_conv_then(None, *conv), inputs, kernels_only=True)
            for op in ops:
                with_act, _ = self.median(_conv_then(op, *conv), inputs, kernels_only=True)
                added[op].append(max(with_act - plain, 0.0) / (channels * size * size))
        rates = {kind: float(np.mean(added[FUSED_ACTIVATIONS[kind]])) for kind in kinds}
        if not quick:
            rates["gelu"] = self._bias_gelu_rate()
        return rates

    def _bias_gelu_rate(self, rows: int = 128, width: int = 1536) -> float:
        """Seconds per element of the GELU after a linear layer's ``MatMul`` and bias
        ``Add``: the kernels onnxruntime makes of it (``Gelu`` or ``BiasGelu``, which takes
        the bias add along), from its profile."""
        onnx, _ = ort_modules()
        helper = onnx.helper
        nodes = [helper.make_node("MatMul", ["x", "w"], ["p"]),
                 helper.make_node("Add", ["p", "b"], ["a"]),
                 helper.make_node("Gelu", ["a"], ["y"])]
        model = _graph(nodes, {"x": (1, rows, 384)}, (1, rows, width),
                       {"w": _rand(384, width), "b": _rand(width)}, opset=20)
        runs = self.kernel_runs(model, {"x": _rand(1, rows, 384)},
                                only=frozenset({"Gelu", "BiasGelu", "FastGelu"}))
        return statistics.median(runs) / (rows * width)

    def int8_gemm_rate(self, n: int) -> float:
        """Operations per second of an ``n × n`` uint8 by int8 ``MatMulInteger``."""
        onnx, _ = ort_modules()
        helper = onnx.helper
        graph = helper.make_graph(
            [helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "int8",
            [helper.make_tensor_value_info("a", onnx.TensorProto.UINT8, [n, n])],
            [helper.make_tensor_value_info("y", onnx.TensorProto.INT32, [n, n])],
            [onnx.numpy_helper.from_array(
                np.random.default_rng(0).integers(-128, 128, (n, n), dtype=np.int8), "b")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        a = np.random.default_rng(1).integers(0, 256, (n, n), dtype=np.uint8)
        seconds, _ = self.median(model, {"a": a})
        return 2.0 * n**3 / max(seconds - self.call_s, 1e-9)


__all__ = ["AGREEMENT", "FUSED_ACTIVATIONS", "SIZES", "WIDTHS", "KernelTiming", "Timer",
           "conv_case", "default_cases", "elementwise_case", "gemm_case", "global_pool_case",
           "halves_agree", "int8_cases", "int8_conv_case", "layer_norm_case", "matmul_case",
           "movement_case", "ort_modules", "pool_case", "softmax_case"]
