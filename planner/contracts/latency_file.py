"""Measured latencies (``planner fit PROFILE measurements.yaml``): a YAML list of rows, in
the format of ``docs/published_latencies.yaml``::

    - {model: mobilenet_v2, processor: cpu, dtype: fp32, ms: 21.3}
    - {model: resnet50, processor: gpu, dtype: fp16, ms: [11.0, 12.5], input: [1, 3, 224, 224],
       profile: snapdragon_855, setup: "Pixel 4, TFLite GPU delegate", source: "my bench"}

``ms`` is one batch's milliseconds, or a ``[low, high]`` range (its geometric mean is
fitted). ``profile`` names the device the row was measured on; rows naming another profile
are skipped, so one file can hold several devices. ``setup``, ``source`` and
``informs_profile`` are for people and are carried through.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.contracts.plan_file import PlanError

Milliseconds = Annotated[float, Field(gt=0)]


class LatencyRow(BaseModel):
    """One measured latency: the model (a zoo name or a model file), where it ran, and the
    milliseconds of one batch."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    model: str = Field(min_length=1)
    processor: str = Field(min_length=1)
    dtype: str = Field(min_length=1)
    ms: Milliseconds | tuple[Milliseconds, Milliseconds]
    input: tuple[int, ...] | None = None
    profile: str | None = None
    setup: str = ""
    source: str = ""
    informs_profile: bool = False

    @property
    def seconds(self) -> float:
        """The measured seconds (the geometric mean of a range)."""
        low, high = self.ms if isinstance(self.ms, tuple) else (self.ms, self.ms)
        return math.sqrt(low * high) / 1e3

    @property
    def label(self) -> str:
        """``model on processor dtype`` (and the setup when given), for tables."""
        where = f"{self.model} on {self.processor} {self.dtype}"
        return f"{where} ({self.setup})" if self.setup else where


def read_latencies(path: str | Path, profile: str | None = None) -> list[LatencyRow]:
    """The rows of a measured-latencies file (those for ``profile`` or naming none, when
    ``profile`` is given); errors name the file, the row and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PlanError(f"{path}: cannot read measured latencies ({exc})") from None
    if not isinstance(data, list) or not data:
        raise PlanError(f"{path}: expected a YAML list of rows like {{model: mobilenet_v2, "
                        f"processor: cpu, dtype: fp32, ms: 21.3}}, got "
                        f"{type(data).__name__ if data is not None else 'an empty file'}")
    rows = []
    for i, entry in enumerate(data, start=1):
        try:
            rows.append(LatencyRow.model_validate(entry))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "row"
            raise PlanError(f"{path}: row {i}, field {field!r}: {first['msg']} (got "
                            f"{first.get('input')!r})") from None
    chosen = [r for r in rows if profile is None or r.profile in (None, profile)]
    if not chosen:
        named = sorted({r.profile for r in rows if r.profile})
        raise PlanError(f"{path}: no row is for profile {profile!r} (rows name "
                        f"{', '.join(named)})")
    return chosen


__all__ = ["LatencyRow", "read_latencies"]
