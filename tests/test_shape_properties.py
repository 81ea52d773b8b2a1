"""Property tests: the op table's shape rules agree with PyTorch and numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphs import Layer, ShapeError

torch = pytest.importorskip("torch")


@settings(max_examples=150, deadline=None)
@given(
    channels=st.integers(1, 6), groups=st.sampled_from([1, 2, 3]), out_mult=st.integers(1, 3),
    size=st.integers(3, 17), kernel=st.integers(1, 5), stride=st.integers(1, 3),
    padding=st.integers(0, 2), dilation=st.integers(1, 2),
)
def test_conv_output_shape_matches_torch(channels: int, groups: int, out_mult: int, size: int,
                                         kernel: int, stride: int, padding: int,
                                         dilation: int) -> None:
    in_channels, out_channels = channels * groups, out_mult * groups
    conv = torch.nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups)
    x = torch.zeros(1, in_channels, size, size)
    try:
        expected = tuple(conv(x).shape)
    except RuntimeError:
        with pytest.raises(ShapeError):
            Layer.create("c", "conv2d", ["x"], [tuple(x.shape)],
                         {"out_channels": out_channels, "kernel_size": kernel, "stride": stride,
                          "padding": padding, "dilation": dilation, "groups": groups})
        return
    layer = Layer.create("c", "conv2d", ["x"], [tuple(x.shape)],
                         {"out_channels": out_channels, "kernel_size": kernel, "stride": stride,
                          "padding": padding, "dilation": dilation, "groups": groups})
    assert layer.output_shape == expected
    assert layer.weight_shapes["weight"] == tuple(conv.weight.shape)


@settings(max_examples=150, deadline=None)
@given(size=st.integers(2, 30), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 2), ceil_mode=st.booleans(), average=st.booleans())
def test_pool_output_shape_matches_torch(size: int, kernel: int, stride: int, padding: int,
                                         ceil_mode: bool, average: bool) -> None:
    if padding > kernel // 2 or kernel > size + 2 * padding:
        return  # PyTorch rejects these before computing a shape
    pool_cls = torch.nn.AvgPool2d if average else torch.nn.MaxPool2d
    pool = pool_cls(kernel, stride, padding, ceil_mode=ceil_mode)
    expected = tuple(pool(torch.zeros(1, 2, size, size)).shape)
    op = "avg_pool2d" if average else "max_pool2d"
    layer = Layer.create("p", op, ["x"], [(1, 2, size, size)],
                         {"kernel_size": kernel, "stride": stride, "padding": padding,
                          "ceil_mode": ceil_mode})
    assert layer.output_shape == expected


shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3)


@settings(max_examples=150, deadline=None)
@given(batch_a=shapes, batch_b=shapes, n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4))
def test_matmul_broadcast_matches_numpy(batch_a: list[int], batch_b: list[int], n: int, k: int,
                                        m: int) -> None:
    a, b = (*batch_a, n, k), (*batch_b, k, m)
    try:
        expected = np.matmul(np.zeros(a), np.zeros(b)).shape
    except ValueError:
        with pytest.raises(ShapeError):
            Layer.create("mm", "matmul", ["a", "b"], [a, b])
        return
    layer = Layer.create("mm", "matmul", ["a", "b"], [a, b])
    assert layer.output_shape == expected
    assert layer.work().macs == int(np.prod(expected)) * k
