"""Each op handler on hand-computed cases; the arithmetic is in the comments."""

from __future__ import annotations

import pytest

from graphs import Layer, ShapeError
from graphs.ops import known_ops
from graphs.work import op_work


def layer(op: str, shapes: list[tuple[int, ...]], **attrs: object) -> Layer:
    return Layer.create("l", op, [f"x{i}" for i in range(len(shapes))], shapes, attrs)


# ---------------------------------------------------------------- conv2d


def test_conv_resnet_stem() -> None:
    conv = layer("conv2d", [(1, 3, 224, 224)], out_channels=64, kernel_size=7, stride=2,
                 padding=3, bias=False)
    # (224 + 3 + 3 - 7) // 2 + 1 = 112
    assert conv.output_shape == (1, 64, 112, 112)
    work = conv.work()
    assert work.macs == 118_013_952  # 64·112·112 · 3·7·7
    assert work.flops == 2 * 118_013_952  # no bias
    assert work.params == 9_408  # 64·3·7·7
    assert work.weight_bytes == 37_632  # 9,408 · 4
    assert work.input_bytes == 602_112  # 3·224·224 · 4
    assert work.output_bytes == 3_211_264  # 64·112·112 · 4
    assert conv.op_class == "conv"


def test_conv_bias_adds_one_flop_per_output() -> None:
    conv = layer("conv2d", [(1, 8, 10, 10)], out_channels=4, kernel_size=3, padding=1)
    assert conv.work().macs == 28_800  # 4·10·10 · 8·3·3
    assert conv.work().flops == 2 * 28_800 + 400  # + 4·10·10 bias adds
    assert conv.work().params == 292  # 4·8·9 + 4


def test_depthwise_conv() -> None:
    conv = layer("conv2d", [(1, 32, 112, 112)], out_channels=32, kernel_size=3, padding=1,
                 groups=32, bias=False)
    assert conv.weight_shapes == {"weight": (32, 1, 3, 3)}
    assert conv.work().macs == 3_612_672  # 32·112·112 · 1·3·3
    assert conv.op_class == "depthwise_conv"


def test_grouped_conv() -> None:
    conv = layer("conv2d", [(2, 64, 8, 8)], out_channels=128, kernel_size=3, padding=1,
                 groups=4, bias=False)
    assert conv.weight_shapes["weight"] == (128, 16, 3, 3)
    assert conv.work().macs == 2 * 128 * 8 * 8 * 16 * 9  # batch 2 · Cout·H·W · (Cin/g)·kh·kw
    assert conv.op_class == "conv"


def test_conv_dilation_and_asymmetric_padding() -> None:
    dilated = layer("conv2d", [(1, 1, 10, 10)], out_channels=1, kernel_size=3, padding=2,
                    dilation=2)
    assert dilated.output_shape == (1, 1, 10, 10)  # extent 2·(3−1)+1 = 5; 10 + 4 − 5 + 1
    tf_same = layer("conv2d", [(1, 1, 224, 224)], out_channels=1, kernel_size=3, stride=2,
                    padding=(0, 0, 1, 1))  # (top, left, bottom, right) as TF "SAME"
    assert tf_same.output_shape == (1, 1, 112, 112)  # (224 + 1 − 3) // 2 + 1


def test_conv_bad_groups_names_the_layer() -> None:
    with pytest.raises(ShapeError, match=r"layer 'l'.*groups=3"):
        layer("conv2d", [(1, 8, 4, 4)], out_channels=8, kernel_size=1, groups=3)


# ---------------------------------------------------------------- linear, matmul, attention


def test_linear_classifier() -> None:
    fc = layer("linear", [(1, 512)], out_features=1000)
    work = fc.work()
    assert fc.output_shape == (1, 1000)
    assert work.macs == 512_000  # 512·1000
    assert work.flops == 1_025_000  # 2·512,000 + 1,000 bias adds
    assert work.params == 513_000


def test_linear_on_tokens() -> None:
    fc = layer("linear", [(1, 128, 384)], out_features=1536)
    assert fc.output_shape == (1, 128, 1536)
    assert fc.work().macs == 75_497_472  # 128 tokens · 384 · 1536


def test_matmul_broadcasts_batch() -> None:
    mm = layer("matmul", [(1, 12, 128, 32), (1, 12, 32, 128)])
    assert mm.output_shape == (1, 12, 128, 128)
    assert mm.work().macs == 6_291_456  # 12 heads · 128·32·128
    broadcast = layer("matmul", [(4, 1, 5, 6), (3, 6, 7)])
    assert broadcast.output_shape == (4, 3, 5, 7)


def test_matmul_inner_mismatch() -> None:
    with pytest.raises(ShapeError, match="inner dimensions"):
        layer("matmul", [(2, 3), (4, 5)])


def test_scaled_dot_product_attention() -> None:
    sdpa = layer("scaled_dot_product_attention", [(1, 12, 128, 32)] * 3)
    assert sdpa.output_shape == (1, 12, 128, 32)
    assert sdpa.work().macs == 12_582_912  # 12 · 128·128 · (32 + 32)


