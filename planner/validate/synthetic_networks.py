"""Random networks to calibrate the executor on: layers timed where they run in a model.

A kernel timed alone runs hot: its input, its output buffer and the interpreter's state
all stay in cache from one run to the next. Inside a network none of that holds (a batch
norm on 64 × 56 × 56 takes over twice as long inside ResNet-18 as alone), and flushing the
caches between runs overshoots the other way for small layers, whose tensors do stay in
cache in a network. So the calibration times layers inside networks: seeded random
sequences of the blocks CNN families and transformers are made of (plain and strided
convolutions, inverted residuals, basic residual blocks, squeeze-excitation, fire modules,
ShuffleNet units, pooling; attention and MLP blocks), at the widths and sizes those
families use. None of them is a zoo model; a layer's shape, not its network, is what the
fit sees.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from graphs import Graph, GraphBuilder, seeded_weights

WIDTHS = (16, 24, 32, 40, 48, 58, 64, 72, 80, 96, 112, 116, 120, 128, 144, 160, 192, 232,
          240, 256, 320, 384, 464, 480, 512, 576, 672, 960)
"""Channel counts blocks draw from (many are not multiples of 16, a few not of 8)."""
MAX_MACS = 3e8
"""Largest MACs of one drawn convolution (keeps a network's run under a second)."""
ACTIVATIONS = ("relu", "relu", "relu6", "hardswish", None)
"""What follows a convolution's batch norm (ReLU most often, as in the networks)."""


class _Drawer:
    """Draws blocks onto a builder, tracking the current tensor, channels and size."""

    def __init__(self, rng: np.random.Generator, b: GraphBuilder, x: str) -> None:
        self.rng, self.b, self.x = rng, b, x

    @property
    def channels(self) -> int:
        return self.b.shape(self.x)[1]

    @property
    def size(self) -> int:
        return self.b.shape(self.x)[2]

    def width_near(self, channels: int) -> int:
        near = [w for w in WIDTHS if channels / 2 <= w <= channels * 2] or [channels]
        return int(near[int(self.rng.integers(len(near)))])

    def stride(self) -> int:
        return 2 if self.size > 7 and self.rng.random() < 0.3 else 1

    def conv_bn(self, x: str, out: int, kernel: int, stride: int = 1, groups: int = 1,
                act: str | None = "relu") -> str:
        y = self.b.batch_norm(self.b.conv(x, out, kernel, stride, kernel // 2, groups=groups,
                                          bias=False))
        return self.b.act(act, y) if act else y

    def fits(self, cin: int, cout: int, kernel: int, stride: int = 1) -> bool:
        out = (self.size - 1) // stride + 1
        return cin * cout * kernel * kernel * out * out <= MAX_MACS

    def act(self) -> str | None:
        return ACTIVATIONS[int(self.rng.integers(len(ACTIVATIONS)))]

    # ------------------------------------------------------------------ blocks
    def plain(self) -> None:
        kernel = int(self.rng.choice([1, 1, 3, 3, 5]))
        out, stride = self.width_near(self.channels), self.stride()
        if self.fits(self.channels, out, kernel, stride):
            self.x = self.conv_bn(self.x, out, kernel, stride, act=self.act())

    def inverted(self) -> None:
        cin, expand = self.channels, int(self.rng.choice([3, 4, 6]))
        hidden, stride, kernel = cin * expand, self.stride(), int(self.rng.choice([3, 3, 5]))
        out = cin if stride == 1 and self.rng.random() < 0.6 else self.width_near(cin)
        if not (self.fits(cin, hidden, 1) and self.fits(hidden, out, 1, stride)):
            return
        act = str(self.rng.choice(["relu6", "hardswish", "relu"]))
        y = self.conv_bn(self.x, hidden, 1, act=act)
        y = self.conv_bn(y, hidden, kernel, stride, groups=hidden, act=act)
        if self.rng.random() < 0.3:
            y = self.squeeze_excite(y)
        y = self.conv_bn(y, out, 1, act=None)
        self.x = self.b.add_(y, self.x) if self.b.shape(y) == self.b.shape(self.x) else y

    def basic(self) -> None:
        c = self.channels
        if self.fits(c, c, 3):
            y = self.conv_bn(self.conv_bn(self.x, c, 3), c, 3, act=None)
            self.x = self.b.relu(self.b.add_(y, self.x))

    def squeeze_excite(self, x: str) -> str:
        c = self.b.shape(x)[1]
        s = self.b.adaptive_avg_pool(x, 1)
        s = self.b.relu(self.b.conv(s, max(8, c // 4), 1))
        s = self.b.act("hardsigmoid", self.b.conv(s, c, 1))
        return self.b.mul(x, s)

    def fire(self) -> None:
        squeeze = max(16, self.width_near(self.channels) // 4)
        expand = self.width_near(squeeze * 4)
        if self.fits(squeeze, expand, 3):
            s = self.b.relu(self.b.conv(self.x, squeeze, 1))
            self.x = self.b.concat([self.b.relu(self.b.conv(s, expand, 1)),
                                    self.b.relu(self.b.conv(s, expand, 3, padding=1))])

    def shuffle(self) -> None:
        c = self.channels
        if c % 2 or not self.fits(c // 2, c // 2, 1):
            return
        half = c // 2
        left = self.b.slice_channels(self.x, 0, half)
        right = self.b.slice_channels(self.x, half, c)
        right = self.conv_bn(right, half, 1)
        right = self.conv_bn(right, half, 3, groups=half, act=None)
        right = self.conv_bn(right, half, 1)
        self.x = self.b.add("channel_shuffle", [self.b.concat([left, right])], groups=2)

    def pool(self) -> None:
        kernel, padding = ((3, 1), (3, 0), (2, 0))[int(self.rng.integers(3))]
        if self.size > 7:
            self.x = self.b.max_pool(self.x, kernel, 2, padding)

    BLOCKS: tuple[Callable[[_Drawer], None], ...] = (plain, plain, inverted, inverted, basic,
                                                     fire, shuffle, pool)


def synthetic_cnn(seed: int, size: int = 224) -> Graph:
    """A random CNN on a ``3 × size × size`` image: a strided stem, 6 to 14 blocks drawn
    from :attr:`_Drawer.BLOCKS`, then global pooling and a classifier, or (one in four)
    pooling to a small grid and two wide fully connected layers before it."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder(f"synthetic_cnn_{seed}")
    d = _Drawer(rng, b, b.input((1, 3, size, size)))
    d.x = d.conv_bn(d.x, int(rng.choice([16, 24, 32, 64])), int(rng.choice([3, 3, 7])), 2)
    for _ in range(int(rng.integers(6, 15))):
        _Drawer.BLOCKS[int(rng.integers(len(_Drawer.BLOCKS)))](d)
    if rng.random() < 0.25:  # VGG's and AlexNet's head: weights far beyond the caches
        x = b.flatten(b.adaptive_avg_pool(d.x, int(rng.choice([3, 5, 7]))))
        for _ in range(2):
            x = b.dropout(b.relu(b.linear(x, int(rng.choice([1024, 2048, 4096])))))
    else:
        x = b.flatten(b.adaptive_avg_pool(d.x, 1))
    return seeded_weights(b.build([b.linear(x, int(rng.choice([10, 1000])))]), seed)


def synthetic_transformer(seed: int) -> Graph:
    """Token embeddings and two random encoder blocks (attention written out as the zoo's
    encoder and the importers write it, then a GELU MLP) on ``rows`` tokens."""
    rng = np.random.default_rng(seed)
    rows = int(rng.choice([16, 32, 64, 128, 197]))
    hidden = int(rng.choice([128, 256, 384, 512, 768]))
    head_dim = int(rng.choice([32, 64]))  # the attention products' k and n
    heads = hidden // head_dim
    b = GraphBuilder(f"synthetic_transformer_{seed}")
    ids = b.input((1, rows), "input_ids", dtype="int64")
    x = b.layer_norm(b.embedding(ids, int(rng.choice([1000, 8000, 30522])), hidden))

    def heads_view(t: str, dims: tuple[int, ...]) -> str:
        return b.permute(b.reshape(t, (1, rows, heads, head_dim)), dims)

    for _ in range(2):
        q = heads_view(b.linear(x, hidden), (0, 2, 1, 3))
        k = heads_view(b.linear(x, hidden), (0, 2, 3, 1))
        v = heads_view(b.linear(x, hidden), (0, 2, 1, 3))
        scores = b.scale(b.add("matmul", [q, k]), 1.0 / math.sqrt(head_dim))
        ctx = b.add("matmul", [b.add("softmax", [scores], axis=-1), v])
        ctx = b.reshape(b.permute(ctx, (0, 2, 1, 3)), (1, rows, hidden))
        x = b.layer_norm(b.add_(b.linear(ctx, hidden), x))
        h = b.linear(b.act("gelu", b.linear(x, hidden * int(rng.choice([2, 4])))), hidden)
        x = b.layer_norm(b.add_(h, x))
    return seeded_weights(b.build([x]), seed)


def synthetic_networks(quick: bool = False) -> Iterator[Graph]:
    """The calibration's networks: CNNs at each input size and transformers (with
    ``quick``, two small CNNs and one transformer, for tests)."""
    if quick:
        yield synthetic_cnn(0, 64)
        yield synthetic_cnn(1, 96)
        yield synthetic_transformer(2)
        return
    for seed in range(36):
        yield synthetic_cnn(seed, int((224, 224, 160, 112)[seed % 4]))
    for seed in range(36, 46):
        yield synthetic_transformer(seed)


__all__ = ["MAX_MACS", "WIDTHS", "synthetic_cnn", "synthetic_networks", "synthetic_transformer"]
