"""Shapes ONNX shape inference cannot give, observed by running the model once.

Data-dependent ops (TopK with a computed k, NonZero, NonMaxSuppression: a detector's
post-processing) have output shapes that exist only at a given input. onnxruntime runs the
model on that input with every intermediate tensor exposed as an output, and the shapes it
produced stand in for inference's. The shapes hold at that input only, which the importer
says in its warnings.

This module imports onnx, and onnxruntime when it is installed (extras onnx and torch).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from graphs.ops import Shape


def observed_shapes(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]
                    ) -> tuple[dict[str, Shape], str]:
    """Every tensor's shape from one onnxruntime run on ``feeds`` and an empty reason; or
    no shapes and the reason (onnxruntime missing, or the run failed)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return {}, "onnxruntime is not installed (extra: onnx)"
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    exposed = {o.name for o in probe.graph.output}
    for node in probe.graph.node:
        for out in node.output:
            if out and out not in exposed:
                probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(out))
                exposed.add(out)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 4
    options.intra_op_num_threads = 1
    try:
        session = ort.InferenceSession(probe.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        results = session.run(None, {k: v for k, v in feeds.items() if k in wanted})
    except Exception as exc:  # onnxruntime raises its own exception types
        return {}, f"onnxruntime cannot run the model: {str(exc)[:200]}"
    shapes = {out.name: tuple(int(d) for d in np.shape(value))
              for out, value in zip(session.get_outputs(), results, strict=True)
              if isinstance(value, np.ndarray)}
    return shapes, ""


def example_feeds(inputs: Mapping[str, tuple[Shape, np.dtype]]) -> dict[str, np.ndarray]:
    """Seeded inputs of the given shapes and dtypes: normal floats, zero integers (ids)."""
    generator = np.random.default_rng(0)
    return {name: (generator.standard_normal(shape).astype(dtype) if dtype.kind == "f"
                   else np.zeros(shape, dtype=dtype))
            for name, (shape, dtype) in inputs.items()}
