"""Handler tables for the PyTorch importer: module types, functions and tensor methods.

Each handler reads one fx node and emits at most one layer through the importer (or aliases
the node to its input when it is the identity at inference). A handler that meets something
it cannot express raises ``Unsupported`` and the node is kept opaque, with the reason in
``graph.metadata["import_warnings"]``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import cache
from itertools import accumulate
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from graphs.importers.torch_base import (
    Handler,
    HandlerTables,
    TensorInfo,
    TorchImporter,
    Unsupported,
    qualified_name,
)
from graphs.ops import numel
from graphs.ops.recurrent import from_torch_name as recurrent_weight_name

Node = torch.fx.Node


def arg(node: Node, index: int, name: str, default: Any = None) -> Any:
    """A call argument by keyword ``name`` or position ``index``."""
    if name in node.kwargs:
        return node.kwargs[name]
    return node.args[index] if len(node.args) > index else default


def conv_padding(padding: Any, kernel: tuple[int, int],
                 dilation: tuple[int, int]) -> tuple[int, int, int, int]:
    """PyTorch conv padding (ints, or 'same'/'valid') as (top, left, bottom, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        begins = [t // 2 for t in totals]
        return (begins[0], begins[1], totals[0] - begins[0], totals[1] - begins[1])
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    return (ph, pw, ph, pw)


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[-1]))


# ---------------------------------------------------------------- layers with weights


def _conv2d_module(imp: TorchImporter, node: Node, m: nn.Conv2d) -> None:
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={m.padding_mode!r}")
    imp.emit(node, "conv2d", [imp.tensor(node.args[0])],
             imp.weights(weight=m.weight, bias=m.bias), out_channels=m.out_channels,
             kernel_size=m.kernel_size, stride=m.stride, dilation=m.dilation, groups=m.groups,
             padding=conv_padding(m.padding, _pair(m.kernel_size), _pair(m.dilation)),
             bias=m.bias is not None)


def _conv_transpose2d_module(imp: TorchImporter, node: Node, m: nn.ConvTranspose2d) -> None:
    if m.padding_mode != "zeros" or len(node.args) > 1:  # output_size given at call time
        raise Unsupported(f"padding_mode={m.padding_mode!r}" if m.padding_mode != "zeros"
                          else "an output_size argument")
    ph, pw = _pair(m.padding)
    imp.emit(node, "conv_transpose2d", [imp.tensor(node.args[0])],
             imp.weights(weight=m.weight, bias=m.bias), out_channels=m.out_channels,
             kernel_size=m.kernel_size, stride=m.stride, dilation=m.dilation, groups=m.groups,
             padding=(ph, pw, ph, pw), output_padding=m.output_padding,
             bias=m.bias is not None)


def _conv2d_function(imp: TorchImporter, node: Node, _: Any) -> None:
    weight = imp.param(arg(node, 1, "weight"))
    bias = imp.param(arg(node, 2, "bias"))
    assert weight is not None
    kernel = (weight.shape[2], weight.shape[3])
    dilation = _pair(imp.value(arg(node, 5, "dilation", 1)))
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    imp.emit(node, "conv2d", [imp.tensor(node.args[0])], weights,
             out_channels=weight.shape[0], kernel_size=kernel,
             stride=_pair(imp.value(arg(node, 3, "stride", 1))), dilation=dilation,
             padding=conv_padding(imp.value(arg(node, 4, "padding", 0)), kernel, dilation),
             groups=int(imp.value(arg(node, 6, "groups", 1))), bias=bias is not None)


def _linear_module(imp: TorchImporter, node: Node, m: nn.Linear) -> None:
    imp.emit(node, "linear", [imp.tensor(node.args[0])],
             imp.weights(weight=m.weight, bias=m.bias), out_features=m.out_features,
             bias=m.bias is not None)


def _linear_function(imp: TorchImporter, node: Node, _: Any) -> None:
    weight = imp.param(arg(node, 1, "weight"))
    bias = imp.param(arg(node, 2, "bias"))
    assert weight is not None
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    imp.emit(node, "linear", [imp.tensor(node.args[0])], weights, out_features=weight.shape[0],
             bias=bias is not None)


