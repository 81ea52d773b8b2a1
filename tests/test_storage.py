"""Storage arithmetic: exact bit counts of every format, and Deep Compression's AlexNet."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.compression.storage import (
    encode,
    expected_escapes,
    huffman_bits,
    relative_index_codes,
    sparse_index_bits,
)
from planner.search.options import LayerFacts, PairRates, weight_bits, weight_bits_tables

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


@pytest.mark.parametrize(("op", "shape", "attrs"), [
    ("linear", (48, 80), {"out_features": 48, "bias": False}),
    ("conv2d", (32, 24, 1, 1), {"out_channels": 32, "kernel_size": (1, 1), "stride": (1, 1),
                                "padding": (0, 0, 0, 0), "dilation": (1, 1), "groups": 1,
                                "bias": False}),
    ("conv2d", (32, 24, 3, 3), {"out_channels": 32, "kernel_size": (3, 3), "stride": (1, 1),
                                "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1,
                                "bias": False}),
])
def test_rank_errors_from_spectra_equal_the_factorisation(
        op: str, shape: tuple[int, ...], attrs: dict[str, object]) -> None:
    """The proxy's low-rank error comes from eigenvalues; it must equal the error of the
    factors the simulation builds (SVD, Tucker-2 by truncated HOSVD)."""
    from graphs import Layer
    from planner.compression.storage import relative_error
    from planner.compression.transforms import factorize, rank_errors, reconstruct

    rng = np.random.default_rng(0)
    w = rng.standard_normal(shape).astype(np.float32)
    in_shape = (1, shape[1], 8, 8) if op == "conv2d" else (1, shape[1])
    layer = Layer.create("l", op, ("x",), [in_shape], attrs)
    errors = rank_errors(layer, w, (1.0, 0.5, 0.25))
    assert set(errors) == {0.5, 0.25}
    for fraction, error in errors.items():
        factors = factorize(layer, {"weight": w}, fraction)
        direct = relative_error(w, reconstruct(factors).reshape(w.shape))
        assert error == pytest.approx(direct, rel=1e-4)


def test_upper_bounds_hold_for_every_encoding() -> None:
    """The safe round relies on these: positions never take more than
    ``index_bits_bound`` (bitmask or relative, Huffman-coded or not), and Huffman-coded
    k-means indices never more than the fixed-width code."""
    from planner.compression.storage import index_bits_bound, kmeans_1d

    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 3000))
        mask = rng.random(n) > rng.uniform(0.3, 0.97)
        if trial % 3 == 0:
            mask = np.sort(mask)  # every zero in one run: the most escapes
        bound = index_bits_bound(n, int(mask.sum()))
        assert sparse_index_bits(mask)[0] <= bound
        assert sparse_index_bits(mask, True)[0] <= bound
    for bits in (2, 4, 6):
        w = rng.standard_normal(int(rng.integers(10, 5000)))
        _, index = kmeans_1d(w, 1 << bits)
        assert huffman_bits(index) <= index.size * bits


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(("weight", "bias", "scale")), st.integers(1, 5000),
                          st.integers(1, 64)), min_size=1, max_size=3),
       st.booleans(), st.sampled_from((16, 32)), st.floats(0.5, 6.0), st.floats(0.05, 2.0))
def test_the_size_table_equals_the_size_of_each_pair(
        tensors: list[tuple[str, int, int]], bound: bool, dtype_bits: int, kmeans_rate: float,
        index_rate: float) -> None:
    """Sizes of all (format, sparsity) pairs at once equal each one computed alone."""
    facts = LayerFacts(kmeans_bits_per_value={"kmeans4": kmeans_rate},
                       index_bits_per_weight={0.5: index_rate, 0.9: index_rate / 3},
                       huffman_index_bits_per_weight={0.5: index_rate * 0.8})
    pairs = [(f, s) for f in ("fp32", "fp16", "int8", "int4", "binary", "kmeans4", "kmeans6")
             for s in (0.0, 0.5, 0.75, 0.9)]
    # the tensors, a shape that does not factorise (a row of zeros), the tensors pruned
    pruned = [(k, max(1, n // 2), max(1, rows // 2)) for k, n, rows in tensors]
    table = weight_bits_tables([tensors, None, pruned], PairRates.of(pairs, facts),
                               dtype_bits, bound)
    for row, shape in ((0, tensors), (2, pruned)):
        assert table[row].tolist() == [weight_bits(shape, f, s, facts, dtype_bits, bound)
                                       for f, s in pairs]
    assert not table[1].any()


def test_kmeans_indices_on_large_tensors_equal_a_binary_search_per_value() -> None:
    # tensors past GRID_CELLS values take the lookup-table path; a value exactly on an
    # edge joins the lower side, as np.searchsorted says
    from planner.compression.storage import GRID_CELLS, _searchsorted, kmeans_1d

    rng = np.random.default_rng(3)
    for w in (rng.standard_normal(3 * GRID_CELLS) ** 3,
              np.round(rng.standard_normal(2 * GRID_CELLS), 1)):  # clustered values
        for clusters in (2, 16, 64):
            centroids, index = kmeans_1d(w, clusters)
            edges = (centroids[1:] + centroids[:-1]) / 2
            assert (index == np.searchsorted(edges, w)).all()
        on_values = np.unique(rng.choice(w, 40))  # edges sitting on values
        assert (_searchsorted(on_values, w, w.min(), w.max())
                == np.searchsorted(on_values, w)).all()


def test_kmeans_fits_from_shared_sorted_values_exactly() -> None:
    from planner.compression.storage import kmeans_1d, sorted_values

    w = np.random.default_rng(3).standard_normal((96, 40)).astype(np.float32)
    ordered = sorted_values(w)
    for clusters in (16, 64):
        alone, shared = kmeans_1d(w, clusters), kmeans_1d(w, clusters, ordered)
        assert np.array_equal(alone[0], shared[0]) and np.array_equal(alone[1], shared[1])
    with pytest.raises(ValueError, match="ordered holds 10 values"):
        kmeans_1d(w, 16, ordered[:10])
