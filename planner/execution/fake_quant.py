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


def fake_quant(x: np.ndarray, dtype: str) -> np.ndarray:
    """Activations as stored at ``dtype``: fp16 rounding, or symmetric per-tensor integer
    quantization at the activation width with the tensor's own max as range."""
    if dtype == "fp32" or x.dtype.kind != "f":
        return x
    if dtype == "fp16":
        return x.astype(np.float16).astype(x.dtype)
    top = (1 << (act_bits(dtype) - 1)) - 1
    scale = float(np.abs(x).max()) / top or 1.0
    return (np.clip(np.round(x / scale), -top, top) * scale).astype(x.dtype)
