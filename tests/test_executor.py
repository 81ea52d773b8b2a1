"""The numpy executor against PyTorch's forward pass: torchvision classifiers imported with
their (random, seeded) weights, the zoo's BERT-style encoder against a torch rewrite of
its equations, and torch's own transformer encoder layer."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphs import Layer, build_zoo_model, from_torch
from planner.execution.executor import execute, run_layer

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

TOLERANCE = 1e-4


def relative(a: np.ndarray, b: np.ndarray) -> float:
    """‖a − b‖ / ‖b‖ (relative L2)."""
    return float(np.linalg.norm(a.astype(np.float64) - b) / np.linalg.norm(b))


@pytest.mark.parametrize("name", [
    "resnet18", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1",
    "shufflenet_v2_x0_5", "efficientnet_b0", "googlenet", "densenet121", "regnet_x_400mf",
])
def test_torchvision_outputs_match_torch(name: str) -> None:
    torch.manual_seed(0)
    options: dict[str, Any] = {"aux_logits": False, "init_weights": True} \
        if name == "googlenet" else {}
    model = torchvision.models.get_model(name, **options).eval()
    x = torch.randn(2, 3, 96, 96)
    graph = from_torch(model, x[:1], cross_check=False)
    with torch.no_grad():
        expected = model(x).numpy()
    got = execute(graph, x.numpy()).outputs[graph.outputs[0]]
    assert got.shape == expected.shape
    assert relative(got, expected) < TOLERANCE


class _AttentionBlock(torch.nn.Module):
    """Pre-norm self-attention and a GELU MLP, with torch's fused multi-head attention."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = torch.nn.LayerNorm(64)
        self.attn = torch.nn.MultiheadAttention(64, 4, batch_first=True)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.GELU(),
                                       torch.nn.Linear(128, 64))

    def forward(self, x: Any) -> Any:
        h = self.norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(x)


def test_multihead_attention_block_matches_torch() -> None:
    torch.manual_seed(0)
    block = _AttentionBlock().eval()
    x = torch.randn(3, 10, 64)
    graph = from_torch(block, x[:1], cross_check=False,
                       leaf_modules=[torch.nn.MultiheadAttention])
    assert any(layer.op == "multihead_attention" for layer in graph)
    with torch.no_grad():
        expected = block(x).numpy()
    got = execute(graph, x.numpy()).outputs[graph.outputs[0]]
    assert relative(got, expected) < TOLERANCE


