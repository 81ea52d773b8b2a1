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

FLOPS_PER_ELEMENT = {"Add": 1, "Mul": 1, "Relu": 1, "Sigmoid": 4, "HardSwish": 5}
"""FLOPs the graph op table counts per element of these ops (a test keeps them equal)."""


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
           weights: dict[str, np.ndarray]) -> Any:
    onnx, _ = ort_modules()
    helper, numpy_helper = onnx.helper, onnx.numpy_helper
    floats = onnx.TensorProto.FLOAT
    graph = helper.make_graph(
        [node], "kernel",
        [helper.make_tensor_value_info(name, floats, list(shape))
         for name, shape in inputs.items()],
        [helper.make_tensor_value_info("y", floats, list(output))],
        [numpy_helper.from_array(w, name) for name, w in weights.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


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
                 4.0 * weight.size, model, {"x": _rand(1, cin, size, size)})


def gemm_case(rows: int, k: int, m: int) -> _Case:
    """A linear layer: ``rows × k`` activations by a ``m × k`` weight (``Gemm`` with
    ``transB``), output ``rows × m``."""
    onnx, _ = ort_modules()
    weight = _rand(m, k)

    def model() -> Any:
        node = onnx.helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
        return _graph(node, {"x": (rows, k)}, (rows, m), {"w": weight, "b": _rand(m)})

    return _Case("gemm", f"gemm {rows}x{k} by {k}x{m}", (m, rows, k), 2.0 * rows * k * m,
                 4.0 * (rows * k + rows * m), 4.0 * weight.size, model, {"x": _rand(rows, k)})


def matmul_case(batch: int, rows: int, k: int, m: int) -> _Case:
    """A batched product of two activations (attention's ``QKᵀ`` and ``AV``)."""
    onnx, _ = ort_modules()

    def model() -> Any:
        node = onnx.helper.make_node("MatMul", ["a", "b"], ["y"])
        return _graph(node, {"a": (batch, rows, k), "b": (batch, k, m)}, (batch, rows, m), {})

    return _Case("matmul", f"matmul {batch}x{rows}x{k} by {k}x{m}", (m, batch * rows, k),
                 2.0 * batch * rows * k * m, 4.0 * batch * (rows * k + k * m + rows * m), 0.0,
                 model, {"a": _rand(batch, rows, k), "b": _rand(batch, k, m)})


def elementwise_case(op: str, elements: int) -> _Case:
    """A unary (``Relu``, ``Sigmoid``, ``HardSwish``) or binary (``Add``, ``Mul``) op on
    ``elements`` values."""
    onnx, _ = ort_modules()
    binary = op in ("Add", "Mul")
    names = ["a", "b"] if binary else ["a"]

    def model() -> Any:
        node = onnx.helper.make_node(op, names, ["y"])
        return _graph(node, {n: (1, elements) for n in names}, (1, elements), {})

    return _Case("elementwise", f"{op} on {elements}", (1, elements, 1),
                 float(elements * FLOPS_PER_ELEMENT[op]),
                 4.0 * elements * (len(names) + 1), 0.0, model,
                 {n: _rand(1, elements) for n in names})


def pool_case(channels: int, size: int, kernel: int, stride: int) -> _Case:
    """A max pooling of ``channels × size × size``."""
    onnx, _ = ort_modules()
    out = (size + 2 * (kernel // 2) - kernel) // stride + 1

    def model() -> Any:
        node = onnx.helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[kernel, kernel],
                                     strides=[stride, stride], pads=[kernel // 2] * 4)
        return _graph(node, {"x": (1, channels, size, size)}, (1, channels, out, out), {})

    return _Case("pooling", f"maxpool{kernel}x{kernel}/{stride} {channels} @{size}",
                 (channels, out * out, kernel * kernel), float(channels * out * out * kernel**2),
                 4.0 * channels * (size * size + out * out), 0.0, model,
                 {"x": _rand(1, channels, size, size)})


def default_cases(quick: bool = False) -> Iterator[_Case]:
    """The calibration grid: the shapes mobile and server CNNs and transformers use."""
    sizes = (14, 56) if quick else (7, 14, 28, 56, 112)
    channels = (32, 128) if quick else (16, 32, 64, 128, 256, 512)
    for size in sizes:
        for cin in channels:
            for cout in channels:
                if cin * cout * size * size > (64 * 64 * 112 * 112 if not quick else 1 << 22):
                    continue
                if quick or (cin, cout) in {(c, c) for c in channels} or size in (14, 56):
                    yield conv_case(cin, cout, size, 1)
                if cin == cout or cout == 2 * cin or quick:
                    yield conv_case(cin, cout, size, 3)
        for c in (32, 96, 384) if quick else (16, 32, 96, 144, 384, 960):
            if c * size * size > 960 * 14 * 14 * 4:
                continue
            for kernel in (3,) if quick else (3, 5):
                for stride in (1, 2):
                    yield conv_case(c, c, size, kernel, stride, groups=c)
    for rows in (1, 8, 128) if quick else (1, 8, 32, 128, 512):
        for k, m in ((256, 256), (768, 768), (768, 3072), (3072, 768), (1024, 1000)):
            if quick and k != m:
                continue
            yield gemm_case(rows, k, m)
    for rows, k in ((64, 64), (128, 64)) if quick else ((64, 64), (128, 64), (256, 64),
                                                        (197, 64), (128, 32)):
        yield matmul_case(12, rows, k, rows)
        yield matmul_case(12, rows, rows, k)
    for elements in (1 << 12, 1 << 16, 1 << 20) if quick else (1 << 10, 1 << 13, 1 << 16,
                                                                1 << 19, 1 << 21):
        for op in ("Add", "Relu", "Sigmoid", "HardSwish"):
            yield elementwise_case(op, elements)
    for planes, size in ((64, 112), (256, 14)):
        yield pool_case(planes, size, 3, 2)


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

    def kernel_runs(self, model: Any, inputs: dict[str, np.ndarray]) -> list[float]:
        """Seconds of the model's compute kernels in each timed run, from onnxruntime's
        profiler: the layout changes onnxruntime puts around a lone kernel
        (:data:`LAYOUT_OPS`) are left out, since inside a model they happen once at its
        edges, not around every conv."""
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
        durations = [event["dur"] * 1e-6 for event in trace
                     if event.get("cat") == "Node"
                     and event.get("name", "").endswith("_kernel_time")
                     and event.get("args", {}).get("op_name") not in LAYOUT_OPS]
        runs = 2 + count
        per_run = len(durations) // runs  # compute nodes per run (one for these graphs)
        if per_run == 0:
            raise RuntimeError("onnxruntime's profile has no kernel events for this model")
        sums = [sum(durations[i * per_run:(i + 1) * per_run]) for i in range(runs)]
        return sums[2:]

    def median(self, model: Any, inputs: dict[str, np.ndarray],
               kernels_only: bool = False) -> tuple[float, bool]:
        """Median seconds per run (of the kernels alone with ``kernels_only``) and whether
        the two halves of the runs agree (measured a second time when they do not)."""
        for _ in range(2):
            times = self.kernel_runs(model, inputs) if kernels_only else self.runs(model, inputs)
            half = max(1, len(times) // 2)
            first, second = statistics.median(times[:half]), statistics.median(times[half:])
            agreed = abs(first - second) <= AGREEMENT * min(first, second)
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
        seconds, agreed = self.median(case.model(), case.inputs, kernels_only=True)
        return KernelTiming(case.op_class, case.label, *case.dims, case.flops,
                            case.activation_bytes, case.weight_bytes, max(seconds, 1e-9),
                            agreed)

    def fuses_residual_add(self) -> bool:
        """Whether onnxruntime runs ``Relu(Conv(a) + a)``, ``a = Conv(x)``, as two conv
        kernels (its NCHWc convolutions fuse the add, on x86 with AVX2 or AVX-512): no
        ``Add`` kernel in its profile."""
        import json
        import tempfile
        from pathlib import Path

        onnx, _ = ort_modules()
        helper = onnx.helper
        floats = onnx.TensorProto.FLOAT
        shape = [1, 32, 14, 14]
        graph = helper.make_graph(
            [helper.make_node("Conv", ["x", "w"], ["a"], kernel_shape=[1, 1]),
             helper.make_node("Conv", ["a", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Add", ["c", "a"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])], "residual",
            [helper.make_tensor_value_info("x", floats, shape)],
            [helper.make_tensor_value_info("y", floats, shape)],
            [onnx.numpy_helper.from_array(_rand(32, 32, 1, 1), "w")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        with tempfile.TemporaryDirectory() as folder:
            session = self.session(model, profile_prefix=str(Path(folder) / "r"))
            session.run(None, {"x": _rand(*shape)})
            trace = json.loads(Path(session.end_profiling()).read_text())
        ops = {e.get("args", {}).get("op_name") for e in trace if e.get("cat") == "Node"}
        return "Add" not in ops and "Relu" not in ops

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


__all__ = ["AGREEMENT", "KernelTiming", "Timer", "conv_case", "default_cases",
           "elementwise_case", "gemm_case", "matmul_case", "ort_modules", "pool_case"]
