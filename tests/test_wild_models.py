"""Models from the wild, built from configs without weights: timm mobile networks, Hugging
Face transformers, torchvision detection and segmentation, recurrent models, and ONNX files
written by torch and by hand in the patterns other exporters produce.

Each imports with the source's parameter count and MACs (FlopCounterMode/2, with CPU
attention counted by torch's own SDPA formula, which FlopCounterMode leaves out; a hand
count where stated), executes as the source does (relative L2 within 1e-4 against torch or
onnxruntime), plans under a size budget and simulates.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
timm = pytest.importorskip("timm")
transformers = pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count  # noqa: E402

from graphs import Graph, from_onnx  # noqa: E402
from hardware_profiles import load  # noqa: E402
from planner import load_model, plan, simulate  # noqa: E402
from planner.execution import execute  # noqa: E402

TOLERANCE = 1e-4
DEVICE = load("snapdragon_855")


def relative_l2(got: np.ndarray, want: np.ndarray) -> float:
    want = np.asarray(want, dtype=np.float64)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def _sdpa_cpu(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None,
              **kwargs: Any) -> int:
    return int(sdpa_flop_count(query, key, value))


def flop_counter_macs(model: nn.Module, example: Any) -> int:
    """FlopCounterMode's FLOPs / 2, with the CPU flash-attention kernel counted by torch's
    SDPA formula (FlopCounterMode has none registered for it)."""
    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu}
    with FlopCounterMode(display=False, custom_mapping=mapping) as counter, torch.no_grad():
        call(model, example)
    return counter.get_total_flops() // 2


def call(model: nn.Module, example: Any) -> Any:
    return model(**example) if isinstance(example, Mapping) else model(example)


def first_output(value: Any) -> Any:
    """The first tensor a model returns (logits, last_hidden_state, a dict's first)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, Mapping):
        return first_output(next(iter(value.values())))
    return first_output(value[0])


def numpy_inputs(example: Any) -> Any:
    if isinstance(example, Mapping):
        return {k: v.numpy() for k, v in example.items()}
    return example.numpy()


# ---------------------------------------------------------------- the sources


def timm_model(name: str, **kwargs: Any) -> Callable[[], nn.Module]:
    return lambda: timm.create_model(name, pretrained=False, **kwargs)


def image(size: int) -> Callable[[], Any]:
    return lambda: torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


def token_ids(length: int = 16, padded: int = 4) -> Callable[[], Any]:
    """Token ids and an attention mask whose last ``padded`` positions are padding."""
    def make() -> dict[str, Any]:
        ids = torch.randint(1, 100, (1, length), generator=torch.Generator().manual_seed(0))
        mask = torch.ones(1, length, dtype=torch.int64)
        mask[:, length - padded:] = 0
        return {"input_ids": ids, "attention_mask": mask}
    return make


def hf_model(config: str, model: str, **kwargs: Any) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        module: nn.Module = getattr(transformers, model)(getattr(transformers, config)(**kwargs))
        return module
    return make


class SequenceClassifier(nn.Module):
    """An LSTM/GRU over a sequence, classified from its last step."""

    def __init__(self, cell: type, bidirectional: bool) -> None:
        super().__init__()
        self.rnn = cell(24, 48, num_layers=2, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(96 if bidirectional else 48, 5)

    def forward(self, x: Any) -> Any:
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


def recurrent_macs(model: SequenceClassifier, example: Any) -> int:
    """Hand count: Σ over layers and directions of T·N·G·H·(in + H), plus the classifier."""
    rnn = model.rnn
    steps, gates = example.shape[1], 4 if isinstance(rnn, nn.LSTM) else 3
    dirs = 2 if rnn.bidirectional else 1
    widths = [rnn.input_size] + [dirs * rnn.hidden_size] * (rnn.num_layers - 1)
    cells = sum(steps * gates * rnn.hidden_size * (w + rnn.hidden_size) for w in widths)
    return cells * dirs + model.fc.in_features * model.fc.out_features


def transformer_encoder() -> nn.Module:
    layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


def encoder_macs(model: nn.Module, example: Any) -> int:
    """Hand count per layer (its fused eval kernel is invisible to FlopCounterMode): q, k, v
    and out projections 4·L·D², attention scores and sum 2·L²·D, feed-forward 2·L·D·F."""
    length, d, f = example.shape[1], 64, 128
    return 2 * (4 * length * d * d + 2 * length * length * d + 2 * length * d * f)


class SSDNetwork(nn.Module):
    """SSDlite's network without its data-dependent pre- and post-processing: what a phone
    runs, with the box decoding and NMS beside it."""

    def __init__(self) -> None:
        super().__init__()
        detector = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
            weights=None, weights_backbone=None)
        self.backbone, self.head = detector.backbone, detector.head

    def forward(self, x: Any) -> Any:
        features = list(self.backbone(x).values())
        return self.head(features)


def tv_model(name: str) -> Callable[[], nn.Module]:
    return lambda: torchvision.models.get_model(name, weights=None, weights_backbone=None)


@dataclass
class Case:
    make: Callable[[], nn.Module]
    example: Callable[[], Any]
    path: str = "torch.fx"
    """How the import goes: torch.fx, or torch's ONNX export where fx cannot trace."""
    hand_macs: Callable[[Any, Any], int] | None = None
    proxy: str = "weights"


CASES: dict[str, Case] = {
    "timm/mobilenetv3_small_050": Case(timm_model("mobilenetv3_small_050"), image(64)),
    "timm/efficientnet_lite0": Case(timm_model("efficientnet_lite0"), image(64)),
    "timm/ghostnet_050": Case(timm_model("ghostnet_050"), image(64)),
    "timm/lcnet_050": Case(timm_model("lcnet_050"), image(64)),
    "timm/mixnet_s": Case(timm_model("mixnet_s"), image(64)),
    "timm/regnetx_002": Case(timm_model("regnetx_002"), image(64)),
    "timm/convnext_atto": Case(timm_model("convnext_atto"), image(64)),
    "timm/repvgg_a0": Case(timm_model("repvgg_a0"), image(64)),
    "timm/fastvit_t8": Case(timm_model("fastvit_t8"), image(64)),
    "timm/edgenext_xx_small": Case(timm_model("edgenext_xx_small"), image(64), "onnx"),
    "timm/tinynet_e": Case(timm_model("tinynet_e"), image(64)),
    "timm/deit_tiny": Case(timm_model("deit_tiny_patch16_224", img_size=64), image(64)),
    "timm/mobilevit_xxs": Case(timm_model("mobilevit_xxs"), image(64), "onnx"),
    "timm/mobilevitv2_050": Case(timm_model("mobilevitv2_050"), image(64), "onnx"),
    "timm/efficientvit_b0": Case(timm_model("efficientvit_b0"), image(64), "onnx"),
    "hf/bert_with_padding_mask": Case(hf_model(
        "BertConfig", "BertModel", hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, vocab_size=100, max_position_embeddings=32), token_ids(),
        "onnx", proxy="measured"),
    "hf/distilbert": Case(hf_model(
        "DistilBertConfig", "DistilBertModel", dim=64, n_layers=2, n_heads=2, hidden_dim=128,
        vocab_size=100, max_position_embeddings=32), token_ids(padded=0), "onnx"),
    "hf/vit": Case(hf_model(
        "ViTConfig", "ViTModel", hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, image_size=64, patch_size=16), image(64), "onnx"),
    "hf/mobilevit": Case(hf_model(  # at 0.02 the activations fade to denormals
        "MobileViTConfig", "MobileViTModel", image_size=64, initializer_range=0.3),
        image(64), "onnx"),
    "torchvision/ssdlite320_network": Case(SSDNetwork, image(160)),
    "torchvision/deeplabv3_mobilenet_v3_large": Case(
        tv_model("deeplabv3_mobilenet_v3_large"), image(64)),
    "torchvision/lraspp_mobilenet_v3_large": Case(tv_model("lraspp_mobilenet_v3_large"),
                                                  image(64)),
    "recurrent/lstm": Case(lambda: SequenceClassifier(nn.LSTM, False),
                           lambda: torch.randn(1, 12, 24), hand_macs=recurrent_macs),
    "recurrent/bidirectional_lstm": Case(lambda: SequenceClassifier(nn.LSTM, True),
                                         lambda: torch.randn(1, 12, 24),
                                         hand_macs=recurrent_macs),
    "recurrent/gru": Case(lambda: SequenceClassifier(nn.GRU, False),
                          lambda: torch.randn(1, 12, 24), hand_macs=recurrent_macs),
    "torch/transformer_encoder": Case(transformer_encoder, lambda: torch.randn(1, 10, 64),
                                      "onnx", hand_macs=encoder_macs),
}


def built(case: Case) -> tuple[nn.Module, Any]:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case.make().eval(), case.example()


def plans_and_simulates(graph: Graph, proxy: str) -> None:
    """A size budget of 40% of fp32 weights is met, on the bytes the simulation stores."""
    budget = 0.4 * graph.total_work().weight_bytes
    found = plan(graph, DEVICE, max_size_bytes=budget, proxy=proxy)  # type: ignore[arg-type]
    result = simulate(graph, found, batch=2)
    assert result.stored_bytes <= budget
    assert result.stored_bytes == found.totals.size_bytes
    assert all(math.isfinite(o.error) for o in result.outputs)


@pytest.mark.parametrize("name", list(CASES))
def test_imports_counts_executes_plans_and_simulates(name: str) -> None:
    case = CASES[name]
    model, example = built(case)
    with torch.no_grad():
        want = first_output(call(model, example)).numpy()
    graph = load_model(model, example_input=example)
    assert graph.metadata["import_path"].startswith(
        "torch.fx" if case.path == "torch.fx" else "onnx export")
    assert graph.unmapped_ops() == Counter()
    assert graph.total_work().params == sum(p.numel() for p in model.parameters())
    macs = case.hand_macs(model, example) if case.hand_macs else flop_counter_macs(model,
                                                                                 example)
    assert graph.total_work().macs == macs
    got = execute(graph, numpy_inputs(example)).outputs[graph.outputs[0]]
    assert got.shape == want.shape
    assert relative_l2(got, want) < TOLERANCE
    plans_and_simulates(graph, case.proxy)


def test_the_suite_covers_at_least_25_architectures() -> None:
    assert len(CASES) + len(HAND_WRITTEN) >= 25


def test_layer_names_follow_the_source_modules_through_the_onnx_path() -> None:
    model, example = built(CASES["hf/bert_with_padding_mask"])
    graph = load_model(model, example_input=example)
    dense = {n for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Embedding)}
    assert dense <= set(graph.order)  # every weight-holding module keeps its name
    assert list(graph.inputs) == ["input_ids", "attention_mask"]


