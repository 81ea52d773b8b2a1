"""Running an exported model in onnxruntime (CPU): outputs, and latency measured the way a
benchmark should be: warm-up runs, the median of timed repeats and their spread, the
thread count pinned and recorded, and per-node times from onnxruntime's own profiler
mapped back to the layers they compute.

``run_onnx(..., optimized=False)`` turns graph optimisations off so that onnxruntime
computes in the same fp32 arithmetic as the simulation (a QDQ pair stays a fake
quantization); ``measure`` runs fully optimised, as a deployment does: with integer
activations onnxruntime fuses the QDQ around convolutions and matrix products into integer
kernels; a weight-only quantized model (no ``QuantizeLinear``) has its weights decoded once
when the session loads (onnxruntime's QDQ handling is turned off so that constant folding
removes the ``DequantizeLinear`` of initializers, which it otherwise runs on every call).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from graphs import MissingExtraError


class RuntimeFailure(ValueError):
    """onnxruntime cannot load or run a model (the message is onnxruntime's own)."""


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtraError("onnxruntime", "export") from None
    return onnxruntime


def open_session(path: str | Path, *, threads: int = 1, optimized: bool = True,
                 profile_prefix: str | None = None) -> Any:
    """An onnxruntime CPU session with ``threads`` intra-op threads (inter-op 1)."""
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimized
                                        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    if optimized and not _quantizes_activations(path):
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise RuntimeFailure(f"{path}: onnxruntime cannot load it: {exc}") from None


def _quantizes_activations(path: str | Path) -> bool:
    """Whether the model holds a ``QuantizeLinear`` (integer activations)."""
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # protobuf's DecodeError and friends
        raise RuntimeFailure(f"{path}: not an ONNX model ({exc})") from None
    return any(node.op_type == "QuantizeLinear" for node in graph.node)


def session_feeds(session: Any, inputs: np.ndarray | Mapping[str, np.ndarray]
                  ) -> dict[str, np.ndarray]:
    """Inputs by the session's input names, in the dtype each input declares."""
    names = [i.name for i in session.get_inputs()]
    given = dict(inputs) if isinstance(inputs, Mapping) else {names[0]: inputs}
    missing = [n for n in names if n not in given]
    if missing:
        raise RuntimeFailure(f"no array given for input(s) {', '.join(missing)}")
    types = {i.name: i.type for i in session.get_inputs()}
    return {n: np.asarray(given[n], dtype=np.int64 if types[n] == "tensor(int64)"
                          else np.float32) for n in names}


def run_onnx(path: str | Path, inputs: np.ndarray | Mapping[str, np.ndarray], *,
             optimized: bool = False, threads: int = 1) -> dict[str, np.ndarray]:
    """The outputs of the model at ``path`` by name."""
    session = open_session(path, threads=threads, optimized=optimized)
    feeds = session_feeds(session, inputs)
    try:
        values = session.run(None, feeds)
    except Exception as exc:
        raise RuntimeFailure(f"{path}: onnxruntime cannot run it: {exc}") from None
    return {o.name: v for o, v in zip(session.get_outputs(), values, strict=True)}


class NodeTime(BaseModel):
    """Median time of one layer's nodes per run, from onnxruntime's profiler."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layer: str
    seconds: float
    nodes: int


class Measurement(BaseModel):
    """Latency of one model in onnxruntime on this machine (seconds per run of ``batch``
    inputs): median and 10th/90th percentiles of ``repeat`` timed runs after ``warmup``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    runtime: str
    threads: int
    batch: int
    warmup: int
    repeat: int
    median_s: float
    p10_s: float
    p90_s: float
    layers: list[NodeTime]


def measure(path: str | Path, inputs: np.ndarray | Mapping[str, np.ndarray] | None = None,
            *, threads: int = 1, repeat: int = 20, warmup: int = 3,
            per_layer: bool = True) -> Measurement:
    """Time the model at ``path`` (default inputs: one standard normal image or zero token
    ids per input, batch 1), and with ``per_layer`` profile it once more for the time of
    each layer's nodes."""
    ort = _ort()
    session = open_session(path, threads=threads)
    feeds = session_feeds(session, inputs if inputs is not None else _default_inputs(session))
    try:
        for _ in range(warmup):
            session.run(None, feeds)
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            session.run(None, feeds)
            times.append(time.perf_counter() - start)
    except Exception as exc:
        raise RuntimeFailure(f"{path}: onnxruntime cannot run it: {exc}") from None
    layers = _profile(path, feeds, threads, warmup, max(3, min(repeat, 10))) if per_layer else []
    deciles = statistics.quantiles(times, n=10) if len(times) > 1 else [times[0]] * 9
    return Measurement(path=str(path), runtime=f"onnxruntime {ort.__version__}",
                       threads=threads, batch=int(next(iter(feeds.values())).shape[0]),
                       warmup=warmup, repeat=repeat, median_s=statistics.median(times),
                       p10_s=deciles[0], p90_s=deciles[-1], layers=layers)


def _default_inputs(session: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    feeds = {}
    for source in session.get_inputs():
        shape = [1 if not isinstance(d, int) else d for d in source.shape]
        feeds[source.name] = (np.zeros(shape, np.int64) if source.type == "tensor(int64)"
                              else rng.standard_normal(shape).astype(np.float32))
    return feeds


def _profile(path: str | Path, feeds: Mapping[str, np.ndarray], threads: int, warmup: int,
             runs: int) -> list[NodeTime]:
    """Median per-run time of each layer's nodes, from onnxruntime's profiler: a node
    maps to the layer in its ``doc_string`` (fused nodes keep the name of the node they
    start from)."""
    import tempfile

    import onnx

    layer_of = {n.name: n.doc_string or n.name for n in onnx.load(str(path)).graph.node}
    with tempfile.TemporaryDirectory() as folder:
        session = open_session(path, threads=threads, profile_prefix=str(Path(folder) / "p"))
        for _ in range(warmup + runs):
            session.run(None, feeds)
        trace = json.loads(Path(session.end_profiling()).read_text())
    per_run: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, set[str]] = defaultdict(set)
    for event in trace:
        if event.get("cat") != "Node" or not event.get("name", "").endswith("_kernel_time"):
            continue
        node = event["name"].removesuffix("_kernel_time")
        layer = layer_of.get(node) or _layer_by_prefix(node, layer_of)
        per_run[layer].append(event["dur"] * 1e-6)
        counts[layer].add(node)
    out = []
    for layer, durations in per_run.items():
        nodes = len(counts[layer])
        # the last `runs` runs, each contributing one event per node
        recent = durations[-runs * nodes:]
        sums = [sum(recent[i * nodes:(i + 1) * nodes]) for i in range(len(recent) // nodes)]
        out.append(NodeTime(layer=layer, seconds=statistics.median(sums) if sums else 0.0,
                            nodes=nodes))
    return out


ORT_RENAMES = re.compile(r"^fused |_nchwc$|_token_\d+$")
"""What onnxruntime's graph optimisers add to the name of a node they rewrite."""


def _layer_by_prefix(node: str, layer_of: Mapping[str, str]) -> str:
    """The layer of a node onnxruntime made (a fusion, a layout change): the node it was
    made from, with onnxruntime's marks removed, or the longest known node name it starts
    with; else the node's own name (layout reorders onnxruntime inserts)."""
    name = node
    while (stripped := ORT_RENAMES.sub("", name)) != name:
        name = stripped
    if name in layer_of:
        return layer_of[name]
    known = [n for n in layer_of if name.startswith(n)]
    return layer_of[max(known, key=len)] if known else name
