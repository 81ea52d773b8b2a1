"""Options as records and as columns.

An :class:`Option` is one way to compress and place one unit, with every cost the ILP reads.
A decision has thousands of them, so a problem keeps them as an :class:`OptionTable`:
one numpy column per field, built by enumeration a block at a time, concatenated into the
solver's arrays without a Python loop, and written to or read from disk in milliseconds.
Indexing a table makes the :class:`Option` record of that row (the chosen options of a plan,
brute force on small problems, what-if picks).

>>> from planner.compression import Choice
>>> a = Option("conv", Choice(fmt="int8"), (1.0,), 800, 1e-3, 2e-3, 64, 10, 0.01, 0.0, True)
>>> table = OptionTable.of("conv", [a, replace(a, size_bits=400, choice=Choice(fmt="int4"))])
>>> len(table), table[1].choice.fmt, table[1].size_bits, table[0] == a
(2, 'int4', 400, True)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import overload

import numpy as np

from planner.compression.transforms import Choice


@dataclass(frozen=True)
class WeightPricing:
    """Latency and energy of an option as functions of its stored bits (the roofline with
    the weight term split out): weights read = ⌈⌈bits/8⌉ · ``read_fraction``⌉ bytes at DRAM
    bandwidth, ``compute_s`` and the activations' ``activation_s`` fixed."""

    compute_s: float
    activation_s: float
    overhead_s: float
    read_fraction: float
    dram_bytes_per_s: float
    base_energy_j: float
    dram_j_per_byte: float

    def terms(self) -> tuple[float, float, float, float, float, float, float]:
        """The fields in declaration order."""
        return (self.compute_s, self.activation_s, self.overhead_s, self.read_fraction,
                self.dram_bytes_per_s, self.base_energy_j, self.dram_j_per_byte)

    def at(self, size_bits: int) -> tuple[float, float]:
        """(latency s, energy J) with ``size_bits`` stored."""
        read = math.ceil(math.ceil(size_bits / 8) * self.read_fraction)
        memory = read / self.dram_bytes_per_s + self.activation_s
        return (max(self.compute_s, memory) + self.overhead_s,
                self.base_energy_j + read * self.dram_j_per_byte)


PRICING_TERMS = len(fields(WeightPricing))