def _batch_norm_module(imp: TorchImporter, node: Node, m: nn.modules.batchnorm._BatchNorm) -> None:
    if m.running_mean is None:
        raise Unsupported("batch norm without running statistics uses batch statistics")
    imp.emit(node, "batch_norm", [imp.tensor(node.args[0])],
             imp.weights(weight=m.weight, bias=m.bias, running_mean=m.running_mean,
                         running_var=m.running_var), eps=m.eps, affine=m.affine)


def _batch_norm_function(imp: TorchImporter, node: Node, _: Any) -> None:
    if imp.value(arg(node, 5, "training", False)):
        raise Unsupported("training-mode batch norm")
    names = {"running_mean": 1, "running_var": 2, "weight": 3, "bias": 4}
    arrays = {k: imp.param(arg(node, i, k)) for k, i in names.items()}
    weights = {k: v for k, v in arrays.items() if v is not None}
    imp.emit(node, "batch_norm", [imp.tensor(node.args[0])], weights,
             eps=float(imp.value(arg(node, 7, "eps", 1e-5))), affine="weight" in weights)


def _layer_norm_module(imp: TorchImporter, node: Node, m: nn.LayerNorm) -> None:
    imp.emit(node, "layer_norm", [imp.tensor(node.args[0])],
             imp.weights(weight=m.weight, bias=m.bias), normalized_shape=m.normalized_shape,
             eps=m.eps, elementwise_affine=m.weight is not None, bias=m.bias is not None)


def _layer_norm_function(imp: TorchImporter, node: Node, _: Any) -> None:
    weight = imp.param(arg(node, 2, "weight"))
    bias = imp.param(arg(node, 3, "bias"))
    weights = {k: v for k, v in (("weight", weight), ("bias", bias)) if v is not None}
    imp.emit(node, "layer_norm", [imp.tensor(node.args[0])], weights,
             normalized_shape=tuple(imp.value(arg(node, 1, "normalized_shape"))),
             eps=float(imp.value(arg(node, 4, "eps", 1e-5))),
             elementwise_affine=weight is not None, bias=bias is not None)


def _embedding_module(imp: TorchImporter, node: Node, m: nn.Embedding) -> None:
    imp.emit(node, "embedding", [imp.tensor(node.args[0])], imp.weights(weight=m.weight),
             num_embeddings=m.num_embeddings, embedding_dim=m.embedding_dim)


def _embedding_function(imp: TorchImporter, node: Node, _: Any) -> None:
    weight = imp.param(arg(node, 1, "weight"))
    assert weight is not None
    imp.emit(node, "embedding", [imp.tensor(node.args[0])], {"weight": weight},
             num_embeddings=weight.shape[0], embedding_dim=weight.shape[1])


def _mha_module(imp: TorchImporter, node: Node, m: nn.MultiheadAttention) -> None:
    if not m._qkv_same_embed_dim or m.bias_k is not None or m.add_zero_attn:
        raise Unsupported("MultiheadAttention with kdim/vdim, bias_kv or zero_attn")
    for mask in ("key_padding_mask", "attn_mask"):
        if arg(node, {"key_padding_mask": 3, "attn_mask": 5}[mask], mask) is not None:
            raise Unsupported(f"MultiheadAttention with {mask}")
    q, k, v = (imp.tensor(arg(node, i, n)) for i, n in enumerate(("query", "key", "value")))
    info = imp.meta[node]
    out = info[0] if isinstance(info, tuple | list) else info
    if not isinstance(out, TensorInfo):
        raise Unsupported("MultiheadAttention output is not a tensor")
    layer = imp.emit(node, "multihead_attention", [q, k, v],
                     imp.weights(in_proj_weight=m.in_proj_weight, in_proj_bias=m.in_proj_bias,
                                 out_proj_weight=m.out_proj.weight,
                                 out_proj_bias=m.out_proj.bias),
                     expected=out.shape, embed_dim=m.embed_dim, num_heads=m.num_heads,
                     batch_first=m.batch_first, bias=m.in_proj_bias is not None)

    def piece(index: int, getitem: Node) -> None:
        if index != 0:
            raise Unsupported("attention weights output")
        imp.alias[getitem] = layer

    imp.pieces[node] = piece


