"""Activation functions shared by the kernels (the elementwise table and the recurrent
cells), written to stay accurate in float32's tails."""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + exp(−x)), accurate to rounding in both tails: below x ≈ −88
    (float32) exp(−x) overflows to inf and σ to 0, its limit (the overflow is expected and
    not reported)."""
    out = np.negative(x)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    return out
