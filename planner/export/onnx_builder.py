"""Building an ONNX graph node by node, and writing weights as a runtime stores them.

Weight tensors are written in the closest form ONNX carries to the plan's format, always
decoding to the exact fp32 values the simulation computes with:

- ``fp32``: a float initializer; ``fp16``: a float16 initializer and a ``Cast``;
- ``int8`` / ``int4``: QDQ, an int8 or int4 initializer of the codes and a
  ``DequantizeLinear`` with the per-output-channel scales (axis 0); int8 weights of a
  layer that computes in floating point: a ``Cast`` and a ``Mul`` by the scales, which
  onnxruntime folds into fp32 weights when it loads the model;
- ``binary``: the signs (−1, 0 where pruned, +1) as int4 codes with their scales (ONNX has
  no 1-bit type);
- ``kmeansB``: the centroid index of every weight as a uint4, uint8 or uint16 initializer,
  and a ``Gather`` from the fp32 codebook (a zero appended when weights are pruned); ONNX has no
  Huffman coding, so the file holds fixed-width indices.

Unstructured sparsity is stored dense (zeros in place): onnxruntime has no sparse conv.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphs import MissingExtraError
from planner.compression.storage import Encoded

OPSET = 21
"""The ONNX opset written: the first with int4 ``DequantizeLinear`` (onnxruntime ≥ 1.20)."""


def onnx_modules() -> tuple[Any, Any, Any]:
    """``(onnx, onnx.helper, onnx.TensorProto)``, or MissingExtraError naming the extra."""
    try:
        import onnx
        from onnx import TensorProto, helper
    except ImportError:
        raise MissingExtraError("onnx", "export") from None
    return onnx, helper, TensorProto


def pack_nibbles(values: np.ndarray) -> bytes:
    """4-bit values packed two to a byte, the first in the low nibble (ONNX's INT4/UINT4
    layout); an odd count is padded with a zero nibble.

    >>> pack_nibbles(np.array([1, -1, 3])).hex()
    'f103'
    """
    nibbles = (np.asarray(values, dtype=np.int64).ravel() & 0xF).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8).tobytes()


@dataclass
class OnnxBuilder:
    """Nodes and initializers of one ONNX graph, with unique names."""

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    """Tensor names taken (initializers and node outputs)."""
    node_names: set[str] = field(default_factory=set)

    def fresh(self, base: str, taken: set[str] | None = None) -> str:
        """A name not in ``taken`` (default: the tensor names) yet: ``base``, else
        ``base/1``, ``base/2``, …; it is taken from then on."""
        names = self.used if taken is None else taken
        name, n = base, 0
        while name in names:
            n += 1
            name = f"{base}/{n}"
        names.add(name)
        return name

    def node(self, op: str, inputs: list[str], output: str | None = None, *,
             name: str | None = None, **attrs: Any) -> str:
        """Add one node; returns its output tensor (a fresh name unless ``output``)."""
        _, helper, _ = onnx_modules()
        out = output if output is not None else self.fresh(f"{name or op}/out")
        self.used.add(out)
        self.nodes.append(helper.make_node(
            op, inputs, [out], name=self.fresh(name or out, self.node_names), **attrs))
        return out

    def const(self, base: str, value: np.ndarray | np.generic) -> str:
        """A numpy array (or scalar) as an initializer."""
        from onnx import numpy_helper

        name = self.fresh(base)
        array = np.asarray(value)  # a scalar stays 0-d (a per-tensor scale)
        self.initializers.append(numpy_helper.from_array(
            np.ascontiguousarray(array) if array.ndim else array, name))
        return name

    def raw(self, base: str, data_type: int, dims: tuple[int, ...], data: bytes) -> str:
        """An initializer from raw little-endian bytes (for the 4-bit types)."""
        _, helper, _ = onnx_modules()
        name = self.fresh(base)
        self.initializers.append(helper.make_tensor(name, data_type, dims, data, raw=True))
        return name

    def ints(self, base: str, values: list[int] | tuple[int, ...]) -> str:
        """An int64 vector initializer (shapes, axes)."""
        return self.const(base, np.asarray(values, dtype=np.int64))

    # ------------------------------------------------------------ weights

    def plain(self, base: str, value: np.ndarray, bits: int) -> str:
        """A weight stored plainly: fp16 (and a ``Cast`` to fp32) at 16 bits, else fp32."""
        _, _, tp = onnx_modules()
        if bits == 16 and value.dtype.kind == "f":
            half = self.const(f"{base}/fp16", value.astype(np.float16))
            return self.node("Cast", [half], name=f"{base}/cast", to=tp.FLOAT)
        return self.const(base, value.astype(value.dtype if value.dtype.kind != "f"
                                             else np.float32))

    def encoded(self, base: str, enc: Encoded, folded: bool = False) -> str:
        """A weight tensor in its format (see the module docstring); returns the fp32
        tensor its consumer reads. ``folded``: int8 codes decoded by a ``Cast`` and a
        ``Mul`` by the scales rather than a ``DequantizeLinear`` (the same fp32 values),
        which onnxruntime folds into a constant when it loads the model (it keeps every
        ``DequantizeLinear`` for its integer kernels, and a layer whose weights are not
        constant runs without its packed-weight fast paths): for layers that compute in
        floating point."""
        _, _, tp = onnx_modules()
        if enc.fmt in ("fp32", "fp16"):
            return self.plain(base, enc.decoded, 16 if enc.fmt == "fp16" else 32)
        if enc.codes is None:
            raise ValueError(f"{base}: the {enc.fmt} encoding carries no codes")
        dims = tuple(enc.codes.shape)
        if enc.scales is not None:  # int8, int4, binary: QDQ
            if enc.fmt == "int8" and folded:
                codes = self.const(f"{base}/int8", enc.codes.astype(np.int8))
                scale = self.const(f"{base}/scale", enc.scales.astype(np.float32).reshape(
                    dims[0], *[1] * (len(dims) - 1)))
                wide = self.node("Cast", [codes], name=f"{base}/cast", to=tp.FLOAT)
                return self.node("Mul", [wide, scale], name=f"{base}/scaled")
            if enc.fmt == "int8":
                codes = self.const(f"{base}/int8", enc.codes.astype(np.int8))
                zero = self.const(f"{base}/zero", np.zeros(dims[0], np.int8))
            else:
                codes = self.raw(f"{base}/int4", tp.INT4, dims, pack_nibbles(enc.codes))
                zero = self.raw(f"{base}/zero", tp.INT4, (dims[0],),
                                pack_nibbles(np.zeros(dims[0])))
            scale = self.const(f"{base}/scale", enc.scales.astype(np.float32))
            return self.node("DequantizeLinear", [codes, scale, zero], name=f"{base}/dq",
                             axis=0)
        if enc.codebook is None:
            raise ValueError(f"{base}: the {enc.fmt} encoding carries no codebook")
        pruned = enc.codes < 0
        entries = enc.codebook.size + int(pruned.any())  # pruned weights read a zero last
        index = np.where(pruned, enc.codebook.size, enc.codes)
        if entries <= 16:
            codes = self.raw(f"{base}/uint4", tp.UINT4, dims, pack_nibbles(index))
        else:
            codes = self.const(f"{base}/index", index.astype(
                np.uint8 if entries <= 256 else np.uint16))
        book = self.const(f"{base}/codebook", np.append(
            enc.codebook, np.zeros(entries - enc.codebook.size)).astype(np.float32))
        wide = self.node("Cast", [codes], name=f"{base}/index64", to=tp.INT64)
        return self.node("Gather", [book, wide], name=f"{base}/lookup", axis=0)