def _recurrent_module(imp: TorchImporter, node: Node, m: nn.LSTM | nn.GRU) -> None:
    """An nn.LSTM / nn.GRU call: one layer whose output is the sequence output (element 0
    of the returned tuple); the final states are not mapped."""
    if getattr(m, "proj_size", 0) or len(node.args) > 1 or node.kwargs:
        raise Unsupported("proj_size or an initial state argument")
    info = imp.meta[node]
    if not isinstance(info, tuple | list) or not isinstance(info[0], TensorInfo):
        raise Unsupported("a packed sequence input")
    layer = imp.emit(node, type(m).__name__.lower(), [imp.tensor(node.args[0])],
                     imp.weights(**{recurrent_weight_name(k): p
                                    for k, p in m.named_parameters()}),
                     expected=info[0].shape,
                     input_size=m.input_size, hidden_size=m.hidden_size,
                     num_layers=m.num_layers, bidirectional=m.bidirectional,
                     batch_first=m.batch_first, bias=m.bias)

    def piece(index: int, getitem: Node) -> None:
        if index != 0:
            raise Unsupported(f"the final states (h_n{', c_n' if type(m) is nn.LSTM else ''})"
                              f" of {type(m).__name__} are not mapped: read the sequence "
                              "output (a forward stack's h_n[-1] is output[:, -1])")
        imp.alias[getitem] = layer

    imp.pieces[node] = piece


def _group_norm_module(imp: TorchImporter, node: Node, m: nn.GroupNorm) -> None:
    imp.emit(node, "group_norm", [imp.tensor(node.args[0])],
             imp.weights(weight=m.weight, bias=m.bias), num_groups=m.num_groups,
             eps=m.eps, affine=m.affine)


# ---------------------------------------------------------------- activations


def _unary(op: str) -> Handler:
    def handle(imp: TorchImporter, node: Node, _: Any) -> None:
        imp.emit(node, op, [imp.tensor(node.args[0])])

    return handle


def _gelu(imp: TorchImporter, node: Node, m: Any) -> None:
    approximate = m.approximate if isinstance(m, nn.GELU) else arg(node, 1, "approximate", "none")
    imp.emit(node, "gelu", [imp.tensor(node.args[0])], approximate=approximate)


def _clamp(imp: TorchImporter, node: Node, low: Any, high: Any) -> None:
    low, high = imp.value(low), imp.value(high)
    if low == 0 and high == 6:
        imp.emit(node, "relu6", [imp.tensor(node.args[0])])
    else:
        imp.emit(node, "clamp", [imp.tensor(node.args[0])], min=low, max=high)


def _hardtanh_module(imp: TorchImporter, node: Node, m: nn.Hardtanh) -> None:
    _clamp(imp, node, m.min_val, m.max_val)


def _hardtanh_function(imp: TorchImporter, node: Node, _: Any) -> None:
    _clamp(imp, node, arg(node, 1, "min_val", -1.0), arg(node, 2, "max_val", 1.0))


def _clamp_function(imp: TorchImporter, node: Node, _: Any) -> None:
    _clamp(imp, node, arg(node, 1, "min"), arg(node, 2, "max"))


def _dropout(imp: TorchImporter, node: Node, m: Any) -> None:
    p = m.p if m is not None else imp.value(arg(node, 1, "p", 0.5))
    imp.emit(node, "dropout", [imp.tensor(node.args[0])], p=float(p))


def _alias(imp: TorchImporter, node: Node, _: Any) -> None:
    if imp.info(node).shape != imp.info(node.args[0]).shape:
        raise Unsupported("changes the shape")
    imp.alias_to(node, node.args[0])


