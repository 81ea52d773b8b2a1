"""Weight formats and their stored size, counted exactly from the arrays.

The planner and the simulator share these encoders, so a plan's predicted bytes are the
bytes the simulation stores.

Formats:

- ``fp32`` / ``fp16``: IEEE floats.
- ``int8`` / ``int4``: symmetric per-output-channel quantization, one fp32 scale per
  channel (values in [−(2^(b−1) − 1), 2^(b−1) − 1]).
- ``binary``: sign bits with one fp32 scale per output channel (the mean magnitude).
- ``kmeansB``: weight sharing (Deep Compression): 2^B fp32 centroids found by 1-D k-means
  with linear initialisation, and each weight's centroid index Huffman-coded.

Unstructured sparsity keeps the largest-magnitude weights; positions are stored as a bitmask
or as relative indices, whichever is smaller. A relative index of b bits stores the number
of zeros before the next value (0 … 2^b − 2); the code 2^b − 1 is an escape meaning "skip
2^b − 1 zeros" and carries no value. (Deep Compression pads with a stored zero weight
instead; the escape is never larger.) In entropy-coded formats the index codes are
Huffman-coded too. Biases stay 32-bit (16-bit in fp16 layers).
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

FLOAT_BITS = {"fp32": 32, "fp16": 16}
INT_BITS = {"int8": 8, "int4": 4}
SCALE_BITS = 32
INDEX_WIDTHS = range(2, 9)
KMEANS_ITERATIONS = 25


MAX_KMEANS_BITS = 8
"""The widest k-means code: 256 shared values (Deep Compression uses 5 to 8 bits)."""


def format_bits(fmt: str) -> int:
    """Bits per stored value of a format (before entropy coding)."""
    if fmt in FLOAT_BITS:
        return FLOAT_BITS[fmt]
    if fmt in INT_BITS:
        return INT_BITS[fmt]
    if fmt == "binary":
        return 1
    bits = fmt.removeprefix("kmeans")
    if fmt.startswith("kmeans") and bits.isdigit() and 1 <= int(bits) <= MAX_KMEANS_BITS:
        return int(bits)
    raise ValueError(f"unknown weight format {fmt!r}; expected one of "
                     f"{', '.join([*FLOAT_BITS, *INT_BITS, 'binary'])} or kmeans1 to "
                     f"kmeans{MAX_KMEANS_BITS}")


def is_entropy_coded(fmt: str) -> bool:
    """Formats whose indices are Huffman-coded."""
    return fmt.startswith("kmeans")


# ---------------------------------------------------------------- Huffman


def huffman_lengths(counts: Counter[int]) -> dict[int, int]:
    """Code length per symbol of a Huffman code for these counts (1 for a lone symbol).

    >>> sorted(huffman_lengths(Counter({0: 5, 1: 2, 2: 1, 3: 1})).items())
    [(0, 1), (1, 2), (2, 3), (3, 3)]
    """
    symbols = [s for s, n in counts.items() if n > 0]
    if len(symbols) <= 1:
        return dict.fromkeys(symbols, 1)
    heap: list[tuple[int, int, list[int]]] = [
        (counts[s], i, [s]) for i, s in enumerate(sorted(symbols))]
    heapq.heapify(heap)
    depth = dict.fromkeys(symbols, 0)
    tie = len(heap)
    while len(heap) > 1:
        n1, _, a = heapq.heappop(heap)
        n2, _, b = heapq.heappop(heap)
        for s in a + b:
            depth[s] += 1
        heapq.heappush(heap, (n1 + n2, tie, a + b))
        tie += 1
    return depth


def huffman_bits(symbols: np.ndarray) -> int:
    """Total bits of non-negative integer ``symbols`` Huffman-coded (the code table is not
    counted)."""
    histogram = np.bincount(np.asarray(symbols, dtype=np.int64).ravel())
    counts = Counter({s: int(n) for s, n in enumerate(histogram) if n})
    lengths = huffman_lengths(counts)
    return sum(counts[s] * lengths[s] for s in counts)


# ---------------------------------------------------------------- sparse positions


def relative_index_codes(mask: np.ndarray, width: int) -> np.ndarray:
    """The relative-index code stream of a flattened nonzero mask at ``width`` bits.

    >>> relative_index_codes(np.array([1, 0, 0, 0, 0, 0, 1], bool), 2).tolist()
    [0, 3, 2]
    """
    positions = np.flatnonzero(np.asarray(mask).ravel())
    gaps = np.diff(positions, prepend=-1) - 1
    escape = (1 << width) - 1
    escapes = gaps // escape
    remainders = gaps - escapes * escape
    total = escapes.sum() + len(gaps)
    codes = np.full(int(total), escape, dtype=np.int64)
    # each value's code sits after its escapes: cumulative offsets
    ends = np.cumsum(escapes + 1) - 1
    codes[ends] = remainders
    return codes


def gap_histogram(mask: np.ndarray) -> np.ndarray:
    """How many kept weights follow each number of zeros since the last kept one (or the
    start): entry g counts the gaps of length g in a flattened nonzero mask.

    >>> gap_histogram(np.array([1, 0, 0, 1, 1], bool)).tolist()
    [2, 0, 1]
    """
    positions = np.flatnonzero(np.asarray(mask).ravel())
    return np.bincount(np.diff(positions, prepend=-1) - 1)


def index_code_counts(mask: np.ndarray, width: int,
                      gaps: np.ndarray | None = None) -> Counter[int]:
    """How often each relative-index code occurs (the histogram of
    :func:`relative_index_codes`, computed without building the stream; ``gaps``: the
    mask's :func:`gap_histogram`, when already known)."""
    gaps = gap_histogram(mask) if gaps is None else gaps
    escape = (1 << width) - 1
    lengths = np.arange(len(gaps))
    counts = np.bincount(lengths % escape, weights=gaps, minlength=escape + 1
                         ).astype(np.int64)
    counts[escape] += int((lengths // escape) @ gaps)
    return Counter({code: int(n) for code, n in enumerate(counts) if n})


def sparse_index_bits(mask: np.ndarray, entropy_coded: bool = False) -> tuple[int, int, str]:
    """(index bits, number of escape entries, encoding) of the cheapest position encoding:
    a bitmask, or relative indices at the best width (Huffman-coded when entropy coded)."""
    mask = np.asarray(mask).ravel()
    best = (mask.size, 0, "bitmask")
    values = int(mask.sum())
    gaps = gap_histogram(mask)
    for width in INDEX_WIDTHS:
        counts = index_code_counts(mask, width, gaps)
        entries = sum(counts.values())
        if entropy_coded:
            lengths = huffman_lengths(counts)
            bits = sum(n * lengths[code] for code, n in counts.items())
        else:
            bits = entries * width
        if bits < best[0]:
            best = (bits, entries - values, f"relative{width}")
    return best


# ---------------------------------------------------------------- quantizers


def quantize_int(w: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel quantization: (integer codes, fp32 scales)."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    top = (1 << (bits - 1)) - 1
    scale = np.abs(flat).max(axis=1) / top
    scale[scale == 0] = 1.0
    codes = np.clip(np.round(flat / scale[:, None]), -top, top)
    return codes.reshape(w.shape).astype(np.int8), scale.astype(np.float32)


def binarize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signs and the per-output-channel mean magnitude (XNOR-Net's α)."""
    flat = w.reshape(w.shape[0], -1)
    alpha = np.abs(flat).mean(axis=1).astype(np.float32)
    return np.where(w >= 0, 1, -1).astype(np.int8), alpha


def kmeans_1d(values: np.ndarray, clusters: int, ordered: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means in one dimension with linear initialisation (Deep Compression's best):
    (sorted centroids, index of each value's centroid).

    The values are sorted once (in their own dtype, then widened: float32 sorts 1.5× as
    fast; ``ordered``: that result, when the caller fits several codebooks to the same
    values, see :func:`sorted_values`); each Lloyd step then finds the cluster boundaries
    by binary search and the cluster means from prefix sums, so a step costs O(k log n)
    however large the tensor, and every value takes part in the fit.

    >>> centroids, index = kmeans_1d(np.array([0.0, 0.1, 0.9, 1.0]), 2)
    >>> centroids.round(2).tolist(), index.tolist()
    ([0.05, 0.95], [0, 0, 1, 1])
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return np.zeros(1), np.zeros(0, dtype=np.int64)
    ordered = sorted_values(values) if ordered is None else ordered
    if ordered.shape != v.shape:
        raise ValueError(f"ordered holds {ordered.size} values, the tensor {v.size}")
    clusters = max(1, min(clusters, int(np.count_nonzero(np.diff(ordered))) + 1))
    prefix = np.concatenate([[0.0], np.cumsum(ordered)])
    centroids = np.linspace(ordered[0], ordered[-1], clusters)
    for _ in range(KMEANS_ITERATIONS):
        edges = (centroids[1:] + centroids[:-1]) / 2  # a value on an edge joins the lower
        bounds = np.concatenate([[0], np.searchsorted(ordered, edges, "right"),
                                 [ordered.size]])
        counts = np.diff(bounds)
        sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
        moved = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(moved, centroids):
            break
        centroids = np.sort(moved)
    index = _searchsorted((centroids[1:] + centroids[:-1]) / 2, v, ordered[0], ordered[-1])
    return centroids, index


def sorted_values(values: np.ndarray) -> np.ndarray:
    """The values of a tensor sorted, as float64 (what :func:`kmeans_1d` fits)."""
    return np.sort(np.asarray(values).ravel()).astype(np.float64, copy=False)


GRID_CELLS = 1 << 16
"""Cells of the lookup table :func:`_searchsorted` uses on large tensors."""


def _searchsorted(edges: np.ndarray, values: np.ndarray, low: float, high: float
                  ) -> np.ndarray:
    """``np.searchsorted(edges, values)`` for ``values`` within [low, high], by a table over
    ``GRID_CELLS`` equal cells of that range: a value takes its cell's answer unless an
    edge lies in or beside the cell (rounding may shift a value by one cell), and those
    few values are searched. Exact, and about 4× faster than a binary search per value on
    a tensor of millions."""
    if values.size < GRID_CELLS or edges.size == 0 or not (
            np.isfinite(low) and np.isfinite(high) and high > low):
        return np.searchsorted(edges, values)
    scale = GRID_CELLS / (high - low)
    cell = np.clip(((values - low) * scale).astype(np.int64), 0, GRID_CELLS - 1)
    table = np.searchsorted(edges, low + np.arange(GRID_CELLS) / scale)
    near = np.clip(((edges - low) * scale).astype(np.int64), 0, GRID_CELLS - 1)
    unsure = np.zeros(GRID_CELLS + 2, bool)
    for shift in (0, 1, 2):  # the edge's cell and both neighbours (offset by one)
        unsure[near + shift] = True
    index = table[cell]
    doubt = unsure[1:-1][cell]
    index[doubt] = np.searchsorted(edges, values[doubt])
    return index


# ---------------------------------------------------------------- encoding a tensor


@dataclass(frozen=True)
class Encoded:
    """A weight tensor as stored: its decoded values and the exact bits they take, and
    what an exporter writes: ``fmt``; for integer and binary formats the integer ``codes``
    (the weight's shape, 0 where pruned) and the per-output-channel fp32 ``scales``
    (decoded = codes · scale); for k-means the centroid index of every weight (−1 where
    pruned) as ``codes`` and the fp32 ``codebook``."""

    decoded: np.ndarray
    value_bits: int
    index_bits: int
    overhead_bits: int
    encoding: str
    fmt: str = "fp32"
    codes: np.ndarray | None = None
    scales: np.ndarray | None = None
    codebook: np.ndarray | None = None

    @property
    def bits(self) -> int:
        """All stored bits: values, sparse positions, scales and codebooks."""
        return self.value_bits + self.index_bits + self.overhead_bits


def magnitude_mask(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Keep the largest |w| so that a ``sparsity`` fraction is zero (ties broken by
    position, so the count is exact)."""
    flat = np.abs(w).ravel()
    drop = round(sparsity * flat.size)
    mask = np.ones(flat.size, dtype=bool)
    if drop > 0:
        mask[np.argpartition(flat, drop - 1)[:drop]] = False
    return mask.reshape(w.shape)


def encode(w: np.ndarray, fmt: str, sparsity: float = 0.0,
           ordered: np.ndarray | None = None) -> Encoded:
    """Store ``w`` (out channels first) in ``fmt`` after magnitude pruning to ``sparsity``
    (dense tensors skip every mask operation: the same result, without the copies).
    ``ordered``: ``sorted_values`` of w as float32, for k-means on the dense tensor
    (computed here when not given)."""
    w = np.asarray(w, dtype=np.float32)
    mask = magnitude_mask(w, sparsity) if sparsity > 0 else None
    nnz = w.size if mask is None else int(mask.sum())
    entropy = is_entropy_coded(fmt)
    index_bits, encoding = 0, "dense"
    if mask is not None:
        index_bits, _, encoding = sparse_index_bits(mask, entropy)
    kept = w if mask is None else np.where(mask, w, 0)
    if fmt in FLOAT_BITS:
        decoded = (kept.astype(np.float16).astype(np.float32) if fmt == "fp16"
                   else kept.copy() if mask is None else kept)  # never the caller's array
        return Encoded(decoded, nnz * FLOAT_BITS[fmt], index_bits, 0, encoding, fmt)
    if fmt in INT_BITS or fmt == "binary":
        codes, scale = (quantize_int(kept, INT_BITS[fmt]) if fmt in INT_BITS
                        else binarize(kept))
        if mask is not None:
            codes = codes * mask.astype(np.int8)
        decoded = (codes.reshape(w.shape[0], -1) * scale[:, None]).reshape(w.shape)
        return Encoded(decoded.astype(np.float32), nnz * format_bits(fmt), index_bits,
                       scale.size * SCALE_BITS, encoding, fmt, codes, scale)
    if fmt.startswith("kmeans"):
        centroids, index = kmeans_1d(kept.ravel() if mask is None else kept[mask],
                                     1 << format_bits(fmt), ordered if mask is None else None)
        book = centroids.astype(np.float32)
        if mask is None:
            decoded = book[index].reshape(w.shape)
            codes = index.astype(np.int16).reshape(w.shape)  # at most 256 centroids
        else:
            decoded = np.zeros(w.shape, dtype=np.float32)
            decoded[mask] = book[index]
            codes = np.full(w.shape, -1, dtype=np.int16)
            codes[mask] = index
        return Encoded(decoded, huffman_bits(index), index_bits,
                       centroids.size * SCALE_BITS, encoding, fmt, codes, codebook=book)
    raise ValueError(f"unknown weight format {fmt!r}")


def bias_bits(n: int, fmt: str) -> int:
    """Bits of a bias of ``n`` values: 16 in fp16 layers, 32 otherwise."""
    return n * (16 if fmt == "fp16" else 32)


def relative_error(original: np.ndarray, approximation: np.ndarray) -> float:
    """‖original − approximation‖² / ‖original‖² (0 for an all-zero original).

    Computed at the inputs' own precision (float32 at least) with numpy's pairwise sums,
    whose relative error is a few float32 ulps × log₂ of the size: about 1e-6 on the
    largest tensors, four times faster than in float64 (the difference of two close values
    is exact in float32). Values beyond 1e19 in magnitude, whose squares float32 does not
    hold (attention-mask sentinels), are summed again in float64; an infinite original
    that the approximation does not reproduce makes the error 1."""
    dtype = np.result_type(np.asarray(original).dtype, np.asarray(approximation).dtype,
                           np.float32)
    flat = np.asarray(original, dtype).ravel()
    with np.errstate(over="ignore", invalid="ignore"):  # the wide sum below takes those
        total = float(np.sum(np.square(flat)))
        if total == 0:
            return 0.0
        diff = np.subtract(flat, np.asarray(approximation, dtype).ravel())
        np.square(diff, out=diff)
        error = float(np.sum(diff)) / total
    if math.isfinite(error) and math.isfinite(total):
        return error
    return _relative_error_wide(flat, np.asarray(approximation).ravel())


def _relative_error_wide(original: np.ndarray, approximation: np.ndarray) -> float:
    """:func:`relative_error` in float64, infinities compared as values."""
    a, b = original.astype(np.float64), approximation.astype(np.float64)
    finite = np.isfinite(a)
    if not np.array_equal(a[~finite], b[~finite]) or not np.all(np.isfinite(b[finite])):
        return 1.0
    total = float(np.sum(np.square(a[finite])))
    return float(np.sum(np.square(a[finite] - b[finite]))) / total if total else 0.0


def expected_escapes(values: int, density: float, width: int) -> float:
    """Expected escape entries per stored value for uniformly random positions at
    ``density`` (for planning without weights): Σ_k (1 − p)^(k·E) = q / (1 − q)."""
    if density >= 1:
        return 0.0
    q = (1 - density) ** ((1 << width) - 1)
    return values * q / (1 - q)


def index_bits_bound(n: int, values: int) -> int:
    """An upper bound on the position bits :func:`sparse_index_bits` chooses for ``values``
    non-zeros among ``n`` weights, whatever their positions: a bitmask takes ``n`` bits, and
    relative indices of width w take at most (values + zeros / (2^w − 1)) · w bits (each
    escape skips 2^w − 1 zeros); Huffman coding never lengthens the fixed-width stream.

    >>> index_bits_bound(1000, 100)
    640
    """
    zeros = n - values
    return min([n, *((values + zeros // ((1 << w) - 1)) * w for w in INDEX_WIDTHS)])


def nominal_index_bits(n: int, density: float) -> int:
    """Cheapest position encoding of ``n`` weights at ``density`` under uniformly random
    positions, with fixed-width relative indices (for planning without weights)."""
    values = round(n * density)
    best = n  # bitmask
    for width in INDEX_WIDTHS:
        best = min(best, math.ceil((values + expected_escapes(values, density, width)) * width))
    return best