def test_multihead_attention_vit_base() -> None:
    mha = layer("multihead_attention", [(1, 197, 768)] * 3, embed_dim=768, num_heads=12,
                batch_first=True)
    # projections (2·197 + 2·197)·768² plus scores and weighted sum 2·197·197·768
    assert mha.work().macs == 524_391_936
    assert mha.work().params == 2_362_368  # 4·768² + 4·768


def test_einsum_contraction() -> None:
    ein = layer("einsum", [(2, 4, 5, 8), (2, 4, 6, 8)], equation="bhid,bhjd->bhij")
    assert ein.output_shape == (2, 4, 5, 6)
    assert ein.work().macs == 2 * 4 * 5 * 6 * 8  # every point of b·h·i·j·d


def test_embedding_reads_only_gathered_rows() -> None:
    emb = layer("embedding", [(1, 128)], num_embeddings=30522, embedding_dim=384)
    work = emb.work()
    assert emb.output_shape == (1, 128, 384)
    assert work.params == 11_720_448  # 30,522 · 384
    assert work.weight_bytes == 46_881_792  # all rows stored
    assert work.weight_read_bytes == 196_608  # 128 rows · 384 · 4 bytes read
    assert work.macs == 0


# ---------------------------------------------------------------- pooling


def test_max_pool_floor_and_ceil_mode() -> None:
    floor = layer("max_pool2d", [(1, 64, 56, 56)], kernel_size=3, stride=2)
    ceil = layer("max_pool2d", [(1, 64, 56, 56)], kernel_size=3, stride=2, ceil_mode=True)
    assert floor.output_shape == (1, 64, 27, 27)  # (56 − 3) // 2 + 1
    assert ceil.output_shape == (1, 64, 28, 28)  # ⌈53/2⌉ + 1; last window starts at 54 < 56
    assert floor.work().flops == 64 * 27 * 27 * 9  # 9 comparisons per output


def test_pool_stride_defaults_to_kernel() -> None:
    assert layer("avg_pool2d", [(1, 4, 8, 8)], kernel_size=2).output_shape == (1, 4, 4, 4)


def test_adaptive_pooling_windows_overlap() -> None:
    gap = layer("adaptive_avg_pool2d", [(1, 512, 7, 7)], output_size=1)
    assert gap.output_shape == (1, 512, 1, 1)
    assert gap.work().flops == 512 * 49
    # 13 → 6 windows: [0,3) [2,5) [4,7) [6,9) [8,11) [10,13): 6 windows of 3 rows each
    odd = layer("adaptive_avg_pool2d", [(1, 256, 13, 13)], output_size=6)
    assert odd.work().flops == 256 * 18 * 18


def test_mean_as_global_pooling() -> None:
    mean = layer("mean", [(1, 1024, 7, 7)], axes=(2, 3))
    assert mean.output_shape == (1, 1024)
    assert mean.work().flops == 1024 * 49 + 1024  # adds + one divide per output


# ---------------------------------------------------------------- normalisation, activations


def test_batch_norm_counts_scale_and_shift_only() -> None:
    bn = layer("batch_norm", [(1, 64, 56, 56)])
    work = bn.work()
    assert set(bn.weight_shapes) == {"weight", "bias", "running_mean", "running_var"}
    assert work.params == 128  # γ and β; running statistics are buffers
    assert work.weight_bytes == 512  # folded scale and shift, 2·64·4
    assert work.flops == 2 * 64 * 56 * 56


def test_layer_norm() -> None:
    ln = layer("layer_norm", [(1, 128, 384)], normalized_shape=384)
    assert ln.work().params == 768
    assert ln.work().flops == 8 * 128 * 384
    with pytest.raises(ShapeError, match="trailing shape"):
        layer("layer_norm", [(1, 128, 384)], normalized_shape=128)


@pytest.mark.parametrize(("op", "per_element"), [
    ("relu", 1), ("relu6", 2), ("hardswish", 5), ("hardsigmoid", 4), ("sigmoid", 4),
    ("silu", 5), ("gelu", 8), ("tanh", 5),
])
def test_activation_flops_per_element(op: str, per_element: int) -> None:
    act = layer(op, [(2, 3, 4, 5)])
    assert act.output_shape == (2, 3, 4, 5)
    assert act.work().flops == per_element * 120
    assert act.work().input_bytes == act.work().output_bytes == 480


def test_softmax() -> None:
    assert layer("softmax", [(1, 12, 128, 128)], axis=-1).work().flops == 5 * 12 * 128 * 128


# ---------------------------------------------------------------- arithmetic with broadcasting


def test_residual_add_and_squeeze_excitation_mul() -> None:
    add = layer("add", [(1, 64, 56, 56), (1, 64, 56, 56)])
    assert add.work().flops == 64 * 56 * 56
    se = layer("mul", [(1, 64, 1, 1), (1, 64, 56, 56)])
    assert se.output_shape == (1, 64, 56, 56)
    scaled = layer("mul", [(1, 12, 128, 128)], scalar=0.125)
    assert scaled.output_shape == (1, 12, 128, 128)
    with pytest.raises(ShapeError, match="broadcast"):
        layer("add", [(1, 64, 56, 56), (1, 32, 56, 56)])
    with pytest.raises(ShapeError, match="scalar"):
        layer("add", [(1, 4)])