def _stochastic_depth(imp: TorchImporter, node: Node, _: Any) -> None:
    if imp.value(arg(node, 3, "training", False)):
        raise Unsupported("stochastic depth in training mode")
    imp.alias_to(node, node.args[0])


# ---------------------------------------------------------------- arithmetic


def _is_tensor(imp: TorchImporter, value: Any) -> bool:
    return isinstance(value, Node) and (
        value.op == "get_attr" or isinstance(imp.meta.get(value), TensorInfo))


def _binary(op: str) -> Handler:
    def handle(imp: TorchImporter, node: Node, _: Any) -> None:
        if node.kwargs.get("alpha", 1) != 1 or node.kwargs.get("rounding_mode"):
            raise Unsupported("alpha or rounding_mode")
        a, b = arg(node, 0, "input"), arg(node, 1, "other")
        if _is_tensor(imp, a) and _is_tensor(imp, b):
            imp.emit(node, op, [imp.tensor(a), imp.tensor(b)])
        elif _is_tensor(imp, a):
            imp.emit(node, op, [imp.tensor(a)], scalar=float(imp.value(b)))
        elif _is_tensor(imp, b):
            imp.emit(node, op, [imp.tensor(b)], scalar=float(imp.value(a)), reverse=True)
        else:
            raise Unsupported("no tensor operand")

    return handle


def _matmul(imp: TorchImporter, node: Node, _: Any) -> None:
    imp.emit(node, "matmul", [imp.tensor(node.args[0]), imp.tensor(node.args[1])])


def _sdpa(imp: TorchImporter, node: Node, _: Any) -> None:
    if not imp.is_none(arg(node, 3, "attn_mask")) or imp.value(arg(node, 4, "dropout_p", 0.0)):
        raise Unsupported("attention mask or dropout")
    imp.emit(node, "scaled_dot_product_attention",
             [imp.tensor(arg(node, i, n)) for i, n in enumerate(("query", "key", "value"))],
             is_causal=bool(imp.value(arg(node, 5, "is_causal", False))),
             scale=imp.value(arg(node, 6, "scale")))


# ---------------------------------------------------------------- pooling


def _max_pool(imp: TorchImporter, node: Node, m: Any) -> None:
    get = _getter(imp, node, m, ("input", "kernel_size", "stride", "padding", "dilation",
                                 "ceil_mode", "return_indices"))
    if get("return_indices", False):
        raise Unsupported("return_indices")
    imp.emit(node, "max_pool2d", [imp.tensor(node.args[0])],
             kernel_size=get("kernel_size"), stride=get("stride", None) or None,
             padding=get("padding", 0), dilation=get("dilation", 1),
             ceil_mode=bool(get("ceil_mode", False)))


def _avg_pool(imp: TorchImporter, node: Node, m: Any) -> None:
    get = _getter(imp, node, m, ("input", "kernel_size", "stride", "padding", "ceil_mode",
                                 "count_include_pad", "divisor_override"))
    if get("divisor_override", None) is not None:
        raise Unsupported("divisor_override")
    imp.emit(node, "avg_pool2d", [imp.tensor(node.args[0])],
             kernel_size=get("kernel_size"), stride=get("stride", None) or None,
             padding=get("padding", 0), ceil_mode=bool(get("ceil_mode", False)),
             count_include_pad=bool(get("count_include_pad", True)))


def _getter(imp: TorchImporter, node: Node, m: Any,
            names: tuple[str, ...]) -> Callable[..., Any]:
    """Read a pooling argument from the module, or from the functional call's arguments."""
    def get(name: str, default: Any = None) -> Any:
        if m is not None:
            return getattr(m, name, default)
        return imp.value(arg(node, names.index(name), name, default))

    return get


def _adaptive(op: str) -> Handler:
    def handle(imp: TorchImporter, node: Node, _: Any) -> None:
        out = imp.info(node).shape
        if len(out) != 4:
            raise Unsupported("adaptive pooling of a non-4-D tensor")
        imp.emit(node, op, [imp.tensor(node.args[0])], output_size=out[2:])

    return handle