def test_padding_changes_what_bert_computes_and_the_executor_follows() -> None:
    model, example = built(CASES["hf/bert_with_padding_mask"])
    graph = load_model(model, example_input=example)
    unmasked = {**example, "attention_mask": torch.ones_like(example["attention_mask"])}
    for inputs in (example, unmasked):
        with torch.no_grad():
            want = call(model, inputs).last_hidden_state.numpy()
        got = execute(graph, numpy_inputs(inputs)).outputs[graph.outputs[0]]
        assert relative_l2(got, want) < TOLERANCE
    with torch.no_grad():
        masked = call(model, example).last_hidden_state
        full = call(model, unmasked).last_hidden_state
    # the mask changes the outputs, by far more than the executor's tolerance
    assert relative_l2(masked.numpy(), full.numpy()) > 10 * TOLERANCE


def test_a_whole_detector_imports_plans_and_simulates_up_to_its_post_processing() -> None:
    """SSDlite with its pre- and post-processing: the data-dependent ops (TopK, NonZero) stay
    opaque with the shapes onnxruntime saw at the example input; parameters are exact, the
    plan says which layers it could not run, and simulation measures the network's raw
    outputs that feed the post-processing."""
    model, example = built(Case(tv_model("ssdlite320_mobilenet_v3_large"), image(320)))
    graph = load_model(model, example_input=example)
    assert graph.total_work().params == sum(p.numel() for p in model.parameters())
    unmapped = graph.unmapped_ops()
    assert {"onnx::TopK", "onnx::NonZero"} <= set(unmapped)
    assert any("observed by onnxruntime" in w for w in graph.metadata["import_warnings"])
    budget = 0.4 * graph.total_work().weight_bytes
    found = plan(graph, DEVICE, max_size_bytes=budget, proxy="weights")
    assert any("cannot execute" in note for note in found.notes)
    result = simulate(graph, found, batch=1)
    assert result.stored_bytes == found.totals.size_bytes <= budget
    assert result.notes and "measured at the" in result.notes[0]
    assert result.outputs and all(o.name not in graph.outputs for o in result.outputs)


