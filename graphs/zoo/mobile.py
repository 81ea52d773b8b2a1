"""Mobile architectures: MobileNet v1/v2/v3, SqueezeNet and ShuffleNet v2.

v2, v3, SqueezeNet and ShuffleNet follow torchvision exactly (names included). MobileNet v1
is not in torchvision; it follows the paper (Howard et al. 2017, Table 1) with batch norm
after every conv as in the reference Keras/TF implementation, and takes the paper's width
multiplier α.
"""

from __future__ import annotations

from graphs.builder import GraphBuilder
from graphs.ir import Graph
from graphs.ops import Shape


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without losing more than 10%
    (torchvision's ``_make_divisible``)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def _cna(b: GraphBuilder, x: str, out: int, k: int, stride: int, prefix: str,
         groups: int = 1, act: str | None = "relu6") -> str:
    """torchvision's Conv2dNormActivation: conv (no bias), batch norm, activation."""
    x = b.conv(x, out, k, stride, (k - 1) // 2, groups=groups, bias=False, name=f"{prefix}.0")
    x = b.batch_norm(x, name=f"{prefix}.1")
    return b.act(act, x, name=f"{prefix}.2") if act else x


# ---------------------------------------------------------------- MobileNet v1

MOBILENET_V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                       (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
"""(pointwise output channels, depthwise stride) of the 13 separable blocks."""


def mobilenet_v1(input_shape: Shape = (1, 3, 224, 224), num_classes: int = 1000,
                 width_multiplier: float = 1.0) -> Graph:
    """MobileNet v1: 4,231,976 parameters and 568.7 M MACs at α = 1, 224×224."""
    alpha = width_multiplier
    b = GraphBuilder("mobilenet_v1" if alpha == 1.0 else f"mobilenet_v1_{alpha:g}")
    x = b.input(input_shape)
    x = _cna(b, x, int(32 * alpha), 3, 2, "conv0", act="relu")
    for i, (out, stride) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        channels = b.shape(x)[1]
        x = _cna(b, x, channels, 3, stride, f"blocks.{i}.dw", groups=channels, act="relu")
        x = _cna(b, x, int(out * alpha), 1, 1, f"blocks.{i}.pw", act="relu")
    x = b.flatten(b.adaptive_avg_pool(x, 1, name="avgpool"))
    return b.build([b.linear(x, num_classes, name="fc")])


# ---------------------------------------------------------------- MobileNet v2

MOBILENET_V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
"""(expansion t, output channels c, repeats n, first stride s), from the paper's Table 2."""


def mobilenet_v2(input_shape: Shape = (1, 3, 224, 224), num_classes: int = 1000,
                 width_multiplier: float = 1.0) -> Graph:
    """MobileNet v2 (Sandler et al. 2018), torchvision layout: 3,504,872 parameters."""
    b = GraphBuilder("mobilenet_v2")
    x = b.input(input_shape)
    channels = make_divisible(32 * width_multiplier)
    x = _cna(b, x, channels, 3, 2, "features.0")
    index = 1
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        out = make_divisible(c * width_multiplier)
        for j in range(n):
            stride = s if j == 0 else 1
            prefix = f"features.{index}.conv"
            hidden = round(channels * t)
            y, k = x, 0
            if t != 1:
                y = _cna(b, y, hidden, 1, 1, f"{prefix}.0")
                k = 1
            y = _cna(b, y, hidden, 3, stride, f"{prefix}.{k}", groups=hidden)
            y = b.conv(y, out, 1, bias=False, name=f"{prefix}.{k + 1}")
            y = b.batch_norm(y, name=f"{prefix}.{k + 2}")
            x = b.add_(x, y, name=f"features.{index}.add") if stride == 1 and channels == out else y
            channels = out
            index += 1
    last = make_divisible(1280 * max(1.0, width_multiplier))
    x = _cna(b, x, last, 1, 1, f"features.{index}")
    x = b.flatten(b.adaptive_avg_pool(x, 1, name="adaptive_avg_pool2d"))
    x = b.dropout(x, 0.2, name="classifier.0")
    return b.build([b.linear(x, num_classes, name="classifier.1")])


# ---------------------------------------------------------------- MobileNet v3

V3Block = tuple[int, int, int, bool, str, int]
"""(kernel, expanded channels, output channels, squeeze-excite, activation, stride)."""

MOBILENET_V3: dict[str, tuple[list[V3Block], int]] = {
    "large": ([
        (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2),
        (3, 72, 24, False, "relu", 1), (5, 72, 40, True, "relu", 2),
        (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
        (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
        (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
        (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
        (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
        (5, 960, 160, True, "hardswish", 1),
    ], 1280),
    "small": ([
        (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2),
        (3, 88, 24, False, "relu", 1), (5, 96, 40, True, "hardswish", 2),
        (5, 240, 40, True, "hardswish", 1), (5, 240, 40, True, "hardswish", 1),
        (5, 120, 48, True, "hardswish", 1), (5, 144, 48, True, "hardswish", 1),
        (5, 288, 96, True, "hardswish", 2), (5, 576, 96, True, "hardswish", 1),
        (5, 576, 96, True, "hardswish", 1),
    ], 1024),
}
"""torchvision's bneck configurations (Howard et al. 2019, Tables 1 and 2)."""


def _squeeze_excite(b: GraphBuilder, x: str, prefix: str) -> str:
    channels = b.shape(x)[1]
    squeeze = make_divisible(channels // 4)
    s = b.adaptive_avg_pool(x, 1, name=f"{prefix}.avgpool")
    s = b.relu(b.conv(s, squeeze, 1, name=f"{prefix}.fc1"), name=f"{prefix}.relu")
    s = b.act("hardsigmoid", b.conv(s, channels, 1, name=f"{prefix}.fc2"),
              name=f"{prefix}.scale_activation")
    return b.mul(s, x, name=f"{prefix}.mul")


def mobilenet_v3(size: str = "large", input_shape: Shape = (1, 3, 224, 224),
                 num_classes: int = 1000) -> Graph:
    """MobileNet v3 large or small, torchvision layout."""
    blocks, last = MOBILENET_V3[size]
    b = GraphBuilder(f"mobilenet_v3_{size}")
    x = _cna(b, b.input(input_shape), 16, 3, 2, "features.0", act="hardswish")
    for i, (k, expanded, out, se, act, stride) in enumerate(blocks, start=1):
        channels, prefix, j = b.shape(x)[1], f"features.{i}.block", 0
        y = x
        if expanded != channels:
            y = _cna(b, y, expanded, 1, 1, f"{prefix}.0", act=act)
            j = 1
        y = _cna(b, y, expanded, k, stride, f"{prefix}.{j}", groups=expanded, act=act)
        if se:
            j += 1
            y = _squeeze_excite(b, y, f"{prefix}.{j}")
        y = _cna(b, y, out, 1, 1, f"{prefix}.{j + 1}", act=None)
        x = b.add_(y, x, name=f"features.{i}.add") if stride == 1 and channels == out else y
    x = _cna(b, x, 6 * b.shape(x)[1], 1, 1, f"features.{len(blocks) + 1}", act="hardswish")
    x = b.flatten(b.adaptive_avg_pool(x, 1, name="avgpool"))
    x = b.act("hardswish", b.linear(x, last, name="classifier.0"), name="classifier.1")
    x = b.dropout(x, 0.2, name="classifier.2")
    return b.build([b.linear(x, num_classes, name="classifier.3")])


# ---------------------------------------------------------------- SqueezeNet


def _fire(b: GraphBuilder, x: str, squeeze: int, expand: int, prefix: str) -> str:
    s = b.relu(b.conv(x, squeeze, 1, name=f"{prefix}.squeeze"),
               name=f"{prefix}.squeeze_activation")
    e1 = b.relu(b.conv(s, expand, 1, name=f"{prefix}.expand1x1"),
                name=f"{prefix}.expand1x1_activation")
    e3 = b.relu(b.conv(s, expand, 3, padding=1, name=f"{prefix}.expand3x3"),
                name=f"{prefix}.expand3x3_activation")
    return b.concat([e1, e3], name=f"{prefix}.cat")


SQUEEZENET: dict[str, tuple[tuple[int, int, int], list[tuple[int, int] | str]]] = {
    "1_0": ((96, 7, 2), ["M", (16, 64), (16, 64), (32, 128), "M", (32, 128), (48, 192),
                         (48, 192), (64, 256), "M", (64, 256)]),
    "1_1": ((64, 3, 2), ["M", (16, 64), (16, 64), "M", (32, 128), (32, 128), "M",
                         (48, 192), (48, 192), (64, 256), (64, 256)]),
}
"""(first conv: channels, kernel, stride) and the sequence of max pools and Fire modules."""


def squeezenet(version: str = "1_1", input_shape: Shape = (1, 3, 224, 224),
               num_classes: int = 1000) -> Graph:
    """SqueezeNet 1.0 / 1.1 (Iandola et al. 2016), torchvision layout."""
    (channels, k, stride), modules = SQUEEZENET[version]
    b = GraphBuilder(f"squeezenet{version}")
    x = b.relu(b.conv(b.input(input_shape), channels, k, stride, name="features.0"),
               name="features.1")
    for i, item in enumerate(modules, start=2):
        if isinstance(item, tuple):
            x = _fire(b, x, item[0], item[1], f"features.{i}")
        else:
            x = b.max_pool(x, 3, 2, ceil_mode=True, name=f"features.{i}")
    x = b.dropout(x, name="classifier.0")
    x = b.relu(b.conv(x, num_classes, 1, name="classifier.1"), name="classifier.2")
    x = b.adaptive_avg_pool(x, 1, name="classifier.3")
    return b.build([b.flatten(x)])


# ---------------------------------------------------------------- ShuffleNet v2

SHUFFLENET_V2_WIDTHS = {
    "x0_5": [24, 48, 96, 192, 1024],
    "x1_0": [24, 116, 232, 464, 1024],
    "x1_5": [24, 176, 352, 704, 1024],
    "x2_0": [24, 244, 488, 976, 2048],
}


def _shuffle_unit(b: GraphBuilder, x: str, out: int, stride: int, prefix: str) -> str:
    branch = out // 2
    if stride == 1:
        channels = b.shape(x)[1]
        left = b.slice_channels(x, 0, channels // 2, name=f"{prefix}.chunk.0")
        right = b.slice_channels(x, channels // 2, channels, name=f"{prefix}.chunk.1")
    else:
        channels = b.shape(x)[1]
        left = b.conv(x, channels, 3, stride, 1, groups=channels, bias=False,
                      name=f"{prefix}.branch1.0")
        left = b.batch_norm(left, name=f"{prefix}.branch1.1")
        left = b.conv(left, branch, 1, bias=False, name=f"{prefix}.branch1.2")
        left = b.relu(b.batch_norm(left, name=f"{prefix}.branch1.3"), name=f"{prefix}.branch1.4")
        right = x
    p = f"{prefix}.branch2"
    right = b.conv(right, branch, 1, bias=False, name=f"{p}.0")
    right = b.relu(b.batch_norm(right, name=f"{p}.1"), name=f"{p}.2")
    right = b.conv(right, branch, 3, stride, 1, groups=branch, bias=False, name=f"{p}.3")
    right = b.batch_norm(right, name=f"{p}.4")
    right = b.conv(right, branch, 1, bias=False, name=f"{p}.5")
    right = b.relu(b.batch_norm(right, name=f"{p}.6"), name=f"{p}.7")
    x = b.concat([left, right], name=f"{prefix}.cat")
    return b.add("channel_shuffle", [x], f"{prefix}.shuffle", groups=2)


def shufflenet_v2(width: str = "x1_0", input_shape: Shape = (1, 3, 224, 224),
                  num_classes: int = 1000) -> Graph:
    """ShuffleNet v2 (Ma et al. 2018), torchvision layout."""
    widths = SHUFFLENET_V2_WIDTHS[width]
    b = GraphBuilder(f"shufflenet_v2_{width}")
    x = b.conv(b.input(input_shape), widths[0], 3, 2, 1, bias=False, name="conv1.0")
    x = b.relu(b.batch_norm(x, name="conv1.1"), name="conv1.2")
    x = b.max_pool(x, 3, 2, 1, name="maxpool")
    for stage, (repeats, out) in enumerate(zip((4, 8, 4), widths[1:4], strict=True), start=2):
        for j in range(repeats):
            x = _shuffle_unit(b, x, out, 2 if j == 0 else 1, f"stage{stage}.{j}")
    x = b.conv(x, widths[4], 1, bias=False, name="conv5.0")
    x = b.relu(b.batch_norm(x, name="conv5.1"), name="conv5.2")
    x = b.add("mean", [x], "mean", axes=(2, 3))
    return b.build([b.linear(x, num_classes, name="fc")])