def _mean(imp: TorchImporter, node: Node, _: Any) -> None:
    x = imp.info(node.args[0])
    dims = imp.value(arg(node, 1, "dim"))
    axes = tuple(range(len(x.shape))) if dims is None else (
        (dims,) if isinstance(dims, int) else tuple(dims))
    imp.emit(node, "mean", [imp.tensor(node.args[0])], axes=axes,
             keepdim=bool(imp.value(arg(node, 2, "keepdim", False))))


def _softmax(imp: TorchImporter, node: Node, m: Any) -> None:
    dim = m.dim if m is not None else imp.value(arg(node, 1, "dim"))
    if dim is None:
        raise Unsupported("softmax without dim")
    imp.emit(node, "softmax", [imp.tensor(node.args[0])], axis=int(dim))


def _upsample(imp: TorchImporter, node: Node, m: Any) -> None:
    mode = m.mode if m is not None else imp.value(arg(node, 3, "mode", "nearest"))
    align = m.align_corners if m is not None else imp.value(
        arg(node, 4, "align_corners"))
    out = imp.info(node).shape
    if mode not in ("nearest", "bilinear") or len(out) != 4:
        raise Unsupported(f"mode {mode!r} on a rank-{len(out)} tensor")
    imp.emit(node, "upsample", [imp.tensor(node.args[0])], size=out[2:], mode=mode,
             align_corners=bool(align))


# ---------------------------------------------------------------- shapes and data movement


def _reshape(imp: TorchImporter, node: Node, _: Any) -> None:
    imp.emit(node, "reshape", [imp.tensor(node.args[0])], shape=imp.info(node).shape)


def _flatten(start_default: int) -> Handler:
    def handle(imp: TorchImporter, node: Node, m: Any) -> None:
        if m is not None:
            start, end = m.start_dim, m.end_dim
        else:
            start = imp.value(arg(node, 1, "start_dim", start_default))
            end = imp.value(arg(node, 2, "end_dim", -1))
        imp.emit(node, "flatten", [imp.tensor(node.args[0])], start_dim=start, end_dim=end)

    return handle


def _expand(imp: TorchImporter, node: Node, _: Any) -> None:
    imp.emit(node, "expand", [imp.tensor(node.args[0])], shape=imp.info(node).shape)


def _permute(imp: TorchImporter, node: Node, _: Any) -> None:
    dims = imp.value(node.kwargs.get("dims", node.args[1:]))
    if len(dims) == 1 and isinstance(dims[0], tuple | list):
        dims = dims[0]
    imp.emit(node, "permute", [imp.tensor(node.args[0])], dims=tuple(dims))


def _transpose(imp: TorchImporter, node: Node, _: Any) -> None:
    imp.emit(node, "transpose", [imp.tensor(node.args[0])],
             dim0=imp.value(arg(node, 1, "dim0")), dim1=imp.value(arg(node, 2, "dim1")))


def _einsum(imp: TorchImporter, node: Node, _: Any) -> None:
    equation, *operands = node.args
    if len(operands) == 1 and isinstance(operands[0], tuple | list):
        operands = list(operands[0])
    imp.emit(node, "einsum", [imp.tensor(o) for o in operands], equation=imp.value(equation))


def _concat(imp: TorchImporter, node: Node, _: Any) -> None:
    tensors = arg(node, 0, "tensors")
    imp.emit(node, "concat", [imp.tensor(t) for t in tensors],
             axis=int(imp.value(arg(node, 1, "dim", 0))))


def _channel_shuffle(imp: TorchImporter, node: Node, m: Any) -> None:
    groups = m.groups if m is not None else imp.value(arg(node, 1, "groups"))
    imp.emit(node, "channel_shuffle", [imp.tensor(node.args[0])], groups=int(groups))


def _full_slices(axis: int) -> tuple[tuple[None, None, None], ...]:
    return ((None, None, None),) * axis


