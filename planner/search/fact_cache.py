"""A cache of measured facts and enumerated options on disk, so re-planning, what-if loops
and sweeps skip measurement and enumeration.

Facts (weight errors, size rates, activation errors, sensitivities) are a pure function of
the graph's structure and weights, the option space, the proxy settings and the measuring
code; the cache key hashes all of them (``FACTS_VERSION`` stands for the code: raise it
whenever a measurement changes). The options of a problem are a pure function of its facts'
key, the hardware profile, the option space, the quantities read and the enumerating code
(``OPTIONS_VERSION``). The exact sizes of the compressed layers solves chose, measured by
compressing their weights, are kept under the facts' key too. Entries are files under
``$XDG_CACHE_HOME/edge-compression-planner/facts/`` (``~/.cache/…`` when unset): facts and
sizes as JSON, options as numpy archives, written atomically; an unreadable entry is
computed again and overwritten.

>>> import tempfile
>>> from planner.search.options import LayerFacts
>>> with tempfile.TemporaryDirectory() as d:
...     cache = FactCache(Path(d))
...     cache.save("k", {"conv": LayerFacts(sensitivity=2.0, format_error={"int8": 0.01})})
...     cache.load("k")["conv"].format_error
{'int8': 0.01}
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from graphs import Graph
from hardware_profiles import HardwareProfile
from planner.search.option_table import OptionTable, pack, unpack
from planner.search.options import LayerFacts, OptionSpace

FACTS_VERSION = 4
"""The version of the measuring code; part of every key."""
OPTIONS_VERSION = 2
"""The version of the enumerating code (options, their costs, the cost model); part of
every options key."""
APP = "edge-compression-planner"


def cache_dir() -> Path:
    """Where facts are cached: ``$XDG_CACHE_HOME/edge-compression-planner/facts``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP / "facts"


def graph_digest(graph: Graph) -> str:
    """A hash of the graph's structure (ops, inputs, shapes, attributes, outputs) and of
    every weight array's dtype, shape and bytes."""
    h = hashlib.sha256()
    for layer in graph:
        h.update(repr((layer.name, layer.op, layer.inputs, tuple(map(tuple, layer.input_shapes)),
                       layer.output_shape, sorted(layer.attrs.items()))).encode())
        for key, value in sorted((layer.weights or {}).items()):
            array = np.ascontiguousarray(value)
            h.update(f"{key}{array.dtype}{array.shape}".encode())
            h.update(array.data)
    h.update(repr(tuple(graph.outputs)).encode())
    return h.hexdigest()


def facts_key(graph: Graph, space: OptionSpace, settings: Mapping[str, Any],
              inputs: np.ndarray | Mapping[str, np.ndarray] | None) -> str:
    """The key of the facts of ``graph`` under ``space`` and proxy ``settings`` (mode,
    seed, …), measured on ``inputs`` (None: seeded calibration inputs)."""
    h = hashlib.sha256(f"v{FACTS_VERSION}".encode())
    h.update(graph_digest(graph).encode())
    h.update(repr((space.keep_ratios, space.sparsities, space.formats, space.ranks)).encode())
    h.update(repr(sorted(settings.items())).encode())
    if inputs is not None:
        feeds = inputs if isinstance(inputs, Mapping) else {"": inputs}
        for name, value in sorted(feeds.items()):
            array = np.ascontiguousarray(value)
            h.update(f"{name}{array.dtype}{array.shape}".encode())
            h.update(array.data)
    return h.hexdigest()


def options_key(facts: str, profile: HardwareProfile, space: OptionSpace,
                dims: tuple[str, ...], front: bool) -> str:
    """The key of the options enumerated from the facts under key ``facts`` on ``profile``
    in ``space``, reading the quantities ``dims`` (Pareto fronts when ``front``)."""
    h = hashlib.sha256(f"options v{OPTIONS_VERSION} {facts}".encode())
    h.update(profile.model_dump_json().encode())
    h.update(repr((space, dims, front)).encode())
    return h.hexdigest()


def _encode(facts: LayerFacts) -> dict[str, Any]:
    return {k: ({repr(key): value for key, value in v.items()} if isinstance(v, dict) else v)
            for k, v in asdict(facts).items()}


def _decode(data: Mapping[str, Any]) -> LayerFacts:
    values: dict[str, Any] = {}
    for f in fields(LayerFacts):
        raw = data[f.name]
        if isinstance(raw, dict):
            values[f.name] = {(k[1:-1] if k.startswith("'") else float(k)): float(v)
                              for k, v in raw.items()}
        else:
            values[f.name] = float(raw)
    return LayerFacts(**values)


class FactCache:
    """Facts and options by key in one folder (default :func:`cache_dir`)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or cache_dir()

    def path(self, key: str) -> Path:
        """The file of one entry."""
        return self.folder / f"{key}.json"

    def load(self, key: str) -> dict[str, LayerFacts] | None:
        """The facts stored under ``key``, or None when absent or unreadable."""
        try:
            data = json.loads(self.path(key).read_text())
            return {name: _decode(entry) for name, entry in data["units"].items()}
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None

    def load_options(self, key: str) -> list[OptionTable] | None:
        """The option tables stored under ``key``, or None when absent or unreadable."""
        try:
            with np.load(self.folder / f"{key}.options.npz") as archive:
                return unpack({k: archive[k] for k in archive.files})
        except (OSError, ValueError, KeyError, TypeError, IndexError, EOFError,
                zipfile.BadZipFile):
            return None

    def save_options(self, key: str, tables: Sequence[OptionTable]) -> None:
        """Store option ``tables`` under ``key`` (atomically; failures are ignored)."""
        save: Callable[..., None] = np.savez
        self._write(f"{key}.options.npz", lambda handle: save(handle, **pack(tables)),
                    binary=True)

    def load_sizes(self, key: str) -> dict[str, int]:
        """The exact stored bits measured under facts key ``key``, by the name
        :meth:`save_sizes` gives them; empty when absent or unreadable."""
        try:
            data = json.loads((self.folder / f"{key}.sizes.json").read_text())
            return {str(k): int(v) for k, v in data["bits"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def save_sizes(self, key: str, bits: Mapping[str, int]) -> None:
        """Add the exact stored ``bits`` of compressed units (by a string naming the unit,
        its choice and its groups' keep ratios) to those stored under ``key``: a size is
        a pure function of the weights, the choice and the compressing code, all of
        which the facts key covers."""
        merged = {**self.load_sizes(key), **bits}
        self._write(f"{key}.sizes.json", lambda handle: json.dump(
            {"version": FACTS_VERSION, "bits": merged}, handle))

    def save(self, key: str, facts: Mapping[str, LayerFacts]) -> None:
        """Store ``facts`` under ``key`` (atomically; a failure to write is ignored: the
        cache only saves time)."""
        self._write(f"{key}.json", lambda handle: json.dump(
            {"version": FACTS_VERSION, "units": {n: _encode(f) for n, f in facts.items()}},
            handle))

    def _write(self, name: str, write: Callable[[Any], None], binary: bool = False) -> None:
        """Write a file of this cache through a temporary one (nothing on failure)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb" if binary else "w") as handle:
                    write(handle)
                os.replace(temporary, self.folder / name)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError:
            return


__all__ = ["FACTS_VERSION", "OPTIONS_VERSION", "FactCache", "cache_dir", "facts_key",
           "graph_digest", "options_key"]