def priced_at(terms: np.ndarray, size_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:meth:`WeightPricing.at` of many rows at once: ``terms`` (rows × the pricing's
    fields) and the stored bits of each row; (latency s, energy J)."""
    compute, activation, overhead, fraction, bandwidth, base, joules = terms.T
    read = np.ceil(np.ceil(size_bits / 8) * fraction)
    return (np.maximum(compute, read / bandwidth + activation) + overhead,
            base + read * joules)


@dataclass(frozen=True)
class Option:
    """One choice for one unit, with everything the ILP needs to know about it."""

    unit: str
    choice: Choice
    ratios: tuple[float, ...]
    size_bits: int
    latency_s: float
    energy_j: float
    out_bytes: int
    macs: int
    weight_error: float
    act_error: float
    exact_size: bool
    size_bound_bits: int = -1
    """An upper bound on the stored bits the option can measure (``size_bits`` when
    exact; -1: not given, taken as ``size_bits``)."""
    pricing: WeightPricing | None = None
    """How latency and energy follow the stored size (None: they do not)."""

    @property
    def bound_bits(self) -> int:
        """The upper bound on the measured size (bits)."""
        return self.size_bits if self.size_bound_bits < 0 else self.size_bound_bits

    def resized(self, size_bits: int, exact: bool) -> Option:
        """This option with ``size_bits`` stored bits, its latency and energy re-priced."""
        if self.pricing is None:
            return replace(self, size_bits=size_bits, exact_size=exact)
        latency, energy = self.pricing.at(size_bits)
        return replace(self, size_bits=size_bits, latency_s=latency, energy_j=energy,
                       exact_size=exact)

    @property
    def error(self) -> float:
        """The unit's relative output error (before sensitivity)."""
        return self.weight_error + self.act_error


FLOAT_COLUMNS = ("keep_in", "keep_out", "sparsity", "rank", "latency_s", "energy_j",
                 "weight_error", "act_error")
INT_COLUMNS = ("size_bits", "size_bound_bits", "out_bytes", "macs")
CODED_COLUMNS = ("fmt", "processor", "dtype")
"""Choice fields stored as indices into the table's ``names[field]``."""


@dataclass(frozen=True, eq=False)
class OptionTable(Sequence[Option]):
    """The options of one unit as columns (row i is option i).

    ``floats``/``ints``: the columns named by ``FLOAT_COLUMNS``/``INT_COLUMNS``, one row per
    option; ``codes`` and ``names``: the string fields of the choice (``CODED_COLUMNS``) as
    indices into their own names; ``ratios``: the keep ratio of each channel group the
    unit touches (options × groups); ``exact``: whether the size is exact; ``pricing``:
    the :class:`WeightPricing` terms (options × its fields; NaN rows: none)."""

    unit: str
    floats: Mapping[str, np.ndarray]
    ints: Mapping[str, np.ndarray]
    codes: Mapping[str, np.ndarray]
    names: Mapping[str, tuple[str, ...]]
    ratios: np.ndarray
    exact: np.ndarray
    pricing: np.ndarray

    # ------------------------------------------------------------ making tables

    @classmethod
    def empty(cls, unit: str, groups: int = 0) -> OptionTable:
        """A table without options."""
        return cls(unit, {k: np.zeros(0) for k in FLOAT_COLUMNS},
                   {k: np.zeros(0, np.int64) for k in INT_COLUMNS},
                   {k: np.zeros(0, np.int64) for k in CODED_COLUMNS},
                   {k: () for k in CODED_COLUMNS}, np.zeros((0, groups)), np.zeros(0, bool),
                   np.zeros((0, PRICING_TERMS)))

    @classmethod
    def of(cls, unit: str, options: Sequence[Option]) -> OptionTable:
        """The table of option records (of one unit, all with as many ratios)."""
        if isinstance(options, OptionTable):
            return options
        if not options:
            return cls.empty(unit)
        names = {k: tuple(sorted({getattr(o.choice, k) for o in options}))
                 for k in CODED_COLUMNS}
        index = {k: {name: i for i, name in enumerate(v)} for k, v in names.items()}
        floats = {k: np.array([getattr(o.choice, k) if hasattr(o.choice, k) else getattr(o, k)
                               for o in options], dtype=float) for k in FLOAT_COLUMNS}
        ints = {k: np.array([getattr(o, k) for o in options], dtype=np.int64)
                for k in INT_COLUMNS}
        codes = {k: np.array([index[k][getattr(o.choice, k)] for o in options], np.int64)
                 for k in CODED_COLUMNS}
        pricing = np.array([o.pricing.terms() if o.pricing is not None
                            else (math.nan,) * PRICING_TERMS for o in options], dtype=float)
        ratios = np.array([o.ratios for o in options], dtype=float).reshape(len(options), -1)
        exact = np.array([o.exact_size for o in options], dtype=bool)
        return cls(unit, floats, ints, codes, names, ratios, exact, pricing)

    @classmethod
    def concat(cls, unit: str, tables: Sequence[OptionTable], groups: int = 0
               ) -> OptionTable:
        """One table with the rows of ``tables`` in order (their names merged)."""
        tables = [t for t in tables if len(t)]
        if not tables:
            return cls.empty(unit, groups)
        if len(tables) == 1:
            return tables[0]
        names = {k: tuple(sorted({n for t in tables for n in t.names[k]}))
                 for k in CODED_COLUMNS}
        codes = {}
        for k in CODED_COLUMNS:
            where = {n: i for i, n in enumerate(names[k])}
            codes[k] = np.concatenate([np.array([where[n] for n in t.names[k]],
                                                np.int64)[t.codes[k]] for t in tables])
        return cls(unit, {k: np.concatenate([t.floats[k] for t in tables]) for k in FLOAT_COLUMNS},
                   {k: np.concatenate([t.ints[k] for t in tables]) for k in INT_COLUMNS},
                   codes, names, np.concatenate([t.ratios for t in tables]),
                   np.concatenate([t.exact for t in tables]),
                   np.concatenate([t.pricing for t in tables]))

    # ------------------------------------------------------------ reading rows

    def __repr__(self) -> str:
        return f"OptionTable({self.unit!r}, {len(self)} options)"

    def __len__(self) -> int:
        return len(self.exact)

    @overload
    def __getitem__(self, index: int) -> Option: ...

    @overload
    def __getitem__(self, index: slice) -> list[Option]: ...

    def __getitem__(self, index: int | slice) -> Option | list[Option]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(f"option {index} of {self.unit!r}, which has {len(self)}")
        i = int(index) % len(self)
        f, n, c = self.floats, self.ints, self.codes
        choice = Choice(float(f["keep_in"][i]), float(f["keep_out"][i]),
                        float(f["sparsity"][i]), self.names["fmt"][c["fmt"][i]],
                        float(f["rank"][i]), self.names["processor"][c["processor"][i]],
                        self.names["dtype"][c["dtype"][i]])
        terms = self.pricing[i]
        pricing = None if np.isnan(terms[0]) else WeightPricing(*map(float, terms))
        return Option(self.unit, choice, tuple(map(float, self.ratios[i])),
                      int(n["size_bits"][i]), float(f["latency_s"][i]),
                      float(f["energy_j"][i]), int(n["out_bytes"][i]), int(n["macs"][i]),
                      float(f["weight_error"][i]), float(f["act_error"][i]),
                      bool(self.exact[i]), int(n["size_bound_bits"][i]), pricing)

    def __iter__(self) -> Iterator[Option]:
        return (self[i] for i in range(len(self)))

    def column(self, name: str) -> np.ndarray:
        """One column by field name: a number column, ``error`` (weight + activation),
        ``exact_size``, or a choice's string field (as an array of strings)."""
        if name in self.floats:
            return self.floats[name]
        if name in self.ints:
            return self.ints[name]
        if name == "error":
            return self.floats["weight_error"] + self.floats["act_error"]
        if name == "exact_size":
            return self.exact
        if name in self.codes:
            return np.array(self.names[name], dtype=object)[self.codes[name]]
        raise KeyError(f"options have no column {name!r}")

    def bound_bits(self) -> np.ndarray:
        """Each option's upper bound on its measured stored bits."""
        bound = self.ints["size_bound_bits"]
        return np.where(bound < 0, self.ints["size_bits"], bound)

    def at_bounds(self) -> dict[str, np.ndarray]:
        """Stored bits, latency (s) and energy (J) of every option as
        ``o.resized(o.bound_bits, False)`` gives them, by option field name (options
        whose size is exact keep theirs)."""
        loose = ~self.exact
        bits = np.where(loose, self.bound_bits(), self.ints["size_bits"])
        latency = self.floats["latency_s"].copy()
        energy = self.floats["energy_j"].copy()
        priced = loose & ~np.isnan(self.pricing[:, 0])
        if priced.any():
            latency[priced], energy[priced] = priced_at(self.pricing[priced], bits[priced])
        return {"size_bits": bits, "latency_s": latency, "energy_j": energy}

    # ------------------------------------------------------------ changing rows

    def replaced(self, rows: Mapping[int, Option]) -> OptionTable:
        """A copy with the options at some rows replaced (the same unit and choice: only
        sizes, costs and exactness change, as :meth:`Option.resized` does)."""
        if not rows:
            return self
        floats = {k: v.copy() for k, v in self.floats.items()}
        ints = {k: v.copy() for k, v in self.ints.items()}
        exact, pricing = self.exact.copy(), self.pricing.copy()
        for i, option in rows.items():
            for k in ("latency_s", "energy_j", "weight_error", "act_error"):
                floats[k][i] = getattr(option, k)
            for k in INT_COLUMNS:
                ints[k][i] = getattr(option, k)
            exact[i] = option.exact_size
            pricing[i] = option.pricing.terms() if option.pricing is not None else math.nan
        return replace(self, floats=floats, ints=ints, exact=exact, pricing=pricing)


def pack(tables: Sequence[OptionTable]) -> dict[str, np.ndarray]:
    """Tables as flat arrays (rows of all tables in order, ``count`` of each, ``meta``: the
    units, their choice names and ratio widths as JSON), for :func:`unpack` and
    ``numpy.savez``."""
    meta = [{"unit": t.unit, "names": {k: list(t.names[k]) for k in CODED_COLUMNS},
             "groups": int(t.ratios.shape[1])} for t in tables]
    width = max((t.ratios.shape[1] for t in tables), default=0)
    ratios = [np.pad(t.ratios, ((0, 0), (0, width - t.ratios.shape[1])), constant_values=1.0)
              for t in tables]
    out = {"meta": np.array(json.dumps(meta)),
           "count": np.array([len(t) for t in tables], dtype=np.int64),
           "ratios": np.concatenate(ratios) if tables else np.zeros((0, 0)),
           "exact": np.concatenate([t.exact for t in tables]) if tables else np.zeros(0, bool),
           "pricing": np.concatenate([t.pricing for t in tables]) if tables
           else np.zeros((0, PRICING_TERMS))}
    for group in ("floats", "ints", "codes"):
        for k in {"floats": FLOAT_COLUMNS, "ints": INT_COLUMNS, "codes": CODED_COLUMNS}[group]:
            out[k] = np.concatenate([getattr(t, group)[k] for t in tables]) if tables \
                else np.zeros(0)
    return out


def unpack(arrays: Mapping[str, np.ndarray]) -> list[OptionTable]:
    """The tables :func:`pack` flattened (views of ``arrays``)."""
    meta = json.loads(str(arrays["meta"]))
    ends = np.cumsum(arrays["count"])
    tables = []
    for entry, end, count in zip(meta, ends, arrays["count"], strict=True):
        rows = slice(int(end - count), int(end))
        tables.append(OptionTable(
            entry["unit"], {k: arrays[k][rows] for k in FLOAT_COLUMNS},
            {k: arrays[k][rows] for k in INT_COLUMNS},
            {k: arrays[k][rows] for k in CODED_COLUMNS},
            {k: tuple(entry["names"][k]) for k in CODED_COLUMNS},
            arrays["ratios"][rows, :entry["groups"]], arrays["exact"][rows],
            arrays["pricing"][rows]))
    return tables


__all__ = ["Option", "OptionTable", "WeightPricing", "pack", "priced_at", "unpack"]