def _pieces(kind: str) -> Handler:
    """chunk / split / unbind: the node is a tuple; each getitem becomes a slice layer."""

    def handle(imp: TorchImporter, node: Node, _: Any) -> None:
        source = imp.tensor(node.args[0])
        infos = imp.meta[node]
        rank = len(imp.info(node.args[0]).shape)
        dim = imp.value(arg(node, 1 if kind == "unbind" else 2, "dim", 0)) % rank
        sizes = [info.shape[dim] if kind != "unbind" else 1 for info in infos]
        starts = [0, *accumulate(sizes)]

        def piece(index: int, getitem: Node) -> None:
            entry: Any = index if kind == "unbind" else (
                starts[index], starts[index] + sizes[index], 1)
            imp.emit(getitem, "slice", [source], index=(*_full_slices(dim), entry))

        imp.pieces[node] = piece

    return handle


def _narrow(imp: TorchImporter, node: Node, _: Any) -> None:
    rank = len(imp.info(node.args[0]).shape)
    dim = imp.value(arg(node, 1, "dim")) % rank
    start, length = imp.value(arg(node, 2, "start")), imp.value(arg(node, 3, "length"))
    imp.emit(node, "slice", [imp.tensor(node.args[0])],
             index=(*_full_slices(dim), (start, start + length, 1)))


def _getitem(imp: TorchImporter, node: Node, _: Any) -> None:
    source, index = node.args
    if isinstance(source, Node) and source in imp.pieces:
        imp.pieces[source](int(imp.value(index)), node)
        return
    if not _is_tensor(imp, source):
        return  # indexing a shape or a tuple of ints: no tensor
    shape = imp.info(source).shape
    entries = imp.value(index)
    entries = entries if isinstance(entries, tuple) else (entries,)
    if any(e is Ellipsis for e in entries):
        at = entries.index(Ellipsis)
        fill = (slice(None),) * (len(shape) - len(entries) + 1)
        entries = (*entries[:at], *fill, *entries[at + 1:])
    if all(isinstance(e, int | slice) and not isinstance(e, bool) for e in entries):
        imp.emit(node, "slice", [imp.tensor(source)], index=tuple(
            e if isinstance(e, int) else (e.start, e.stop, e.step) for e in entries))
    elif numel(imp.info(node).shape) == numel(shape):
        imp.emit(node, "reshape", [imp.tensor(source)], shape=imp.info(node).shape)
    else:
        raise Unsupported(f"advanced indexing {entries!r}")


# ---------------------------------------------------------------- the tables


