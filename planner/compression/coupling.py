"""Channel coupling: which layers must share a structured-pruning keep ratio.

Computed once from the graph (Torch-Pruning's dependency groups): every tensor gets a
*channel space* (a group, the axis that holds its channels, the sizes of the segments it is
made of, and a multiplier for flattened tensors). Convolutions and linear layers create new
groups; batch norm, activations, pooling, depthwise convolutions, transposes and
flattening pass a group through; residual adds and concatenations merge the groups of their
inputs (every segment of a group keeps the same ratio); ops that mix channels in ways
pruning cannot follow (matmul, softmax over channels, reshapes that split channels, channel
shuffles, opaque ops) *lock* the groups they read, and graph inputs and outputs are locked.

The ILP gives each unlocked group one keep ratio; a layer's cost is indexed by the keep
ratios of its input group and output group.

>>> from graphs import build_zoo_model
>>> c = couple(build_zoo_model("resnet18"))
>>> c.output_group("layer1.0.conv2") == c.output_group("layer1.1.conv2")  # residual stream
True
>>> c.group(c.output_group("layer1.0.conv1")).locked
False
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from graphs import ChannelRule, Graph, Layer, is_depthwise, slice_entries


def _root(parent: dict[int, int], item: int) -> int:
    """Union-find root of ``item`` in ``parent``, halving the path on the way."""
    while parent[item] != item:
        parent[item] = parent[parent[item]]
        item = parent[item]
    return item


@dataclass(frozen=True)
class Space:
    """The channel axis of one tensor: its group, axis, segments and multiplier.

    A segment is a class of channels: the output channels of one producer, identified with
    other producers' channels by residual adds; concatenation places segments side by side.
    ``sizes`` are the segments' channel counts. The axis holds ``multiplier × Σ sizes``
    elements; after pruning at ratio r it holds ``multiplier × Σ kept(size, r)``.
    """

    group: int
    axis: int
    segments: tuple[int, ...]
    sizes: tuple[int, ...]
    multiplier: int = 1

    @property
    def size(self) -> int:
        """Elements along the axis before pruning."""
        return self.multiplier * sum(self.sizes)


@dataclass
class Group:
    """Channels that are pruned together (one keep ratio)."""

    id: int
    producers: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    locked_by: list[str] = field(default_factory=list)
    quantum: int = 1

    @property
    def locked(self) -> bool:
        """True when this group must keep every channel."""
        return bool(self.locked_by)


class Coupling:
    """Channel spaces of every tensor and the groups they belong to."""

    def __init__(self) -> None:
        self.spaces: dict[str, Space | None] = {}
        """Read-only outside :meth:`set_space`."""
        self._parent: dict[int, int] = {}
        self._groups: dict[int, Group] = {}
        self._segment_parent: dict[int, int] = {}
        self.segment_owners: dict[int, list[str]] = {}
        self._changes = 0
        self._segments_of: tuple[int, dict[int, dict[int, int]]] = (-1, {})

    def set_space(self, tensor: str, space: Space | None) -> None:
        """Record the channel space of a tensor."""
        self.spaces[tensor] = space
        self._changes += 1

    # ----------------------------------------------------------- segments

    def new_segment(self, producer: str) -> int:
        """A fresh channel class owned by ``producer``."""
        sid = len(self._segment_parent)
        self._changes += 1
        self._segment_parent[sid] = sid
        self.segment_owners[sid] = [producer]
        return sid

    def segment(self, sid: int) -> int:
        """The representative of a channel class."""
        return _root(self._segment_parent, sid)

    def unify_segments(self, a: int, b: int) -> None:
        """Identify two channel classes (a residual add)."""
        ra, rb = self.segment(a), self.segment(b)
        if ra != rb:
            self._changes += 1
            self._segment_parent[rb] = ra
            self.segment_owners[ra] += self.segment_owners.pop(rb)

    # ----------------------------------------------------------- union-find

    def new_group(self) -> int:
        """A fresh group id."""
        gid = len(self._parent)
        self._changes += 1
        self._parent[gid] = gid
        self._groups[gid] = Group(gid)
        return gid

    def find(self, gid: int) -> int:
        """The representative of ``gid``'s group."""
        return _root(self._parent, gid)

    def union(self, a: int, b: int) -> int:
        """Merge two groups; returns the representative."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return ra
        ga, gb = self._groups[ra], self._groups.pop(rb)
        self._changes += 1
        self._parent[rb] = ra
        ga.producers += gb.producers
        ga.members += gb.members
        ga.readers += gb.readers
        ga.locked_by += gb.locked_by
        ga.quantum = math.lcm(ga.quantum, gb.quantum)
        return ra

    # ----------------------------------------------------------- queries

    def group(self, gid: int) -> Group:
        """The group with id ``gid`` (any id of a merged group)."""
        return self._groups[self.find(gid)]

    def groups(self) -> list[Group]:
        """Every distinct group."""
        return list(self._groups.values())

    def space(self, tensor: str) -> Space | None:
        """The channel space of a tensor (layer output), with its group and segments
        resolved."""
        s = self.spaces.get(tensor)
        if s is None:
            return None
        return replace(s, group=self.find(s.group),
                       segments=tuple(self.segment(x) for x in s.segments))

    def group_segments(self, gid: int) -> dict[int, int]:
        """The channel classes of a group (any id of it) and their sizes (indexed once per
        state of the coupling, so per-layer queries stay linear in the graph)."""
        changes, index = self._segments_of
        if changes != self._changes:
            index = {}
            for name in self.spaces:
                s = self.space(name)
                if s is not None:
                    index.setdefault(s.group, {}).update(zip(s.segments, s.sizes, strict=True))
            self._segments_of = (self._changes, index)
        return dict(index.get(self.find(gid), {}))

    def output_group(self, layer: str) -> int | None:
        """Group of a layer's output channels (None: no prunable channel axis)."""
        s = self.space(layer)
        return None if s is None else s.group

    def input_group(self, layer: Layer, slot: int = 0) -> int | None:
        """Group of the channels of a layer's input ``slot``."""
        return self.output_group(layer.inputs[slot])

    def free_groups(self) -> list[Group]:
        """Groups the planner may prune (not locked)."""
        return [g for g in self.groups() if not g.locked]

    def lock(self, gid: int, reason: str) -> None:
        """Forbid pruning a group."""
        self.group(gid).locked_by.append(reason)