def _torch_bert(graph: Any, ids: Any, layers: int, heads: int) -> Any:
    """The zoo encoder's equations written with torch.nn.functional on the graph's
    weights (Hugging Face BertModel's forward without masks or dropout)."""
    f = torch.nn.functional

    def w(name: str, key: str = "weight") -> Any:
        return torch.from_numpy(np.array(graph[name].weights[key]))

    def dense(x: Any, name: str) -> Any:
        return f.linear(x, w(name), w(name, "bias"))

    def norm(x: Any, name: str) -> Any:
        return f.layer_norm(x, x.shape[-1:], w(name), w(name, "bias"), eps=1e-12)

    n, length = ids.shape
    positions = torch.arange(length)[None, :]
    x = (f.embedding(ids, w("embeddings.word_embeddings"))
         + f.embedding(torch.zeros_like(positions), w("embeddings.token_type_embeddings"))
         + f.embedding(positions, w("embeddings.position_embeddings")))
    x = norm(x, "embeddings.LayerNorm")
    hidden = x.shape[-1]
    for i in range(layers):
        p = f"encoder.layer.{i}"

        def split(t: Any) -> Any:
            return t.view(n, length, heads, hidden // heads).transpose(1, 2)

        q, k, v = (split(dense(x, f"{p}.attention.self.{s}")) for s in ("query", "key", "value"))
        scores = q @ k.transpose(-1, -2) / math.sqrt(hidden // heads)
        ctx = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, length, hidden)
        x = norm(dense(ctx, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
        h = f.gelu(dense(x, f"{p}.intermediate.dense"))
        x = norm(dense(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
    return x


def test_bert_encoder_matches_torch() -> None:
    graph = build_zoo_model("bert_encoder", weights=True, layers=2, seq_len=16)
    ids = np.random.default_rng(0).integers(0, 30522, (3, 16))
    got = execute(graph, ids).outputs[graph.outputs[0]]
    with torch.no_grad():
        expected = _torch_bert(graph, torch.from_numpy(ids), layers=2, heads=12).numpy()
    assert relative(got, expected) < TOLERANCE


def test_the_op_table_and_the_kernels_agree() -> None:
    """Every op the table calls executable has a kernel (inputs and constants are fed by the
    executor itself), and no kernel exists for an op the table does not run."""
    from graphs import OPS
    from planner.compression.coupling import RULES
    from planner.execution import KERNELS

    executable = {k for k, s in OPS.items() if s.executable}
    assert executable - {"input", "constant"} == set(KERNELS)
    assert {s.channels for s in OPS.values()} <= set(RULES)


def test_erf_is_within_its_fit_error_of_the_exact_function() -> None:
    from planner.execution.kernels import erf

    x = np.linspace(-6, 6, 20001)
    exact = np.array([math.erf(v) for v in x])
    assert np.abs(erf(x) - exact).max() < 1.3e-7  # the fit's own error, in float64
    assert np.abs(erf(x.astype(np.float32)) - exact).max() < 5e-7  # float32 rounding too
    assert erf(x.astype(np.float32)).dtype == np.float32
    assert (erf(-x) == -erf(x)).all()


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(("channels", "out", "kernel", "stride", "padding", "dilation", "groups"), [
    (48, 48, 3, 2, 1, 1, 48),       # depthwise, stride 2, 21 wide: one einsum channels last
    (24, 24, 3, 2, 2, 2, 24),       # the same, dilated
    (24, 24, 5, 1, 2, 2, 24),       # depthwise 5x5, dilated, 37 wide: strided slices
    (16, 32, 3, 1, (1, 0), 1, 16),  # depthwise with a channel multiplier: grouped path
    (40, 24, 1, 2, 0, 1, 1),        # 1x1, stride 2: the strided input multiplied directly
    (12, 18, 3, 1, 1, 1, 3),        # grouped 3x3
])
def test_convolutions_match_torch(threads: int, channels: int, out: int, kernel: int,
                                  stride: int, padding: Any, dilation: int,
                                  groups: int) -> None:
    from threadpoolctl import threadpool_limits

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(channels, out, kernel, stride, padding, dilation, groups),
        torch.nn.BatchNorm2d(out), torch.nn.SiLU()).eval()
    model[1].running_mean.normal_()
    model[1].running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, channels, 37, 41)  # 3 samples: blocks span samples
    graph = from_torch(model, x[:1], cross_check=False)
    with torch.no_grad():
        expected = model(x).numpy()
    with threadpool_limits(threads):
        got = execute(graph, x.numpy()).outputs[graph.outputs[0]]
    assert got.shape == expected.shape
    assert relative(got, expected) < TOLERANCE


def test_sigmoid_and_silu_are_accurate_in_both_tails() -> None:
    from planner.execution.kernels import UNARY

    x = np.linspace(-80, 80, 100001).astype(np.float32)
    wide = x.astype(np.float64)
    sigmoid = 1 / (1 + np.exp(-wide))
    for name, exact in (("sigmoid", sigmoid), ("silu", wide * sigmoid)):
        got = UNARY[name](x, {})
        assert got.dtype == np.float32
        normal = np.abs(exact) >= np.finfo(np.float32).tiny  # float32's normal range
        assert (np.abs(got - exact)[normal] / np.abs(exact[normal])).max() < 1e-6, name
    assert not np.isnan(UNARY["sigmoid"](np.array([-1e30, 1e30], np.float32), {})).any()


def test_group_norm_and_recurrent_layers_match_torch_at_other_batches() -> None:
    """nn.GroupNorm, and nn.LSTM / nn.GRU stacks in both layouts and directions, imported
    through torch.fx at batch 1 and run at batch 3."""
    torch.manual_seed(0)
    norm = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3), torch.nn.GroupNorm(4, 16)).eval()
    x = torch.randn(3, 3, 9, 9)
    graph = from_torch(norm, x[:1], cross_check=False)
    assert [layer.op for layer in graph][-1] == "group_norm"
    with torch.no_grad():
        assert relative(execute(graph, x.numpy()).outputs[graph.outputs[0]],
                        norm(x).numpy()) < TOLERANCE
    for cell in (torch.nn.LSTM, torch.nn.GRU):
        for batch_first in (True, False):
            rnn = cell(5, 7, num_layers=2, batch_first=batch_first, bidirectional=True).eval()
            seq = torch.randn(3, 4, 5) if batch_first else torch.randn(4, 3, 5)

            class Outputs(torch.nn.Module):
                def __init__(self, inner: Any) -> None:
                    super().__init__()
                    self.inner = inner

                def forward(self, s: Any) -> Any:
                    return self.inner(s)[0]

            model = Outputs(rnn).eval()
            one = seq[:1] if batch_first else seq[:, :1]
            graph = from_torch(model, one, cross_check=False, via="fx")
            assert graph.total_work().params == sum(p.numel() for p in rnn.parameters())
            with torch.no_grad():
                want = model(seq).numpy()
            if batch_first:  # the executor's batch is the leading axis
                got = execute(graph, seq.numpy()).outputs[graph.outputs[0]]
                assert relative(got, want) < TOLERANCE
            else:
                got = execute(graph, one.numpy()).outputs[graph.outputs[0]]
                assert relative(got, want[:, :1]) < TOLERANCE


@settings(max_examples=120, deadline=None)
@given(size=st.integers(2, 20), kernel=st.integers(1, 4), stride=st.integers(1, 3),
       padding=st.integers(0, 2), dilation=st.integers(1, 2), ceil_mode=st.booleans(),
       average=st.booleans(), count_include_pad=st.booleans())
def test_pooling_values_match_torch(size: int, kernel: int, stride: int, padding: int,
                                    dilation: int, ceil_mode: bool, average: bool,
                                    count_include_pad: bool) -> None:
    """Max and average pooling, one strided slice per kernel position, equal torch's over
    kernels, strides, padding, dilation (max), ceil mode and counting the padding (avg)."""
    if average:
        dilation = 1
    if padding > kernel // 2 or dilation * (kernel - 1) + 1 > size + 2 * padding:
        return  # PyTorch rejects these before computing
    x = np.random.default_rng(size * 31 + kernel).standard_normal((2, 3, size, size),
                                                                     dtype=np.float32)
    if average:
        pool: Any = torch.nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil_mode,
                                       count_include_pad=count_include_pad)
        attrs = {"count_include_pad": count_include_pad}
    else:
        pool = torch.nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
        attrs = {"dilation": dilation}
    expected = pool(torch.from_numpy(x)).numpy()
    layer = Layer.create("p", "avg_pool2d" if average else "max_pool2d", ["x"],
                         [x.shape], {"kernel_size": kernel, "stride": stride,
                                     "padding": padding, "ceil_mode": ceil_mode, **attrs})
    got, _ = run_layer(layer, [x])
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