@cache
def handler_tables() -> HandlerTables:
    """Build the three tables once."""
    unary_modules: dict[type, str] = {
        nn.ReLU: "relu", nn.ReLU6: "relu6", nn.Hardswish: "hardswish",
        nn.Hardsigmoid: "hardsigmoid", nn.Sigmoid: "sigmoid", nn.SiLU: "silu", nn.Tanh: "tanh",
    }
    modules: dict[type, Handler] = {
        nn.Conv2d: _conv2d_module,
        nn.ConvTranspose2d: _conv_transpose2d_module,
        nn.Linear: _linear_module,
        nn.modules.batchnorm._BatchNorm: _batch_norm_module,
        nn.LayerNorm: _layer_norm_module,
        nn.GroupNorm: _group_norm_module,
        nn.LSTM: _recurrent_module,
        nn.GRU: _recurrent_module,
        nn.Embedding: _embedding_module,
        nn.MultiheadAttention: _mha_module,
        nn.GELU: _gelu,
        nn.Hardtanh: _hardtanh_module,
        nn.Dropout: _dropout, nn.Dropout1d: _dropout, nn.Dropout2d: _dropout,
        nn.AlphaDropout: _dropout,
        nn.Identity: _alias,
        nn.MaxPool2d: _max_pool,
        nn.AvgPool2d: _avg_pool,
        nn.AdaptiveAvgPool2d: _adaptive("adaptive_avg_pool2d"),
        nn.AdaptiveMaxPool2d: _adaptive("adaptive_max_pool2d"),
        nn.Flatten: _flatten(1),
        nn.Softmax: _softmax,
        nn.Upsample: _upsample,
        nn.ChannelShuffle: _channel_shuffle,
        **{cls: _unary(op) for cls, op in unary_modules.items()},
    }
    binary = {"add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "div": "div"}
    function_list: list[tuple[Any, Handler]] = [
        (F.conv2d, _conv2d_function), (F.linear, _linear_function),
        (F.batch_norm, _batch_norm_function), (F.layer_norm, _layer_norm_function),
        (F.embedding, _embedding_function),
        (F.relu, _unary("relu")), (torch.relu, _unary("relu")), (F.relu6, _unary("relu6")),
        (F.hardswish, _unary("hardswish")), (F.hardsigmoid, _unary("hardsigmoid")),
        (torch.sigmoid, _unary("sigmoid")), (F.sigmoid, _unary("sigmoid")),
        (F.silu, _unary("silu")), (F.gelu, _gelu), (torch.tanh, _unary("tanh")),
        (F.tanh, _unary("tanh")), (F.hardtanh, _hardtanh_function), (torch.clamp, _clamp_function),
        (F.dropout, _dropout),
        (F.max_pool2d, _max_pool), (F.avg_pool2d, _avg_pool),
        (F.adaptive_avg_pool2d, _adaptive("adaptive_avg_pool2d")),
        (F.adaptive_max_pool2d, _adaptive("adaptive_max_pool2d")),
        (torch.mean, _mean), (F.softmax, _softmax), (torch.softmax, _softmax),
        (F.interpolate, _upsample),
        (torch.matmul, _matmul), (operator.matmul, _matmul), (torch.bmm, _matmul),
        (F.scaled_dot_product_attention, _sdpa),
        (torch.flatten, _flatten(0)), (torch.reshape, _reshape),
        (torch.squeeze, _reshape), (torch.unsqueeze, _reshape),
        (torch.permute, _permute), (torch.transpose, _transpose),
        (torch.swapaxes, _transpose), (torch.swapdims, _transpose), (torch.einsum, _einsum),
        (torch.cat, _concat), (torch.concat, _concat),
        (torch.chunk, _pieces("chunk")), (torch.split, _pieces("split")),
        (torch.unbind, _pieces("unbind")), (torch.narrow, _narrow),
        (F.channel_shuffle, _channel_shuffle), (torch.channel_shuffle, _channel_shuffle),
        (operator.getitem, _getitem),
        (torch.add, _binary("add")), (torch.sub, _binary("sub")),
        (torch.mul, _binary("mul")), (torch.div, _binary("div")),
        *((getattr(operator, name), _binary(op)) for name, op in binary.items()
          if hasattr(operator, name)),
        *((getattr(operator, f"i{name}"), _binary(op)) for name, op in binary.items()
          if hasattr(operator, f"i{name}")),
    ]
    try:
        from torchvision.ops.stochastic_depth import stochastic_depth
        function_list.append((stochastic_depth, _stochastic_depth))
    except ImportError:
        pass
    functions = {qualified_name(fn): handler for fn, handler in function_list}
    methods: dict[str, Handler] = {
        "view": _reshape, "reshape": _reshape, "view_as": _reshape, "reshape_as": _reshape,
        "squeeze": _reshape, "unsqueeze": _reshape, "flatten": _flatten(0),
        "permute": _permute, "transpose": _transpose,
        "swapaxes": _transpose, "swapdims": _transpose, "expand": _expand, "expand_as": _expand,
        "contiguous": _alias, "clone": _alias, "detach": _alias, "float": _alias, "to": _alias,
        "type_as": _alias,
        "mean": _mean, "softmax": _softmax, "matmul": _matmul, "bmm": _matmul,
        "chunk": _pieces("chunk"), "split": _pieces("split"), "unbind": _pieces("unbind"),
        "narrow": _narrow,
        "relu": _unary("relu"), "sigmoid": _unary("sigmoid"), "tanh": _unary("tanh"),
        "clamp": _clamp_function,
        "add": _binary("add"), "sub": _binary("sub"), "mul": _binary("mul"),
        "div": _binary("div"), "add_": _binary("add"), "mul_": _binary("mul"),
    }
    return HandlerTables(modules, functions, methods)
