"""The schema of a hardware profile: processors, their roofs, and the links between them.

Every published or estimated number is a :class:`Sourced` value: the number, where it comes
from (URL, datasheet, paper, or the arithmetic that derives it) and whether it is an
estimate. Units are in the field names (``peak_ops_per_s``, ``dram_bytes_per_s``,
``launch_overhead_s``). Unknown fields are rejected, so a typo is an error, not a silent
default.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Dtype = Literal["fp32", "fp16", "int8", "int4"]
DTYPES: tuple[Dtype, ...] = ("fp32", "fp16", "int8", "int4")
DTYPE_BITS: dict[str, int] = {"fp32": 32, "fp16": 16, "int8": 8, "int4": 4}

ProcessorKind = Literal["cpu", "gpu", "dsp", "npu"]

#: Op classes a profile may give efficiency factors for (the graph op table's classes; a
#: test keeps the two lists equal, since this package does not import ``graphs``).
OpClass = Literal["conv", "depthwise_conv", "gemm", "matmul", "attention", "elementwise",
                  "pooling", "normalization", "softmax", "gather", "data_movement"]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class Sourced(BaseModel):
    """A number with its provenance. ``estimate`` marks derived or assumed values."""

    model_config = _STRICT

    value: float = Field(ge=0, allow_inf_nan=False)
    source: str = Field(min_length=4, description="URL, datasheet, paper or derivation")
    estimate: bool = Field(default=False, strict=True)
    note: str = ""

    @field_validator("value", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        """A number, or a string YAML did not read as one (``6.144e11``); not a bool."""
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value}")
        return value


class SparseSupport(BaseModel):
    """Hardware that skips zero weights: ``pattern`` of sparsity it accelerates, the least
    sparsity at which it does, and the speed-up it reaches at best."""

    model_config = _STRICT

    pattern: Literal["unstructured", "2:4"]
    min_sparsity: float = Field(gt=0, lt=1, strict=True)
    max_speedup: Sourced

    @field_validator("max_speedup")
    @classmethod
    def _at_least_one(cls, v: Sourced) -> Sourced:
        if v.value < 1:
            raise ValueError(f"a speed-up is at least 1, got {v.value}")
        return v


def _alignment(channels: float) -> int:
    """16, 8 or 1: the block of channels ``channels`` is a whole number of."""
    whole = int(channels)
    return 16 if whole % 16 == 0 else 8 if whole % 8 == 0 else 1


@functools.lru_cache(maxsize=64)
def _corrections_by_alignment(corrections: tuple[tuple[float, float, float, float], ...]
                              ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """A curve's corrections split by the alignment of their ``m``: per alignment the
    log₂ of their (m, n, k) and their log shifts (made once per table of corrections, not
    on every :meth:`EfficiencyCurve.efficiency` call)."""
    table = np.asarray(corrections, dtype=np.float64).reshape(-1, 4)
    groups = np.array([_alignment(m) for m in table[:, 0]])
    return {a: (np.log2(np.maximum(table[groups == a, :3], 1e-9)), table[groups == a, 3])
            for a in np.unique(groups).tolist()}


CORRECTION_PRIOR = 0.15
"""Weight of "no correction" against the benchmarks near a shape (a benchmark at the
shape itself weighs 1)."""


class EfficiencyCurve(BaseModel):
    """The fraction of peak an op class reaches as a function of the GEMM it computes:
    ``ceiling · m/(m + half_m) · n/(n + half_n) · k/(k + half_k)``, with ``m`` output
    channels per group, ``n`` output positions (batch × height × width, or rows) and ``k``
    the reduction length per output (a depthwise conv's ``k`` is its kernel area over the
    stride squared, its ``m`` the channels). Small dimensions fill a kernel's tiles and
    vector lanes poorly; each factor says how small is small. ``overhead_s`` is what every
    kernel of the class costs beyond the processor's launch overhead (setting up its
    tiles, packing its weights).

    ``points`` benchmarks fitted it; ``rms_log_error`` is the root mean square of
    ``ln(predicted / measured)`` over them (the curve's error band on its own grid).

    What the smooth curve misses at particular shapes (a channel count that fills the
    kernel's blocks badly, a first layer with three input channels) is kept in
    ``corrections``: for each compute-bound benchmark ``(m, n, k, r)`` with ``r`` the
    natural log of curve efficiency over measured efficiency. :meth:`efficiency` divides
    the curve by ``exp`` of a Gaussian-weighted mean of the ``r`` near a shape (width
    ``correction_octaves`` in each of log₂ m, n, k, shrunk towards 0 by a prior weight of
    :data:`CORRECTION_PRIOR`), among the benchmarks whose ``m`` is as aligned as the
    shape's (a multiple of 16, of 8 only, or of neither: vectorised kernels work in blocks
    of 8 or 16 channels, and fall back to slower code for the rest), so a shape on the
    grid gets most of its measured efficiency back and a shape far from it gets the
    curve.
    """

    model_config = _STRICT

    ceiling: float = Field(gt=0, le=1)
    half_m: float = Field(ge=0)
    half_n: float = Field(ge=0)
    half_k: float = Field(ge=0)
    overhead_s: float = Field(default=0.0, ge=0)
    points: int = Field(ge=1)
    rms_log_error: float = Field(ge=0)
    source: str = Field(min_length=4)
    corrections: list[tuple[float, float, float, float]] = Field(default_factory=list)
    correction_octaves: float = Field(default=0.5, gt=0)

    def efficiency(self, m: float, n: float, k: float) -> float:
        """The efficiency of a kernel of GEMM shape ``(m, n, k)``: the curve, corrected
        by the benchmarks near that shape.

        >>> curve = EfficiencyCurve(ceiling=0.8, half_m=0, half_n=0, half_k=0, points=1,
        ...                         rms_log_error=0, source="example",
        ...                         corrections=[(24, 3136, 144, math.log(2))])
        >>> round(curve.efficiency(24, 3136, 144), 3), round(curve.efficiency(512, 49, 9), 3)
        (0.438, 0.8)
        """
        base = self.at(m, n, k)
        found = _corrections_by_alignment(tuple(self.corrections)).get(_alignment(m))
        if found is None:
            return base
        where, shifts = found
        distance = where - np.log2(np.maximum([m, n, k], 1e-9))
        weights = np.exp(-0.5 * np.sum(distance**2, axis=1) / self.correction_octaves**2)
        shift = float(weights @ shifts) / (CORRECTION_PRIOR + float(weights.sum()))
        return min(1.0, base / math.exp(shift))

    def at(self, m: float, n: float, k: float) -> float:
        """The efficiency of a kernel of GEMM shape ``(m, n, k)``.

        >>> curve = EfficiencyCurve(ceiling=0.8, half_m=16, half_n=0, half_k=0, points=1,
        ...                         rms_log_error=0, source="example")
        >>> round(curve.at(16, 100, 100), 3)
        0.4
        """
        return (self.ceiling * m / (m + self.half_m) * n / (n + self.half_n)
                * k / (k + self.half_k))


class Calibration(BaseModel):
    """How a calibrated profile was measured: the runtime and its version, the thread count
    it ran at, the BLAS or kernel library and its CPU kernel, and environment variables that
    change what the library does (``OPENBLAS_CORETYPE``, ``OMP_NUM_THREADS``)."""

    model_config = _STRICT

    runtime: Literal["numpy", "onnxruntime"]
    version: str
    threads: int = Field(ge=1)
    kernels: str
    environment: dict[str, str] = Field(default_factory=dict)
    date: str
    warnings: list[str] = Field(default_factory=list)


class Validation(BaseModel):
    """How the profile's latency predictions compare with measured latencies: over
    ``measurements`` models, the root mean square of ``ln(predicted / measured)``
    (``rms_log_error``; leave-one-out when the profile was fitted to them) and the largest
    ``|predicted / measured − 1|``."""

    model_config = _STRICT

    measurements: int = Field(ge=1)
    rms_log_error: float = Field(ge=0)
    worst_error: float = Field(ge=0)
    leave_one_out: bool
    source: str = Field(min_length=4)
    date: str

    @property
    def band(self) -> float:
        """The expected relative error of a prediction (one rms, as a fraction)."""
        return math.expm1(self.rms_log_error)


class Processor(BaseModel):
    """One compute unit (CPU cluster, GPU, DSP, NPU) and its roofline parameters.

    ``peak_ops_per_s`` counts operations (2 per MAC) per dtype the processor computes in;
    a dtype it cannot compute in is absent. ``efficiency`` is the fraction of peak reached
    by each op class (``default`` for the rest); an op class with an entry in
    ``efficiency_curves`` (a calibrated profile) reaches a fraction that depends on its
    shape instead (:class:`EfficiencyCurve`), and an op kind with an entry in ``op_curves``
    its own curve, before its class's (a runtime whose kernels within a class differ by
    kind: the executor's ``add`` runs several times faster than its ``relu`` on the same
    tensor). ``dtype_curves``: an op class computing in a dtype with a curve there reaches
    that curve's fraction of the dtype's peak instead (onnxruntime's int8 convolutions,
    timed as ``planner export`` writes them, reach far less of the int8 peak of a large
    ``MatMulInteger`` than its fp32 convolutions reach of theirs).
    ``weights_stay_on_chip``: weights are cached in on-chip memory across inferences when
    the whole model fits (Edge TPU).
    ``fuses_residual_add``: the runtime adds a residual tensor into a conv's output (and
    applies the activation after the add) inside the conv's kernel, as onnxruntime's NCHWc
    convolutions do, so that add costs nothing of its own.
    ``fused_activation_s_per_element``: seconds per output element that an activation
    fused into the conv or linear before it still costs, by op kind (a runtime that applies
    it in a pass over the output, or splits it: onnxruntime fuses HardSwish's HardSigmoid
    and runs its Mul apart); None: fused activations are free. ``fused_layer_s``: fixed
    seconds each fused layer of a kind costs on top (a runtime that runs it as a call of
    its own, as the planner's numpy executor does).
    """

    model_config = _STRICT

    kind: ProcessorKind
    description: str
    peak_ops_per_s: dict[Dtype, Sourced] = Field(min_length=1)
    dram_bytes_per_s: Sourced
    onchip_bytes: Sourced
    onchip_bytes_per_s: Sourced
    launch_overhead_s: Sourced
    efficiency: dict[OpClass | Literal["default"], Sourced]
    efficiency_curves: dict[OpClass, EfficiencyCurve] = Field(default_factory=dict)
    op_curves: dict[str, EfficiencyCurve] = Field(default_factory=dict)
    dtype_curves: dict[Dtype, dict[OpClass, EfficiencyCurve]] = Field(default_factory=dict)
    op_kinds: Literal["all"] | list[str] = "all"
    unsupported_op_kinds: list[str] = Field(default_factory=list)
    sparse: SparseSupport | None = None
    weights_stay_on_chip: bool = Field(default=False, strict=True)
    fuses_residual_add: bool = Field(default=False, strict=True)
    fused_activation_s_per_element: dict[str, float] | None = None
    fused_layer_s: dict[str, float] = Field(default_factory=dict)
    energy_per_mac_j: dict[Dtype, Sourced]
    energy_per_dram_byte_j: Sourced
    energy_per_onchip_byte_j: Sourced

    @field_validator("peak_ops_per_s", "dram_bytes_per_s", "onchip_bytes_per_s", mode="after")
    @classmethod
    def _positive(cls, v: Sourced | dict[str, Sourced]) -> Sourced | dict[str, Sourced]:
        for item in v.values() if isinstance(v, dict) else [v]:
            if item.value <= 0:
                raise ValueError(f"must be greater than 0, got {item.value}")
        return v

    @field_validator("efficiency")
    @classmethod
    def _fractions(cls, v: dict[str, Sourced]) -> dict[str, Sourced]:
        if "default" not in v:
            raise ValueError("needs a 'default' entry for op classes not listed")
        for key, item in v.items():
            if not 0 < item.value <= 1:
                raise ValueError(f"{key}: an efficiency is a fraction in (0, 1], got {item.value}")
        return v

    @model_validator(mode="after")
    def _energy_for_every_dtype(self) -> Processor:
        missing = sorted(set(self.peak_ops_per_s) - set(self.energy_per_mac_j))
        if missing:
            raise ValueError(f"energy_per_mac_j needs an entry for {', '.join(missing)} "
                             "(every dtype in peak_ops_per_s)")
        return self

    @property
    def dtypes(self) -> list[str]:
        """Dtypes this processor computes in, widest first."""
        return [d for d in DTYPES if d in self.peak_ops_per_s]

    def runs_op(self, op: str) -> bool:
        """True when this processor can run op kind ``op``."""
        if op in self.unsupported_op_kinds:
            return False
        return self.op_kinds == "all" or op in self.op_kinds

    def efficiency_of(self, op_class: str) -> float:
        """Fraction of peak reached by ``op_class`` (the default when not listed)."""
        entry = self.efficiency.get(op_class)  # type: ignore[call-overload]
        return float((entry or self.efficiency["default"]).value)

    def curve_for(self, op_class: str, op: str | None = None, dtype: str | None = None
                  ) -> EfficiencyCurve | None:
        """The fitted curve that prices op kind ``op`` of ``op_class`` computing in
        ``dtype``: the dtype's curve of the class, else the kind's own, else its class's
        (None: the profile has none)."""
        by_dtype = (self.dtype_curves.get(dtype)  # type: ignore[call-overload]
                    if dtype is not None else None)
        if by_dtype is not None and op_class in by_dtype:
            return by_dtype[op_class]
        own = self.op_curves.get(op) if op is not None else None
        return own or self.efficiency_curves.get(op_class)  # type: ignore[call-overload]

    def efficiency_at(self, op_class: str, gemm: tuple[float, float, float] | None,
                      op: str | None = None, dtype: str | None = None) -> float:
        """Fraction of ``dtype``'s peak reached by ``op_class`` (op kind ``op``) computing
        a GEMM of shape ``(m, n, k)``: its fitted curve (:meth:`curve_for`) where the
        profile has one and the shape is known, else :meth:`efficiency_of`."""
        curve = self.curve_for(op_class, op, dtype)
        if curve is None or gemm is None:
            return self.efficiency_of(op_class)
        return curve.efficiency(*gemm)

    def fused_activation_s(self, op: str, elements: float) -> float:
        """Seconds an activation of kind ``op`` fused into the layer before it costs on
        ``elements`` outputs (0 where fused activations are free)."""
        rates = self.fused_activation_s_per_element
        if rates is None or op not in rates:
            return 0.0
        return rates[op] * elements + self.fused_layer_s.get(op, 0.0)

    def overhead_of(self, op_class: str, op: str | None = None, dtype: str | None = None
                    ) -> float:
        """Seconds every layer of ``op_class`` (op kind ``op``) computing in ``dtype``
        costs beyond its roofline: the launch overhead, plus its curve's fixed cost where
        the profile has a curve."""
        curve = self.curve_for(op_class, op, dtype)
        return self.launch_overhead_s.value + (curve.overhead_s if curve is not None else 0.0)


class Transfer(BaseModel):
    """Moving a tensor between two processors: a fixed latency (synchronisation, cache
    maintenance, dispatch) plus bytes over a bandwidth."""

    model_config = _STRICT

    between: tuple[str, str]
    bytes_per_s: Sourced
    latency_s: Sourced
    shared_memory: bool = Field(strict=True)

    @field_validator("bytes_per_s")
    @classmethod
    def _positive(cls, v: Sourced) -> Sourced:
        if v.value <= 0:
            raise ValueError(f"must be greater than 0, got {v.value}")
        return v


class HardwareProfile(BaseModel):
    """A device: its processors, the host where inputs arrive, and every transfer link."""

    model_config = _STRICT

    version: Literal[1]
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    display_name: str
    devices: list[str] = Field(default_factory=list)
    host: str
    dram_capacity_bytes: Sourced
    processors: dict[str, Processor] = Field(min_length=1)
    transfers: list[Transfer] = Field(default_factory=list)
    notes: str = ""
    calibration: Calibration | None = None
    validation: Validation | None = None

    @field_validator("version", mode="before")
    @classmethod
    def _an_integer(cls, value: object) -> object:
        """The integer 1; not ``true`` (which Literal[1] would take, as True == 1)."""
        if isinstance(value, bool):
            raise ValueError(f"expected the integer 1, got {value}")
        return value

    @model_validator(mode="after")
    def _links_are_complete(self) -> HardwareProfile:
        names = set(self.processors)
        if self.host not in names:
            raise ValueError(f"host {self.host!r} is not one of the processors {sorted(names)}")
        seen: set[frozenset[str]] = set()
        for link in self.transfers:
            unknown = set(link.between) - names
            if unknown:
                raise ValueError(f"transfer between {list(link.between)} names unknown "
                                 f"processor(s) {sorted(unknown)}")
            pair = frozenset(link.between)
            if len(pair) != 2 or pair in seen:
                raise ValueError(f"transfer between {list(link.between)} is a self-link or "
                                 "listed twice")
            seen.add(pair)
        ordered = sorted(names)
        missing = [f"{a}-{b}" for i, a in enumerate(ordered) for b in ordered[i + 1:]
                   if frozenset((a, b)) not in seen]
        if missing:
            raise ValueError(f"no transfer given between {', '.join(missing)}; every pair of "
                             "processors needs one")
        return self

    def transfer(self, a: str, b: str) -> Transfer:
        """The link between processors ``a`` and ``b`` (``a != b``)."""
        for link in self.transfers:
            if set(link.between) == {a, b}:
                return link
        raise KeyError(f"no transfer between {a!r} and {b!r}")

    def sourced_numbers(self) -> list[tuple[str, Sourced]]:
        """Every Sourced number in the profile with its dotted path (for audits and tests)."""
        found: list[tuple[str, Sourced]] = []

        def walk(value: object, path: str) -> None:
            if isinstance(value, Sourced):
                found.append((path, value))
            elif isinstance(value, BaseModel):
                for key in type(value).model_fields:
                    walk(getattr(value, key), f"{path}.{key}" if path else key)
            elif isinstance(value, dict):
                for key, item in value.items():
                    walk(item, f"{path}.{key}")
            elif isinstance(value, list | tuple):
                for i, item in enumerate(value):
                    walk(item, f"{path}[{i}]")

        walk(self, "")
        return found
