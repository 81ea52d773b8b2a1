"""Bundled hardware profiles validate, cite a source for every number, and bad files say
which file, field and value is wrong."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml

from graphs.ops import OP_CLASSES, known_ops
from hardware_profiles import ProfileError, available, load, load_file
from hardware_profiles.schema import OpClass

REQUIRED = ["snapdragon_855", "snapdragon_8_gen_2", "apple_a17_pro", "kirin_990",
            "coral_edge_tpu", "jetson_orin_nano", "raspberry_pi_5", "dimensity_9000"]


def test_the_devices_the_issue_names_are_bundled() -> None:
    assert set(REQUIRED) <= set(available())


@pytest.mark.parametrize("name", available())
def test_profile_validates_and_every_number_has_a_source(name: str) -> None:
    profile = load(name)
    numbers = profile.sourced_numbers()
    assert len(numbers) >= 15
    for path, number in numbers:
        assert len(number.source) >= 10, path
        # derived arithmetic (X) and assumptions must be flagged as estimates
        if re.search(r"\(X\b|assumed|\bestimate\b", number.source):
            assert number.estimate, f"{name}: {path} reads as derived but is not an estimate"
    for proc in profile.processors.values():
        if proc.op_kinds != "all":
            assert set(proc.op_kinds) <= set(known_ops())
        assert set(proc.unsupported_op_kinds) <= set(known_ops())


def test_schema_op_classes_match_the_op_table() -> None:
    assert set(typing.get_args(OpClass)) == set(OP_CLASSES) - {"none", "unknown"}


def test_accelerators_declare_their_dtypes() -> None:
    assert load("snapdragon_855").processors["dsp"].dtypes == ["int8"]
    assert load("coral_edge_tpu").processors["tpu"].dtypes == ["int8"]
    assert load("apple_a17_pro").processors["ane"].dtypes == ["fp16"]
    assert "int4" in load("snapdragon_8_gen_2").processors["npu"].dtypes
    tpu = load("coral_edge_tpu").processors["tpu"]
    assert tpu.weights_stay_on_chip and tpu.onchip_bytes.value == 8e6
    assert not tpu.runs_op("gelu") and tpu.runs_op("conv2d")


def broken(tmp_path: Path, edit: typing.Callable[[dict], None]) -> Path:  # type: ignore[type-arg]
    data = yaml.safe_load((Path(load.__code__.co_filename).parent / "raspberry_pi_5.yaml")
                          .read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_negative_peak_names_file_field_and_value(tmp_path: Path) -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["processors"]["cpu"]["peak_ops_per_s"]["fp32"]["value"] = -1
    with pytest.raises(ProfileError, match=r"bad.yaml: processors.cpu.peak_ops_per_s.fp32.value:"
                                           r" Input should be greater than or equal to 0 "
                                           r"\(got -1\)"):
        load_file(broken(tmp_path, edit))


@pytest.mark.parametrize("field", ["launch_overhead_s", "dram_bytes_per_s",
                                   "energy_per_dram_byte_j"])
@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_numbers_that_are_not_finite_are_rejected(tmp_path: Path, field: str,
                                                  value: float) -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["processors"]["cpu"][field]["value"] = value
    with pytest.raises(ProfileError, match=rf"bad.yaml: processors.cpu.{field}.value: "
                                           r"Input should be a finite number"):
        load_file(broken(tmp_path, edit))


def test_typo_in_field_name_is_rejected(tmp_path: Path) -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        cpu = d["processors"]["cpu"]
        cpu["peak_op_per_s"] = cpu.pop("peak_ops_per_s")
    with pytest.raises(ProfileError) as info:
        load_file(broken(tmp_path, edit))
    text = str(info.value)
    assert "processors.cpu.peak_ops_per_s: Field required" in text
    assert "processors.cpu.peak_op_per_s: Extra inputs are not permitted" in text


def test_unknown_dtype_and_bad_efficiency(tmp_path: Path) -> None:
    def dtype(d: dict) -> None:  # type: ignore[type-arg]
        d["processors"]["cpu"]["peak_ops_per_s"]["fp64"] = {"value": 1e9, "source": "made up"}
    with pytest.raises(ProfileError, match=r"peak_ops_per_s.fp64.\[key\]: Input should be "
                                           r"'fp32', 'fp16', 'int8' or 'int4'"):
        load_file(broken(tmp_path, dtype))

    def efficiency(d: dict) -> None:  # type: ignore[type-arg]
        d["processors"]["cpu"]["efficiency"]["conv"]["value"] = 1.5
    with pytest.raises(ProfileError, match=r"efficiency: Value error, conv: an efficiency is a "
                                           r"fraction in \(0, 1\], got 1.5"):
        load_file(broken(tmp_path, efficiency))


def test_missing_source_and_missing_transfer(tmp_path: Path) -> None:
    def no_source(d: dict) -> None:  # type: ignore[type-arg]
        del d["processors"]["cpu"]["dram_bytes_per_s"]["source"]
    with pytest.raises(ProfileError, match=r"processors.cpu.dram_bytes_per_s.source: Field "
                                           r"required"):
        load_file(broken(tmp_path, no_source))
    profile = yaml.safe_load((Path(load.__code__.co_filename).parent / "snapdragon_855.yaml")
                             .read_text())
    profile["transfers"] = profile["transfers"][:2]
    path = tmp_path / "no_link.yaml"
    path.write_text(yaml.safe_dump(profile))
    with pytest.raises(ProfileError, match=r"no transfer given between dsp-gpu"):
        load_file(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text("version: 1\nname: [unclosed\n")
    with pytest.raises(ProfileError, match=r"syntax.yaml: line \d+: not valid YAML"):
        load_file(path)


def test_unknown_profile_lists_the_bundled_ones() -> None:
    with pytest.raises(ProfileError, match=r"pixel_9: not a bundled profile.*snapdragon_855"):
        load("pixel_9")
