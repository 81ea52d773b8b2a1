"""What every host calibration shares: the machine's description and caches, the record of
what a calibration ran on, and the one-processor profile skeleton around measured roofs."""

from __future__ import annotations

import datetime
import os
import platform
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hardware_profiles.schema import Calibration, HardwareProfile

Progress = Callable[[str, int, int], None]
"""Called with (step description, step index from 1, number of steps)."""


def largest_cache_bytes() -> tuple[int, str]:
    """The largest CPU cache (from sysfs), or 1 MB assumed when sysfs does not say."""
    return cache_bytes(None)


def cache_bytes(level: int | None) -> tuple[int, str]:
    """The size of CPU cache ``level`` (None: the largest, from sysfs) and where it was
    read, or 1 MB assumed when sysfs does not say."""
    best, where = 0, ""
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (index / "size").read_text().strip()
            level_text = (index / "level").read_text().strip()
        except OSError:
            continue
        m = re.fullmatch(r"(\d+)([KMG]?)", text)
        if m and (level is None or int(level_text) == level):
            size = int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)]
            if size > best:
                best, where = size, f"L{level_text} {text} from {index}"
    return (best, where) if best else (1 << 20, "")


def host_description() -> str:
    """CPU model and core count of this machine."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, numpy {np.__version__}"


ENV_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                 "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS", "ORT_DISABLE_AVX512")
"""Environment variables that change what BLAS or onnxruntime kernels do."""


def calibration_record(runtime: Literal["numpy", "onnxruntime"], version: str, threads: int,
                       kernels: str, warnings: list[str] | None = None) -> Calibration:
    """What a calibration ran on: runtime, version, threads, kernels and the environment
    variables that change them (``OPENBLAS_CORETYPE`` set makes a warning: it can halve
    the GEMM peak)."""
    environment = {k: os.environ[k] for k in ENV_VARIABLES if k in os.environ}
    notes = list(warnings or [])
    if "OPENBLAS_CORETYPE" in environment:
        notes.append(f"OPENBLAS_CORETYPE={environment['OPENBLAS_CORETYPE']} forces OpenBLAS "
                     "kernels for that CPU type; the measured peak holds only with it set")
    return Calibration(runtime=runtime, version=version, threads=threads, kernels=kernels,
                       environment=environment, date=datetime.date.today().isoformat(),
                       warnings=notes)


def host_profile(name: str, cpu: dict[str, Any], notes: str,
                 calibration: Calibration) -> HardwareProfile:
    """A one-processor profile of this machine around measured ``cpu`` roofs, with
    estimated energies (user space cannot measure them) and the physical memory."""
    horowitz = "Horowitz ISSCC 2014 45 nm MAC energy x0.3 for a modern node x10 CPU overhead"
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 8 << 30
    energy = {
        "fp32": {"value": 1.4e-11, "estimate": True, "source": f"{horowitz} (4.6 pJ)"},
        "fp16": {"value": 4.5e-12, "estimate": True, "source": f"{horowitz} (1.5 pJ)"},
        "int8": {"value": 7.0e-13, "estimate": True, "source": f"{horowitz} (0.23 pJ)"},
    }
    cpu = {**cpu,
           "energy_per_mac_j": {d: energy[d] for d in cpu["peak_ops_per_s"]},
           "energy_per_dram_byte_j": {"value": 4.0e-11, "estimate": True,
                                      "source": "DDR about 5 pJ/bit (order of magnitude)"},
           "energy_per_onchip_byte_j": {"value": 4.0e-12, "estimate": True,
                                        "source": "Horowitz ISSCC 2014 1 MB SRAM x0.3"}}
    data = {
        "version": 1,
        "name": name,
        "display_name": f"This machine ({platform.node() or 'host'}, {calibration.runtime}, "
                        f"{calibration.threads} thread{'s' if calibration.threads > 1 else ''})",
        "devices": [host_description()],
        "host": "cpu",
        "dram_capacity_bytes": {"value": float(memory), "source": "physical memory from sysconf"},
        "notes": notes,
        "processors": {"cpu": cpu},
        "transfers": [],
        "calibration": calibration,
    }
    return HardwareProfile.model_validate(data)


__all__ = ["ENV_VARIABLES", "Progress", "cache_bytes", "calibration_record", "host_description",
           "host_profile", "largest_cache_bytes"]
