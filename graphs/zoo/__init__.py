"""The model zoo: standard mobile and server architectures in pure Python (no torch needed).

>>> from graphs.zoo import build_zoo_model
>>> build_zoo_model("resnet50").total_work().params
25557032
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from graphs.errors import UnknownModelError
from graphs.ir import Graph
from graphs.zoo.classic import alexnet, lenet5, resnet, vgg
from graphs.zoo.digits import digits_cnn, trained_weights
from graphs.zoo.encoder import bert_encoder
from graphs.zoo.mobile import mobilenet_v1, mobilenet_v2, mobilenet_v3, shufflenet_v2, squeezenet
from graphs.zoo.weights import seeded_weights


@dataclass(frozen=True)
class ZooModel:
    """A zoo entry: how to build it and the published numbers it reproduces."""

    name: str
    build: Callable[..., Graph]
    summary: str
    published_params: int
    published_gmacs: float | None
    source: str
    takes_image: bool = True
    trained: Callable[[Graph], Graph] | None = None
    """Attaches trained weights (instead of seeded ones) when the model ships them."""


_TV = "torchvision model docs (weights meta: num_params, _ops in GFLOPS = GMACs)"

ZOO: dict[str, ZooModel] = {
    m.name: m
    for m in [
        ZooModel("lenet5", lenet5, "LeNet-5, 32×32 grey input, 10 classes", 61_706, 0.000417,
                 "LeCun et al. 1998 (conv 156 + 2,416, fc 48,120 + 10,164 + 850)"),
        ZooModel("digits_cnn", digits_cnn,
                 "small CNN for scikit-learn's 8×8 digits, trained weights included",
                 47_610, None, "examples/train_digits_cnn.py (this repository)",
                 trained=trained_weights),
        ZooModel("alexnet", alexnet, "AlexNet (torchvision)", 61_100_840, 0.714, _TV),
        ZooModel("vgg11", partial(vgg, "vgg11"), "VGG-11 (torchvision)", 132_863_336, 7.609,
                 _TV),
        ZooModel("vgg16", partial(vgg, "vgg16"), "VGG-16 (torchvision)", 138_357_544, 15.47,
                 _TV),
        ZooModel("resnet18", partial(resnet, "resnet18"), "ResNet-18", 11_689_512, 1.814, _TV),
        ZooModel("resnet34", partial(resnet, "resnet34"), "ResNet-34", 21_797_672, 3.664, _TV),
        ZooModel("resnet50", partial(resnet, "resnet50"), "ResNet-50 (v1.5)", 25_557_032,
                 4.089, _TV),
        ZooModel("mobilenet_v1", mobilenet_v1, "MobileNet v1, α=1 (paper layout, BN)",
                 4_231_976, 0.569,
                 "Howard et al. 2017 Table 8 (569 M mult-adds, 4.2 M params); Keras "
                 "MobileNet trainable params 4,231,976"),
        ZooModel("mobilenet_v2", mobilenet_v2, "MobileNet v2 (torchvision)", 3_504_872, 0.301,
                 _TV),
        ZooModel("mobilenet_v3_large", partial(mobilenet_v3, "large"),
                 "MobileNet v3 large (torchvision)", 5_483_032, 0.217, _TV),
        ZooModel("mobilenet_v3_small", partial(mobilenet_v3, "small"),
                 "MobileNet v3 small (torchvision)", 2_542_856, 0.057, _TV),
        ZooModel("squeezenet1_0", partial(squeezenet, "1_0"), "SqueezeNet 1.0 (torchvision)",
                 1_248_424, 0.819, _TV),
        ZooModel("squeezenet1_1", partial(squeezenet, "1_1"), "SqueezeNet 1.1 (torchvision)",
                 1_235_496, 0.349, _TV),
        ZooModel("shufflenet_v2_x0_5", partial(shufflenet_v2, "x0_5"),
                 "ShuffleNet v2 ×0.5 (torchvision)", 1_366_792, 0.04, _TV),
        ZooModel("shufflenet_v2_x1_0", partial(shufflenet_v2, "x1_0"),
                 "ShuffleNet v2 ×1.0 (torchvision)", 2_278_604, 0.14, _TV),
        ZooModel("bert_encoder", bert_encoder,
                 "BERT-style encoder, MiniLM-L6-H384 defaults (6 layers, hidden 384, "
                 "12 heads), sequence 128", 22_565_376, None,
                 "all-MiniLM-L6-v2 (BertModel 22,713,216 params incl. the 147,840-param "
                 "pooler)", takes_image=False),
    ]
}


def zoo_names() -> list[str]:
    """Names of every zoo model, in the order of the table above."""
    return list(ZOO)


def build_zoo_model(name: str, input_shape: tuple[int, ...] | None = None,
                    weights: bool = False, seed: int = 0, **options: Any) -> Graph:
    """Build a zoo model; ``input_shape`` overrides the default (N, C, H, W) for image
    models, ``weights=True`` attaches the model's trained weights when it ships them
    (digits_cnn at its default shape) and deterministic seeded weights otherwise,
    ``options`` go to the model's builder (``num_classes``, ``width_multiplier``, ``seq_len``…).

    Raises ``UnknownModelError`` listing the known names.
    """
    try:
        entry = ZOO[name]
    except KeyError:
        raise UnknownModelError(name, zoo_names()) from None
    if input_shape is not None:
        if entry.takes_image:
            options["input_shape"] = tuple(input_shape)
        else:
            options["batch"], options["seq_len"] = input_shape
    graph = entry.build(**options)
    graph.metadata.setdefault("source", f"zoo:{name}")
    if weights and entry.trained is not None and not options:
        return entry.trained(graph)
    return seeded_weights(graph, seed) if weights else graph


__all__ = ["ZOO", "ZooModel", "build_zoo_model", "seeded_weights", "zoo_names"]