def kept(channels: int, ratio: float, quantum: int = 1) -> int:
    """Channels kept of ``channels`` at keep ``ratio``, a positive multiple of ``quantum``.

    >>> kept(64, 0.5), kept(116, 0.375), kept(128, 0.875, 32)
    (32, 44, 128)
    """
    if ratio >= 1:
        return channels
    units = max(1, round(ratio * channels / quantum))
    return min(channels, units * quantum)


def space_channels(space: Space, ratio: float, quantum: int = 1) -> int:
    """Elements along a space's axis after pruning its group at ``ratio``."""
    return space.multiplier * sum(kept(s, ratio, quantum) for s in space.sizes)


# ---------------------------------------------------------------- rules per op

Rule = Callable[[Coupling, Graph, Layer], Space | None]


def _lock_inputs(c: Coupling, layer: Layer, reason: str) -> None:
    for src in layer.inputs:
        s = c.space(src)
        if s is not None:
            c.lock(s.group, f"{layer.name}: {reason}")


def _fresh(c: Coupling, layer: Layer, axis: int, locked: str | None = None) -> Space:
    gid = c.new_group()
    c.group(gid).producers.append(layer.name)
    if locked:
        c.lock(gid, f"{layer.name}: {locked}")
    return Space(gid, axis, (c.new_segment(layer.name),), (layer.output_shape[axis],))


