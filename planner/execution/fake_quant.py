"""Activations as a runtime stores them at a compute dtype (fake quantization)."""

from __future__ import annotations

import numpy as np

ACTIVATION_BITS = {"fp32": 32, "fp16": 16, "int8": 8, "int4": 8}
"""Activations are stored at the dtype's width; int4 compute keeps int8 activations."""


def act_bits(dtype: str) -> int:
    """Bits per stored activation at a compute dtype.

    >>> act_bits("int4")
    8
    """
    return ACTIVATION_BITS[dtype]


def activation_scale(x: np.ndarray, dtype: str) -> float | None:
    """The symmetric per-tensor scale of activations stored at an integer ``dtype`` (the
    tensor's own max over the top code), None for float dtypes.

    >>> activation_scale(np.array([-2.54, 1.0]), "int8")
    0.02
    """
    if dtype in ("fp32", "fp16") or x.dtype.kind != "f":
        return None
    top = (1 << (act_bits(dtype) - 1)) - 1
    return float(np.abs(x).max()) / top or 1.0


def fake_quant(x: np.ndarray, dtype: str, scale: float | None = None) -> np.ndarray:
    """Activations as stored at ``dtype``: fp16 rounding, or symmetric per-tensor integer
    quantization at the activation width, with ``scale`` (default: the tensor's own max
    as range, :func:`activation_scale`)."""
    if dtype == "fp32" or x.dtype.kind != "f":
        return x
    if dtype == "fp16":
        with np.errstate(over="ignore"):  # beyond 65504 fp16 holds ±inf, as runtimes do
            return x.astype(np.float16).astype(x.dtype)
    top = (1 << (act_bits(dtype) - 1)) - 1
    step = scale if scale is not None else activation_scale(x, dtype)
    with np.errstate(invalid="ignore", over="ignore"):  # a mask's −inf: no integer holds it
        return (np.clip(np.round(x / step), -top, top) * step).astype(x.dtype)
