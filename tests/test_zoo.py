"""The model zoo against published parameter counts and MACs."""

from __future__ import annotations

import math

import pytest

from graphs import UnknownModelError, build_zoo_model, zoo_names
from graphs.zoo import ZOO

# name: (parameters, MACs as counted here, published GMACs)
# Parameters and GMACs are torchvision's weights metadata (num_params, _ops) unless noted.
PUBLISHED = {
    "lenet5": (61_706, 416_520, None),  # conv 117,600 + 240,000; fc 48,000 + 10,080 + 840
    # conv 144 + 4,608 + 9,216, BN 160, fc 32,832 + 650; MACs 9,216 + 294,912 + 147,456
    # + 32,768 + 640
    "digits_cnn": (47_610, 484_992, None),
    "alexnet": (61_100_840, 714_188_480, 0.714),
    "vgg11": (132_863_336, 7_609_090_048, 7.609),
    "vgg16": (138_357_544, 15_470_264_320, 15.47),
    "resnet18": (11_689_512, 1_814_073_344, 1.814),
    "resnet34": (21_797_672, 3_663_761_408, 3.664),
    "resnet50": (25_557_032, 4_089_184_256, 4.089),
    "mobilenet_v1": (4_231_976, 568_740_352, 0.569),  # MobileNets paper: 569 M mult-adds
    "mobilenet_v2": (3_504_872, 300_774_272, 0.301),
    "mobilenet_v3_large": (5_483_032, 216_589_760, 0.217),
    "mobilenet_v3_small": (2_542_856, 56_510_400, 0.057),
    "squeezenet1_0": (1_248_424, 818_924_576, 0.819),
    "squeezenet1_1": (1_235_496, 349_151_936, 0.349),
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448, 0.04),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992, 0.14),
    # MiniLM-L6-H384 without pooler; MACs 6 · (4·128·384² + 2·12·128²·32 + 2·128·384·1536)
    "bert_encoder": (22_565_376, 1_434_451_968, None),
}


def test_every_zoo_model_is_covered() -> None:
    assert set(PUBLISHED) == set(zoo_names())


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_params_exact_and_macs_match_published(name: str) -> None:
    params, macs, gmacs = PUBLISHED[name]
    work = build_zoo_model(name).total_work()
    assert work.params == params
    assert work.params == ZOO[name].published_params
    assert work.macs == macs
    if gmacs is not None:
        # within 0.1%, or equal at the precision published (torchvision prints "0.14")
        digits = len(repr(gmacs).split(".")[1])
        at_precision = round(work.macs / 1e9, digits) == gmacs
        assert math.isclose(work.macs / 1e9, gmacs, rel_tol=1e-3) or at_precision


def test_mobilenet_v1_width_multiplier_matches_paper() -> None:
    # MobileNets Table 6: 0.50 MobileNet-224 has 149 M mult-adds and 1.3 M parameters
    work = build_zoo_model("mobilenet_v1", width_multiplier=0.5).total_work()
    assert math.isclose(work.macs, 149e6, rel_tol=0.01)
    assert math.isclose(work.params, 1.3e6, rel_tol=0.05)  # 1.3 is rounded to 2 digits


def test_input_shape_and_options() -> None:
    large = build_zoo_model("resnet18", input_shape=(2, 3, 448, 448))
    assert large["fc"].output_shape == (2, 1000)
    # conv MACs scale with batch and area: 2 · (448/224)² = 8 × (every stage divides evenly)
    convs = build_zoo_model("resnet18").total_work().macs - 512_000
    assert large.total_work().macs - 2 * 512_000 == 8 * convs
    short = build_zoo_model("bert_encoder", input_shape=(1, 64))
    assert short.order[-1].startswith("encoder.layer.5")
    assert short[short.outputs[0]].output_shape == (1, 64, 384)
    pooled = build_zoo_model("bert_encoder", pooler=True)
    assert pooled.total_work().params == 22_713_216  # all-MiniLM-L6-v2 with its pooler


def test_unknown_name_lists_known_models() -> None:
    with pytest.raises(UnknownModelError, match=r"resnet50.*mobilenet_v2|mobilenet_v2.*resnet50"):
        build_zoo_model("resnet49")