def _barrier(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    """Mixes channels in a way pruning cannot follow: lock inputs, output not prunable."""
    _lock_inputs(c, layer, f"{layer.op} mixes channels")
    return None


def _source(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    if layer.op == "input":
        if layer.attrs["dtype"] != "float32" or len(layer.output_shape) < 2:
            return None
        return _fresh(c, layer, 1, "graph input")
    return None  # constants: not prunable; merging with one locks the other side


def _through(c: Coupling, layer: Layer, axis: int | None = None, multiplier: int = 1
             ) -> Space | None:
    s = c.space(layer.inputs[0])
    if s is None:
        return None
    return replace(s, axis=s.axis if axis is None else axis,
                   multiplier=s.multiplier * multiplier)


def _passthrough(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    return _through(c, layer)


def _channel_first(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    """Per-channel ops on NCHW (batch norm, pooling): the channel axis must be 1."""
    s = c.space(layer.inputs[0])
    if s is not None and s.axis != 1:
        c.lock(s.group, f"{layer.name}: {layer.op} on a tensor whose channels are not axis 1")
        return None
    return _through(c, layer)


def _conv(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    in_channels = layer.input_shapes[0][1]
    if is_depthwise(in_channels, layer.attrs) and layer.attrs["out_channels"] == in_channels:
        if s is not None:
            c.group(s.group).members.append(layer.name)
        return _channel_first(c, graph, layer)
    if s is not None:
        if s.axis != 1:
            c.lock(s.group, f"{layer.name}: conv input channels are not axis 1")
        c.group(s.group).readers.append(layer.name)
        if layer.attrs["groups"] > 1:
            group = c.group(s.group)
            group.quantum = math.lcm(group.quantum, layer.attrs["groups"])
    out = _fresh(c, layer, 1)
    if layer.attrs["groups"] > 1:
        c.group(out.group).quantum = layer.attrs["groups"]
    return out


def _linear(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    last = len(layer.input_shapes[0]) - 1
    if s is not None:
        if s.axis != last:
            c.lock(s.group, f"{layer.name}: linear over an axis that is not the channels")
        else:
            c.group(s.group).readers.append(layer.name)
    return _fresh(c, layer, len(layer.output_shape) - 1)


def _embedding(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    return _fresh(c, layer, len(layer.output_shape) - 1)


def _layer_norm(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    if s is None:
        return None
    if len(layer.attrs["normalized_shape"]) != 1 or s.axis != len(layer.output_shape) - 1:
        c.lock(s.group, f"{layer.name}: layer norm over more than the channel axis")
        return None
    return _through(c, layer)


def _arithmetic(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    """Broadcasting ops merge the groups of inputs that carry the channel axis."""
    out_rank = len(layer.output_shape)
    spaces: list[Space] = []
    unprunable = False
    for src, shape in zip(layer.inputs, layer.input_shapes, strict=True):
        s = c.space(src)
        if s is None:
            unprunable |= any(d > 1 for d in shape)
            continue
        aligned = s.axis + out_rank - len(shape)
        spaces.append(replace(s, axis=aligned))
    if not spaces:
        return None
    axes = {s.axis for s in spaces}
    layouts = {(s.sizes, s.multiplier) for s in spaces}
    if len(axes) > 1 or len(layouts) > 1:
        for s in spaces:
            c.lock(s.group, f"{layer.name}: inputs disagree on the channel layout")
        return None
    gid = spaces[0].group
    for s in spaces[1:]:
        gid = c.union(gid, s.group)
        for a, b in zip(spaces[0].segments, s.segments, strict=True):
            c.unify_segments(a, b)
    c.group(gid).members.append(layer.name)
    if unprunable:
        c.lock(gid, f"{layer.name}: combined with a tensor that cannot be pruned")
    return replace(spaces[0], group=gid)


def _concat(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    spaces = [c.space(src) for src in layer.inputs]
    axis = layer.attrs["axis"] % len(layer.output_shape)
    if any(s is None for s in spaces):
        for s in spaces:
            if s is not None:
                c.lock(s.group, f"{layer.name}: concatenated with an unprunable tensor")
        return None
    known = [s for s in spaces if s is not None]
    if any(s.axis != axis or s.multiplier != 1 for s in known):
        if all(s.axis != axis for s in known):  # concat along another axis: a merge
            return _arithmetic(c, graph, layer)
        for s in known:
            c.lock(s.group, f"{layer.name}: concatenation mixes channel layouts")
        return None
    gid = known[0].group
    for s in known[1:]:
        gid = c.union(gid, s.group)
    c.group(gid).members.append(layer.name)
    return Space(gid, axis, tuple(seg for s in known for seg in s.segments),
                 tuple(size for s in known for size in s.sizes))


def _reduce(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    if s is None:
        return None
    rank = len(layer.input_shapes[0])
    axes = {a % rank for a in layer.attrs["axes"]}
    if s.axis in axes:
        c.lock(s.group, f"{layer.name}: reduces over the channel axis")
        return None
    shift = 0 if layer.attrs["keepdim"] else sum(a < s.axis for a in axes)
    return _through(c, layer, axis=s.axis - shift)


def _softmax(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    if s is not None and layer.attrs["axis"] % len(layer.output_shape) == s.axis:
        c.lock(s.group, f"{layer.name}: softmax across channels")
        return None
    return _through(c, layer)


def _permute(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    if s is None:
        return None
    rank = len(layer.output_shape)
    if layer.op == "transpose":
        dims = list(range(rank))
        a, b = layer.attrs["dim0"] % rank, layer.attrs["dim1"] % rank
        dims[a], dims[b] = dims[b], dims[a]
    else:
        dims = [d % rank for d in layer.attrs["dims"]]
    return _through(c, layer, axis=dims.index(s.axis))


def _reshape_like(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    """Flatten/reshape: follow the channels when they lead a merged block of axes, or when
    only size-1 axes come and go; otherwise lock."""
    s = c.space(layer.inputs[0])
    if s is None:
        return None
    src, dst = list(layer.input_shapes[0]), list(layer.output_shape)
    before = math.prod(src[:s.axis])
    # the output axis whose elements start where the channel axis starts
    acc, axis = 1, None
    for i, d in enumerate(dst):
        if acc == before and d % src[s.axis] == 0:
            axis = i
            break
        acc *= d
    if axis is None:
        c.lock(s.group, f"{layer.name}: reshape splits the channel axis")
        return None
    trailing = dst[axis] // src[s.axis]
    if math.prod(src[s.axis + 1:]) % trailing:
        c.lock(s.group, f"{layer.name}: reshape interleaves the channels")
        return None
    return _through(c, layer, axis=axis, multiplier=trailing)


def _slice(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    if s is None:
        return None
    entries = slice_entries(layer.attrs["index"], layer.input_shapes[0])
    dropped = sum(isinstance(e, int) for e in entries[:s.axis])
    if s.axis >= len(entries):
        return _through(c, layer, axis=s.axis - dropped)
    entry = entries[s.axis]
    if isinstance(entry, int):
        c.lock(s.group, f"{layer.name}: selects one channel")
        return None
    start, stop, step = entry
    bounds = [0]
    for size in s.sizes:
        bounds.append(bounds[-1] + size * s.multiplier)
    if step == 1 and start in bounds and stop in bounds:  # whole segments: a split of a concat
        first, last = bounds.index(start), bounds.index(stop)
        return replace(s, axis=s.axis - dropped, segments=s.segments[first:last],
                       sizes=s.sizes[first:last])
    if (start, stop, step) == (0, s.size, 1):
        return _through(c, layer, axis=s.axis - dropped)
    c.lock(s.group, f"{layer.name}: slices inside a segment of channels")
    return None


def _expand(c: Coupling, graph: Graph, layer: Layer) -> Space | None:
    s = c.space(layer.inputs[0])
    if s is None:
        return None
    shift = len(layer.output_shape) - len(layer.input_shapes[0])
    return _through(c, layer, axis=s.axis + shift)


RULES: dict[ChannelRule, Rule] = {
    "source": _source, "conv": _conv, "linear": _linear, "embedding": _embedding,
    "channel_first": _channel_first, "layer_norm": _layer_norm, "arithmetic": _arithmetic,
    "concat": _concat, "reduce": _reduce, "softmax": _softmax, "permute": _permute,
    "reshape": _reshape_like, "slice": _slice, "expand": _expand,
    "passthrough": _passthrough, "barrier": _barrier,
}
"""The op table's channel rule (``OpSpec.channels``) → how it builds channel spaces."""


def couple(graph: Graph) -> Coupling:
    """Channel spaces and groups of every tensor of ``graph``."""
    c = Coupling()
    for layer in graph:
        rule = RULES[layer.spec.channels or "barrier"]
        space = rule(c, graph, layer)
        c.set_space(layer.name, space)
        if space is not None and layer.spec.channels not in ("conv", "linear", "embedding"):
            group = c.group(space.group)
            if layer.name not in group.members:
                group.members.append(layer.name)
    for name in graph.outputs:
        s = c.space(name)
        if s is not None:
            c.lock(s.group, f"{name}: a graph output keeps its channels")
    return c


def coupled_names(c: Coupling, names: Sequence[str]) -> list[list[str]]:
    """The layers among ``names`` grouped by the output group they share (for reports)."""
    by_group: dict[int, list[str]] = {}
    for name in names:
        gid = c.output_group(name)
        if gid is not None:
            by_group.setdefault(gid, []).append(name)
    return [v for v in by_group.values() if len(v) > 1]