def test_untraceable_module_reports_both_paths_when_both_fail(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import graphs.importers.torch_via_onnx as via_onnx
    from graphs.importers.torch_base import TorchImportError

    def refuse(*args: Any) -> None:
        raise RuntimeError("Exporting the operator 'aten::frobnicate' is not supported")

    class DataDependent(nn.Module):
        def forward(self, x: Any) -> Any:
            return x if x.sum() > 0 else -x

    monkeypatch.setattr(via_onnx, "export_onnx", refuse)
    with pytest.raises(TorchImportError, match=r"(?s)torch.fx cannot trace it.*control flow.*"
                                               r"onnx.export fails.*aten::frobnicate"):
        load_model(DataDependent(), input_shape=(1, 4))


# ---------------------------------------------------------------- ONNX written by hand


def _init(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value), name)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def keras_mobilenet_v3_block() -> tuple[onnx.ModelProto, dict[str, np.ndarray], int, int]:
    """tf2onnx's shape of a Keras MobileNetV3 block: NHWC input transposed to NCHW, SAME
    padding as auto_pad, Keras' hard sigmoid (alpha 0.2) in the hard swish, a squeeze-excite
    gate with the 1/6 one, and a classifier as MatMul + Add on the flattened NHWC tensor."""
    r = _rng(1)
    w = {"stem_w": r.normal(0, 0.3, (16, 3, 3, 3)), "stem_b": r.normal(0, 0.1, 16),
         "dw_w": r.normal(0, 0.3, (16, 1, 3, 3)), "se1_w": r.normal(0, 0.3, (4, 16, 1, 1)),
         "se1_b": np.zeros(4), "se2_w": r.normal(0, 0.3, (16, 4, 1, 1)),
         "se2_b": r.normal(0, 0.1, 16), "pw_w": r.normal(0, 0.3, (8, 16, 1, 1)),
         "fc_w": r.normal(0, 0.05, (8 * 16 * 16, 10)), "fc_b": r.normal(0, 0.1, 10)}
    inits = [_init(k, v.astype(np.float32)) for k, v in w.items()]
    inits.append(_init("flat", np.array([1, -1], np.int64)))
    nodes = [
        helper.make_node("Transpose", ["x"], ["nchw"], perm=[0, 3, 1, 2], name="to_nchw"),
        helper.make_node("Conv", ["nchw", "stem_w", "stem_b"], ["stem"], name="stem",
                         strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("HardSigmoid", ["stem"], ["gate"], alpha=0.2, beta=0.5, name="hs"),
        helper.make_node("Mul", ["stem", "gate"], ["hswish"], name="hard_swish"),
        helper.make_node("Conv", ["hswish", "dw_w"], ["dw"], group=16, pads=[1, 1, 1, 1],
                         name="depthwise"),
        helper.make_node("Relu", ["dw"], ["dw_act"], name="dw_relu"),
        helper.make_node("GlobalAveragePool", ["dw_act"], ["pooled"], name="se_pool"),
        helper.make_node("Conv", ["pooled", "se1_w", "se1_b"], ["se1"], name="se_reduce"),
        helper.make_node("Relu", ["se1"], ["se1_act"], name="se_relu"),
        helper.make_node("Conv", ["se1_act", "se2_w", "se2_b"], ["se2"], name="se_expand"),
        helper.make_node("HardSigmoid", ["se2"], ["se_gate"], alpha=1 / 6, beta=0.5,
                         name="se_hs"),
        helper.make_node("Mul", ["dw_act", "se_gate"], ["excited"], name="se_scale"),
        helper.make_node("Conv", ["excited", "pw_w"], ["pw"], name="project"),
        helper.make_node("Transpose", ["pw"], ["nhwc"], perm=[0, 2, 3, 1], name="to_nhwc"),
        helper.make_node("Reshape", ["nhwc", "flat"], ["flattened"], name="flatten"),
        helper.make_node("MatMul", ["flattened", "fc_w"], ["logits0"], name="fc"),
        helper.make_node("Add", ["logits0", "fc_b"], ["logits1"], name="fc_bias"),
        helper.make_node("Softmax", ["logits1"], ["y"], axis=-1, name="softmax"),
    ]
    model = helper.make_model(helper.make_graph(
        nodes, "keras_block", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [1, 32, 32, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits),
        opset_imports=[helper.make_opsetid("", 13)])
    params = sum(v.size for v in w.values())
    # stem 16·16·16·27, depthwise 16·16·16·9, SE 4·16 + 16·4, project 8·16·16·16, fc 2048·10
    macs = 16 * 256 * 27 + 16 * 256 * 9 + 64 + 64 + 8 * 256 * 16 + 2048 * 10
    return model, {"x": _rng(2).normal(size=(1, 32, 32, 3)).astype(np.float32)}, params, macs


def written_out_transformer() -> tuple[onnx.ModelProto, dict[str, np.ndarray], int, int]:
    """An encoder layer the way older exporters write one out: embeddings and position ids
    as Gathers (ids from Range), LayerNorm as ReduceMean/Sub/Pow/Sqrt/Div, scores as an
    Einsum, the padding mask by Equal/Expand/Where, GELU as Erf arithmetic."""
    length, d, heads, vocab = 8, 32, 2, 50
    r = _rng(3)
    w = {"tok": r.normal(0, 1, (vocab, d)), "pos": r.normal(0, 1, (length, d)),
         "gamma": r.normal(1, 0.1, d), "beta": r.normal(0, 0.1, d),
         "wq": r.normal(0, 0.2, (d, d)), "wk": r.normal(0, 0.2, (d, d)),
         "wv": r.normal(0, 0.2, (d, d)), "bq": r.normal(0, 0.1, d),
         "wo": r.normal(0, 0.2, (d, d)), "w1": r.normal(0, 0.2, (d, 2 * d))}
    consts = {"zero": np.array(0, np.int64), "len": np.array(length, np.int64),
              "one": np.array(1, np.int64), "axes": np.array([-1], np.int64),
              "two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32),
              "heads_shape": np.array([1, length, heads, d // heads], np.int64),
              "back": np.array([1, length, d], np.int64),
              "scale": np.array(math.sqrt(d // heads), np.float32),
              "mask_axes": np.array([1, 2], np.int64), "zero_f": np.array(0.0, np.float32),
              "neg": np.array(-1e9, np.float32),
              "mask_shape": np.array([1, heads, length, length], np.int64),
              "sqrt2": np.array(math.sqrt(2), np.float32),
              "onef": np.array(1.0, np.float32), "half": np.array(0.5, np.float32)}
    inits = [_init(k, v.astype(np.float32)) for k, v in w.items()]
    inits += [_init(k, v) for k, v in consts.items()]
    node = helper.make_node
    nodes = [
        node("Range", ["zero", "len", "one"], ["pos_ids"], name="position_ids"),
        node("Gather", ["tok", "ids"], ["tok_emb"], name="token_embedding"),
        node("Gather", ["pos", "pos_ids"], ["pos_emb"], name="position_embedding"),
        node("Add", ["tok_emb", "pos_emb"], ["emb"], name="embed"),
        node("ReduceMean", ["emb", "axes"], ["mu"], name="ln_mean"),
        node("Sub", ["emb", "mu"], ["centred"], name="ln_centre"),
        node("Pow", ["centred", "two"], ["sq"], name="ln_square"),
        node("ReduceMean", ["sq", "axes"], ["var"], name="ln_var"),
        node("Add", ["var", "eps"], ["var_eps"], name="ln_eps"),
        node("Sqrt", ["var_eps"], ["std"], name="ln_std"),
        node("Div", ["centred", "std"], ["normed"], name="ln_div"),
        node("Mul", ["normed", "gamma"], ["scaled"], name="ln_gamma"),
        node("Add", ["scaled", "beta"], ["h"], name="ln_beta"),
        node("MatMul", ["h", "wq"], ["q0"], name="q_proj"),
        node("Add", ["q0", "bq"], ["q1"], name="q_bias"),
        node("MatMul", ["h", "wk"], ["k1"], name="k_proj"),
        node("MatMul", ["h", "wv"], ["v1"], name="v_proj"),
        *[node("Reshape", [f"{t}1", "heads_shape"], [f"{t}2"], name=f"{t}_heads")
          for t in "qkv"],
        *[node("Transpose", [f"{t}2"], [f"{t}3"], perm=[0, 2, 1, 3], name=f"{t}_t")
          for t in "qkv"],
        node("Einsum", ["q3", "k3"], ["scores0"], equation="bhid,bhjd->bhij", name="scores"),
        node("Div", ["scores0", "scale"], ["scores1"], name="scale_scores"),
        node("Unsqueeze", ["mask", "mask_axes"], ["mask4"], name="mask_unsqueeze"),
        node("Expand", ["mask4", "mask_shape"], ["mask_full"], name="mask_expand"),
        node("Equal", ["mask_full", "zero"], ["padded"], name="mask_padded"),
        node("Where", ["padded", "neg", "scores1"], ["scores2"], name="mask_where"),
        node("Softmax", ["scores2"], ["probs"], axis=-1, name="softmax"),
        node("MatMul", ["probs", "v3"], ["ctx0"], name="context"),
        node("Transpose", ["ctx0"], ["ctx1"], perm=[0, 2, 1, 3], name="ctx_t"),
        node("Reshape", ["ctx1", "back"], ["ctx2"], name="ctx_merge"),
        node("MatMul", ["ctx2", "wo"], ["attn"], name="out_proj"),
        node("Add", ["h", "attn"], ["res"], name="residual"),
        node("MatMul", ["res", "w1"], ["ff0"], name="ffn"),
        node("Div", ["ff0", "sqrt2"], ["g0"], name="gelu_div"),
        node("Erf", ["g0"], ["g1"], name="gelu_erf"),
        node("Add", ["g1", "onef"], ["g2"], name="gelu_add"),
        node("Mul", ["ff0", "g2"], ["g3"], name="gelu_mul"),
        node("Mul", ["g3", "half"], ["y"], name="gelu_half"),
    ]
    graph = helper.make_graph(nodes, "written_out_encoder", [
        helper.make_tensor_value_info("ids", TensorProto.INT64, [1, length]),
        helper.make_tensor_value_info("mask", TensorProto.INT64, [1, length])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, length, 2 * d])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    mask = np.ones((1, length), np.int64)
    mask[:, -3:] = 0
    feeds = {"ids": _rng(4).integers(0, vocab, (1, length)), "mask": mask}
    params = sum(v.size for v in w.values())
    # q, k, v, out projections 4·L·d², scores and context 2·L²·d, feed-forward L·d·2d
    macs = 4 * length * d * d + 2 * length * length * d + length * d * 2 * d
    return model, feeds, params, macs


def onnx_recurrent(op: str) -> tuple[onnx.ModelProto, dict[str, np.ndarray], int, int]:
    """A bidirectional ONNX LSTM or GRU (ONNX's gate order, zero initial state) whose
    sequence output a linear layer reads, as exporters other than torch write them."""
    steps, batch, width, hidden = 7, 2, 6, 10
    gates = 4 if op == "LSTM" else 3
    r = _rng(5)
    w = {"W": r.normal(0, 0.4, (2, gates * hidden, width)),
         "R": r.normal(0, 0.4, (2, gates * hidden, hidden)),
         "B": r.normal(0, 0.2, (2, 2 * gates * hidden)), "fc": r.normal(0, 0.3, (2 * hidden, 3))}
    inits = [_init(k, v.astype(np.float32)) for k, v in w.items()]
    inits.append(_init("merge", np.array([steps, batch, 2 * hidden], np.int64)))
    extra = {"linear_before_reset": 1} if op == "GRU" else {}
    nodes = [
        helper.make_node(op, ["x", "W", "R", "B"], ["Y"], hidden_size=hidden,
                         direction="bidirectional", name="rnn", **extra),
        helper.make_node("Transpose", ["Y"], ["Yt"], perm=[0, 2, 1, 3], name="directions_last"),
        helper.make_node("Reshape", ["Yt", "merge"], ["seq"], name="merge_directions"),
        helper.make_node("MatMul", ["seq", "fc"], ["y"], name="classifier"),
    ]
    model = helper.make_model(helper.make_graph(
        nodes, f"onnx_{op.lower()}", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [steps, batch, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [steps, batch, 3])], inits),
        opset_imports=[helper.make_opsetid("", 14)])
    params = sum(v.size for v in w.values())
    macs = 2 * steps * batch * gates * hidden * (width + hidden) + steps * batch * 2 * hidden * 3
    return model, {"x": r.normal(size=(steps, batch, width)).astype(np.float32)}, params, macs


def paddle_style_segmenter() -> tuple[onnx.ModelProto, dict[str, np.ndarray], int, int]:
    """A PaddleSeg-like head: Conv + BatchNormalization + Relu kept apart, max pooling, a
    transposed convolution and a Resize by scales back up, skip concatenation, Clip(0, 6)
    with its bounds as inputs."""
    r = _rng(6)
    w = {"c1": r.normal(0, 0.3, (8, 3, 3, 3)), "bn_s": r.normal(1, 0.1, 8),
         "bn_b": r.normal(0, 0.1, 8), "bn_m": r.normal(0, 0.1, 8),
         "bn_v": r.uniform(0.5, 1.5, 8), "up_w": r.normal(0, 0.3, (8, 8, 2, 2)),
         "up_b": r.normal(0, 0.1, 8), "head": r.normal(0, 0.3, (4, 11, 1, 1))}
    inits = [_init(k, v.astype(np.float32)) for k, v in w.items()]
    inits += [_init("roi", np.zeros(0, np.float32)),
              _init("scales", np.array([1, 1, 2, 2], np.float32)),
              _init("lo", np.array(0.0, np.float32)), _init("hi", np.array(6.0, np.float32))]
    node = helper.make_node
    nodes = [
        node("Conv", ["x", "c1"], ["c"], pads=[1, 1, 1, 1], name="conv1"),
        node("BatchNormalization", ["c", "bn_s", "bn_b", "bn_m", "bn_v"], ["b"], name="bn1"),
        node("Relu", ["b"], ["a"], name="relu1"),
        node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        node("MaxPool", ["p"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], name="pool2"),
        node("ConvTranspose", ["p2", "up_w", "up_b"], ["u"], strides=[2, 2], name="up"),
        node("Resize", ["u", "roi", "scales"], ["u2"], mode="nearest", name="resize"),
        node("Concat", ["u2", "x"], ["cat"], axis=1, name="skip"),
        node("Clip", ["cat", "lo", "hi"], ["clipped"], name="clip6"),
        node("Conv", ["clipped", "head"], ["y"], name="classifier"),
    ]
    model = helper.make_model(helper.make_graph(
        nodes, "paddle_head", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 16, 16])], inits),
        opset_imports=[helper.make_opsetid("", 13)])
    params = sum(v.size for k, v in w.items() if k not in ("bn_m", "bn_v"))
    # conv1 8·256·27, transposed conv 8·4·4 inputs · 8·4 taps, head 4·256·11
    macs = 8 * 256 * 27 + 16 * 8 * 8 * 4 + 4 * 256 * 11
    return model, {"x": r.normal(size=(1, 3, 16, 16)).astype(np.float32)}, params, macs


HAND_WRITTEN: dict[str, Callable[[], tuple[onnx.ModelProto, dict[str, np.ndarray], int,
                                           int]]] = {
    "tf2onnx/keras_mobilenet_v3_block": keras_mobilenet_v3_block,
    "written_out/transformer_encoder": written_out_transformer,
    "onnx/bidirectional_lstm": lambda: onnx_recurrent("LSTM"),
    "onnx/bidirectional_gru": lambda: onnx_recurrent("GRU"),
    "paddle/segmentation_head": paddle_style_segmenter,
}


@pytest.mark.parametrize("name", list(HAND_WRITTEN))
def test_hand_written_onnx_imports_counts_executes_plans_and_simulates(
        name: str, tmp_path: Path) -> None:
    model, feeds, params, macs = HAND_WRITTEN[name]()
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / f"{name.replace('/', '_')}.onnx"
    onnx.save(model, str(path))
    graph = from_onnx(path)
    assert graph.unmapped_ops() == Counter()
    assert graph.total_work().params == params
    assert graph.total_work().macs == macs
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, feeds)[0]
    got = execute(graph, feeds).outputs[graph.outputs[0]]
    assert relative_l2(got, want) < TOLERANCE
    plans_and_simulates(graph, "weights")


def test_torch_written_onnx_of_a_recurrent_model_matches_the_module(tmp_path: Path) -> None:
    """torch's own exporter writes nn.LSTM as ONNX LSTM nodes (ONNX gate order, weights
    through Concat/Slice of parameters): imported from the file, it computes what the
    module does, with its parameter count."""
    model, example = built(CASES["recurrent/bidirectional_lstm"])
    path = tmp_path / "lstm.onnx"
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), dynamo=False, opset_version=17)
    graph = from_onnx(path)
    assert graph.unmapped_ops() == Counter()
    assert graph.total_work().params == sum(p.numel() for p in model.parameters())
    assert graph.total_work().macs == recurrent_macs(model, example)
    with torch.no_grad():
        want = model(example).numpy()
    assert relative_l2(execute(graph, example.numpy()).outputs[graph.outputs[0]],
                       want) < TOLERANCE
