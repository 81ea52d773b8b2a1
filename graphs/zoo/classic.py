"""LeNet-5, AlexNet, VGG and ResNet, layer for layer as torchvision defines them.

Layer names follow torchvision's module names (``features.0``, ``layer1.0.conv1``) so a zoo
graph can be compared with the import of the torchvision model layer by layer.
"""

from __future__ import annotations

from graphs.builder import GraphBuilder
from graphs.ir import Graph
from graphs.ops import Shape


def lenet5(input_shape: Shape = (1, 1, 32, 32), num_classes: int = 10) -> Graph:
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: 61,706 parameters."""
    b = GraphBuilder("lenet5")
    x = b.input(input_shape)
    x = b.max_pool(b.relu(b.conv(x, 6, 5, name="conv1")), 2, name="pool1")
    x = b.max_pool(b.relu(b.conv(x, 16, 5, name="conv2")), 2, name="pool2")
    x = b.flatten(x)
    x = b.relu(b.linear(x, 120, name="fc1"))
    x = b.relu(b.linear(x, 84, name="fc2"))
    return b.build([b.linear(x, num_classes, name="fc3")])


def alexnet(input_shape: Shape = (1, 3, 224, 224), num_classes: int = 1000) -> Graph:
    """torchvision's AlexNet (the one-GPU variant of Krizhevsky et al. 2012)."""
    b = GraphBuilder("alexnet")
    x = b.input(input_shape)
    convs = [(64, 11, 4, 2, True), (192, 5, 1, 2, True), (384, 3, 1, 1, False),
             (256, 3, 1, 1, False), (256, 3, 1, 1, True)]
    i = 0
    for out, k, s, p, pool in convs:
        x = b.relu(b.conv(x, out, k, s, p, name=f"features.{i}"), name=f"features.{i + 1}")
        i += 2
        if pool:
            x = b.max_pool(x, 3, 2, name=f"features.{i}")
            i += 1
    x = b.flatten(b.adaptive_avg_pool(x, (6, 6), name="avgpool"))
    x = b.dropout(x, name="classifier.0")
    x = b.relu(b.linear(x, 4096, name="classifier.1"), name="classifier.2")
    x = b.dropout(x, name="classifier.3")
    x = b.relu(b.linear(x, 4096, name="classifier.4"), name="classifier.5")
    return b.build([b.linear(x, num_classes, name="classifier.6")])


VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
}


def vgg(config: str = "vgg16", input_shape: Shape = (1, 3, 224, 224),
        num_classes: int = 1000) -> Graph:
    """VGG without batch norm (Simonyan & Zisserman 2014), torchvision layout."""
    b = GraphBuilder(config)
    x = b.input(input_shape)
    i = 0
    for item in VGG_CONFIGS[config]:
        if item == "M":
            x = b.max_pool(x, 2, 2, name=f"features.{i}")
            i += 1
        else:
            x = b.conv(x, int(item), 3, padding=1, name=f"features.{i}")
            x = b.relu(x, name=f"features.{i + 1}")
            i += 2
    x = b.flatten(b.adaptive_avg_pool(x, (7, 7), name="avgpool"))
    x = b.relu(b.linear(x, 4096, name="classifier.0"), name="classifier.1")
    x = b.dropout(x, name="classifier.2")
    x = b.relu(b.linear(x, 4096, name="classifier.3"), name="classifier.4")
    x = b.dropout(x, name="classifier.5")
    return b.build([b.linear(x, num_classes, name="classifier.6")])


def _conv_bn(b: GraphBuilder, x: str, out: int, k: int, stride: int, prefix: str,
             index: str) -> str:
    x = b.conv(x, out, k, stride, k // 2, bias=False, name=f"{prefix}conv{index}")
    return b.batch_norm(x, name=f"{prefix}bn{index}")


def _basic_block(b: GraphBuilder, x: str, planes: int, stride: int, prefix: str) -> str:
    identity = x
    out = b.relu(_conv_bn(b, x, planes, 3, stride, prefix, "1"), name=f"{prefix}relu")
    out = _conv_bn(b, out, planes, 3, 1, prefix, "2")
    if stride != 1 or b.shape(x)[1] != planes:
        identity = b.conv(x, planes, 1, stride, bias=False, name=f"{prefix}downsample.0")
        identity = b.batch_norm(identity, name=f"{prefix}downsample.1")
    return b.relu(b.add_(out, identity, name=f"{prefix}add"), name=f"{prefix}relu")


def _bottleneck(b: GraphBuilder, x: str, planes: int, stride: int, prefix: str) -> str:
    """ResNet v1.5 bottleneck: the stride sits on the 3×3 conv, as in torchvision."""
    identity = x
    out = b.relu(_conv_bn(b, x, planes, 1, 1, prefix, "1"), name=f"{prefix}relu")
    out = b.relu(_conv_bn(b, out, planes, 3, stride, prefix, "2"), name=f"{prefix}relu")
    out = _conv_bn(b, out, planes * 4, 1, 1, prefix, "3")
    if stride != 1 or b.shape(x)[1] != planes * 4:
        identity = b.conv(x, planes * 4, 1, stride, bias=False, name=f"{prefix}downsample.0")
        identity = b.batch_norm(identity, name=f"{prefix}downsample.1")
    return b.relu(b.add_(out, identity, name=f"{prefix}add"), name=f"{prefix}relu")


RESNET_DEPTHS: dict[str, tuple[str, list[int]]] = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
}


def resnet(depth: str = "resnet50", input_shape: Shape = (1, 3, 224, 224),
           num_classes: int = 1000) -> Graph:
    """ResNet (He et al. 2015), torchvision's v1.5 layout."""
    kind, blocks = RESNET_DEPTHS[depth]
    block = _basic_block if kind == "basic" else _bottleneck
    b = GraphBuilder(depth)
    x = b.input(input_shape)
    x = b.relu(b.batch_norm(b.conv(x, 64, 7, 2, 3, bias=False, name="conv1"), name="bn1"),
               name="relu")
    x = b.max_pool(x, 3, 2, 1, name="maxpool")
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
        for j in range(count):
            stride = 2 if stage > 0 and j == 0 else 1
            x = block(b, x, planes, stride, f"layer{stage + 1}.{j}.")
    x = b.flatten(b.adaptive_avg_pool(x, 1, name="avgpool"))
    return b.build([b.linear(x, num_classes, name="fc")])
