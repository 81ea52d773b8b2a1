"""Storage arithmetic: exact bit counts of every format, and Deep Compression's AlexNet."""

from __future__ import annotations

import numpy as np
import pytest

from planner.compression.storage import (
    encode,
    expected_escapes,
    huffman_bits,
    relative_index_codes,
    sparse_index_bits,
)

# Deep Compression (Han et al., ICLR 2016), Table 4: AlexNet layer sizes (Caffe), the
# fraction of weights kept, the weight bits (8 for conv, 5 for fc) and the average Huffman
# code lengths of the weights and of the 4-bit relative indices.
ALEXNET = {  # name: (weights, keep, weight bits, huffman weight bits, huffman index bits)
    "conv1": (34_848, 0.84, 8, 6.3, 1.2),
    "conv2": (307_200, 0.38, 8, 5.5, 2.3),
    "conv3": (884_736, 0.35, 8, 5.1, 2.6),
    "conv4": (663_552, 0.37, 8, 5.2, 2.5),
    "conv5": (442_368, 0.37, 8, 5.6, 2.5),
    "fc6": (37_748_736, 0.09, 5, 3.9, 3.2),
    "fc7": (16_777_216, 0.09, 5, 3.6, 3.7),
    "fc8": (4_096_000, 0.25, 5, 4.0, 3.2),
}
INDEX_BITS = 4
CODEBOOK_BITS = 32  # one fp32 centroid per code


def _deep_compression_bits(huffman: bool) -> float:
    """Stored bits of pruned + shared (+ Huffman-coded) AlexNet.

    Per layer: values = keep × n; escape entries (runs of 15 zeros) from
    :func:`expected_escapes` for uniformly spread positions; each entry stores one index
    (4 bits) and each value one weight code (b bits), or their Huffman averages; plus a
    2^b-entry fp32 codebook.
    """
    total = 0.0
    for n, keep, bits, h_weight, h_index in ALEXNET.values():
        values = n * keep
        entries = values + expected_escapes(round(values), keep, INDEX_BITS)
        weight_bits, index_bits = (h_weight, h_index) if huffman else (bits, INDEX_BITS)
        total += values * weight_bits + entries * index_bits + (1 << bits) * CODEBOOK_BITS
    return total


def test_deep_compression_alexnet_ratio() -> None:
    # 61.0 M fp32 weights (240 MB) → 6.9 MB (27×) after pruning and sharing, 6.9 → 6.9/1.3
    # (35×) with Huffman coding, as the paper's Table 1 reports; within 5%.
    original = sum(n for n, *_ in ALEXNET.values()) * 32
    assert original / _deep_compression_bits(False) == pytest.approx(27, rel=0.05)
    assert original / _deep_compression_bits(True) == pytest.approx(35, rel=0.05)


def test_relative_index_escape_codes() -> None:
    # mask 1 0×20 1 with 4-bit indices: first value at gap 0; then 20 zeros = one escape
    # (15 zeros) + gap 5 → codes [0, 15, 5]
    mask = np.zeros(22, bool)
    mask[[0, 21]] = True
    assert relative_index_codes(mask, 4).tolist() == [0, 15, 5]


def test_sparse_index_bits_picks_bitmask_when_dense() -> None:
    # 90% dense: a bitmask (n bits) beats relative indices (≥ 2 bits per value)
    mask = np.ones(1000, bool)
    mask[::10] = False
    bits, _, kind = sparse_index_bits(mask)
    assert (bits, kind) == (1000, "bitmask")


def test_huffman_bits_of_skewed_symbols() -> None:
    # counts 4,2,1,1 → code lengths 1,2,3,3 → 4·1 + 2·2 + 1·3 + 1·3 = 14 bits
    symbols = np.array([0, 0, 0, 0, 1, 1, 2, 3])
    assert huffman_bits(symbols) == 14


@pytest.mark.parametrize(("fmt", "bits_per_value"), [("fp32", 32), ("fp16", 16),
                                                     ("int8", 8), ("int4", 4), ("binary", 1)])
def test_dense_formats_count_values_and_scales(fmt: str, bits_per_value: int) -> None:
    # a (16, 8) weight: 128 values × b bits, + 16 fp32 per-row scales for int/binary
    w = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    enc = encode(w, fmt)
    scales = 16 * 32 if fmt in ("int8", "int4", "binary") else 0
    assert enc.bits == 128 * bits_per_value + scales


def test_int8_error_is_within_half_a_step() -> None:
    # symmetric int8 per row: |w − ŵ| ≤ scale/2 with scale = max|row|/127
    w = np.random.default_rng(1).standard_normal((32, 64)).astype(np.float32)
    enc = encode(w, "int8")
    step = np.abs(w).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(w - enc.decoded) <= step / 2 + 1e-7)
