"""Hardware profiles: one YAML file per device, validated by a strict schema.

>>> from hardware_profiles import available, load
>>> "snapdragon_855" in available()
True
>>> load("snapdragon_855").processors["dsp"].dtypes
['int8']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hardware_profiles.schema import (
    DTYPE_BITS,
    DTYPES,
    Calibration,
    Dtype,
    EfficiencyCurve,
    HardwareProfile,
    Processor,
    Sourced,
    SparseSupport,
    Transfer,
    Validation,
)

BUNDLED = Path(__file__).parent


class ProfileError(ValueError):
    """A profile that cannot be loaded; names the file, the field and what was expected."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        listed = "\n  ".join(problems)
        super().__init__(f"{path}: invalid hardware profile\n  {listed}"
                         if len(problems) > 1 else f"{path}: {problems[0]}")


def available() -> list[str]:
    """Names of the bundled profiles."""
    return sorted(p.stem for p in BUNDLED.glob("*.yaml"))


def load(name_or_path: str | Path) -> HardwareProfile:
    """A bundled profile by name, or a profile YAML file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_file(path)
    if str(name_or_path) in available():
        return load_file(BUNDLED / f"{name_or_path}.yaml")
    raise ProfileError(str(name_or_path),
                       [f"not a bundled profile or a file; bundled: {', '.join(available())}"])


def load_file(path: str | Path) -> HardwareProfile:
    """Read and validate one profile file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProfileError(str(path), [f"cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ProfileError(str(path), [f"not a text file ({exc})"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ProfileError(str(path), [f"{where}not valid YAML ({exc})"]) from None
    if not isinstance(data, dict):
        raise ProfileError(str(path), ["expected a mapping with version, name, processors, …"])
    # Top-level keys starting with "x-" only hold YAML anchors (as in docker-compose).
    profile = validate({k: v for k, v in data.items() if not str(k).startswith("x-")},
                       str(path))
    if path.parent == BUNDLED and profile.name != path.stem:
        raise ProfileError(str(path), [f"name: {profile.name!r} must equal the file name "
                                       f"{path.stem!r}"])
    return profile


def validate(data: dict[str, Any], where: str = "profile") -> HardwareProfile:
    """Validate a profile given as a mapping; errors name the field and what was expected."""
    try:
        return HardwareProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(where, [_describe(error) for error in exc.errors()]) from None


def _describe(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    got = error.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    return f"{field}: {error['msg']}{shown}"


def save(profile: HardwareProfile, path: str | Path) -> None:
    """Write a profile as YAML (what ``planner calibrate`` does)."""
    Path(path).write_text(yaml.safe_dump(profile.model_dump(mode="json", exclude_defaults=False),
                                         sort_keys=False, allow_unicode=True, width=100))


__all__ = [
    "DTYPES",
    "DTYPE_BITS",
    "Calibration",
    "Dtype",
    "EfficiencyCurve",
    "HardwareProfile",
    "Processor",
    "ProfileError",
    "Sourced",
    "SparseSupport",
    "Transfer",
    "Validation",
    "available",
    "load",
    "load_file",
    "save",
    "validate",
]