# ---------------------------------------------------------------- data movement


def test_concat_and_slice() -> None:
    cat = layer("concat", [(1, 64, 56, 56), (1, 64, 56, 56)], axis=1)
    assert cat.output_shape == (1, 128, 56, 56)
    half = layer("slice", [(1, 116, 28, 28)], index=((None, None, None), (58, 116, 1)))
    assert half.output_shape == (1, 58, 28, 28)
    first_token = layer("slice", [(1, 197, 768)], index=((None, None, None), 0))
    assert first_token.output_shape == (1, 768)
    with pytest.raises(ShapeError, match="cannot concatenate"):
        layer("concat", [(1, 64, 56, 56), (1, 64, 28, 28)], axis=1)


def test_views_move_no_data_but_copies_do() -> None:
    flat = layer("flatten", [(1, 512, 7, 7)])
    assert flat.output_shape == (1, 25_088)
    assert flat.work().traffic_bytes == 0
    reshape = layer("reshape", [(1, 128, 384)], shape=(1, 128, 12, -1))
    assert reshape.output_shape == (1, 128, 12, 32)
    permute = layer("permute", [(1, 128, 12, 32)], dims=(0, 2, 1, 3))
    assert permute.output_shape == (1, 12, 128, 32)
    assert permute.work().traffic_bytes == 2 * 4 * 128 * 384  # read once, write once
    assert layer("transpose", [(2, 3, 4)], dim0=1, dim1=2).output_shape == (2, 4, 3)
    assert layer("dropout", [(1, 4096)]).work() == layer("identity", [(1, 4096)]).work()
    assert layer("dropout", [(1, 4096)]).work().traffic_bytes == 0
    with pytest.raises(ShapeError, match="cannot reshape"):
        layer("reshape", [(1, 10)], shape=(3, -1))


def test_channel_shuffle_and_upsample() -> None:
    shuffle = layer("channel_shuffle", [(1, 232, 14, 14)], groups=2)
    assert shuffle.output_shape == (1, 232, 14, 14)
    with pytest.raises(ShapeError, match="does not divide"):
        layer("channel_shuffle", [(1, 7, 4, 4)], groups=2)
    nearest = layer("upsample", [(1, 3, 8, 8)], scale_factor=2)
    assert nearest.output_shape == (1, 3, 16, 16)
    assert nearest.work().flops == 0
    bilinear = layer("upsample", [(1, 3, 8, 8)], size=(12, 12), mode="bilinear")
    assert bilinear.work().flops == 9 * 3 * 12 * 12


def test_expand_is_a_view() -> None:
    exp = layer("expand", [(1, 1, 768)], shape=(4, -1, -1))
    assert exp.output_shape == (4, 1, 768)
    assert exp.work().traffic_bytes == 0


# ---------------------------------------------------------------- the table itself


def test_every_op_has_a_summary_and_computes_work_at_other_bit_widths() -> None:
    from graphs.ops import OPS

    assert len(known_ops()) >= 40
    for spec in OPS.values():
        assert spec.summary, spec.kind
    int8 = op_work("conv2d", [(1, 3, 8, 8)], (1, 4, 8, 8),
                   {"out_channels": 4, "kernel_size": (3, 3), "stride": (1, 1),
                    "padding": (1, 1, 1, 1), "dilation": (1, 1), "groups": 1, "bias": False},
                   weight_bits=8, activation_bits=8)
    assert int8.weight_bytes == 108  # 4·3·3·3 weights at one byte each
    int4 = op_work("linear", [(1, 3)], (1, 3), {"out_features": 3, "bias": False},
                   weight_bits=4)
    assert int4.weight_bytes == 5  # ⌈9 · 4 / 8⌉


def test_missing_attribute_and_unknown_op() -> None:
    from graphs import UnknownOpError

    with pytest.raises(ShapeError, match="needs attribute"):
        layer("conv2d", [(1, 3, 8, 8)], kernel_size=3)
    with pytest.raises(UnknownOpError, match=r"'frobnicate'.*Known ops"):
        layer("frobnicate", [(1, 3)])


def test_every_op_kind_decides_what_later_stages_need() -> None:
    """Coupling rule, compressibility, fusion and execution are declared in the op table, so
    a new op kind cannot be silently treated as a barrier, unfused or unexecutable."""
    from graphs.ops import OPS

    for kind, spec in OPS.items():
        undecided = [name for name in ("channels", "compressible", "fuses", "executable")
                     if getattr(spec, name) is None]
        assert not undecided, f"{kind}: {undecided} undecided"
    # only activations fuse, and what compresses holds weights
    assert {k for k, s in OPS.items() if s.fuses} == {
        "relu", "relu6", "clamp", "hardswish", "hardsigmoid", "sigmoid", "silu", "gelu", "tanh"}
    assert {k for k, s in OPS.items() if s.compressible} == {
        "conv2d", "linear", "embedding", "multihead_attention", "lstm", "gru"}
