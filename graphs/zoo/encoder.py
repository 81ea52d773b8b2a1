"""A BERT-style transformer encoder from primitive ops.

Attention is written out (linear, reshape, permute, matmul, scale, softmax, matmul) rather
than as one fused op, so the planner can compress each projection and the FFN separately.
The defaults are MiniLM-L6-H384 (all-MiniLM-L6-v2): 6 layers, hidden 384, 12 heads, FFN
1536, vocabulary 30,522, 512 positions; 22,565,376 parameters without the pooler,
22,713,216 with it. Layer names follow Hugging Face's ``BertModel``.
"""

from __future__ import annotations

import math

import numpy as np

from graphs.builder import GraphBuilder
from graphs.ir import Graph


def bert_encoder(
    seq_len: int = 128,
    batch: int = 1,
    layers: int = 6,
    hidden: int = 384,
    heads: int = 12,
    intermediate: int = 1536,
    vocab: int = 30522,
    max_positions: int = 512,
    type_vocab: int = 2,
    pooler: bool = False,
    name: str = "bert_encoder",
) -> Graph:
    """Token ids (batch, seq_len) in, last hidden state (batch, seq_len, hidden) out, or
    the pooled first token (batch, hidden) when ``pooler``."""
    if hidden % heads:
        raise ValueError(f"hidden={hidden} must be a multiple of heads={heads}")
    if seq_len > max_positions:
        raise ValueError(f"seq_len={seq_len} exceeds max_positions={max_positions}")
    head_dim = hidden // heads
    b = GraphBuilder(name)
    ids = b.input((batch, seq_len), name="input_ids", dtype="int64")
    # (1, L) ids: their embeddings broadcast over any batch in the adds below
    positions = b.constant(np.arange(seq_len, dtype=np.int64)[None, :], "embeddings.position_ids")
    types = b.constant(np.zeros((1, seq_len), dtype=np.int64), "embeddings.token_type_ids")
    x = b.add_(
        b.add_(b.embedding(ids, vocab, hidden, name="embeddings.word_embeddings"),
               b.embedding(types, type_vocab, hidden, name="embeddings.token_type_embeddings"),
               name="embeddings.add"),
        b.embedding(positions, max_positions, hidden, name="embeddings.position_embeddings"),
        name="embeddings.add",
    )
    x = b.layer_norm(x, name="embeddings.LayerNorm")

    def heads_view(t: str, dims: tuple[int, ...], name: str) -> str:
        return b.permute(b.reshape(t, (batch, seq_len, heads, head_dim), name=f"{name}.view"),
                         dims, name=f"{name}.permute")

    for i in range(layers):
        p = f"encoder.layer.{i}"
        q = heads_view(b.linear(x, hidden, name=f"{p}.attention.self.query"), (0, 2, 1, 3),
                       f"{p}.attention.self.query")
        k = heads_view(b.linear(x, hidden, name=f"{p}.attention.self.key"), (0, 2, 3, 1),
                       f"{p}.attention.self.key")
        v = heads_view(b.linear(x, hidden, name=f"{p}.attention.self.value"), (0, 2, 1, 3),
                       f"{p}.attention.self.value")
        scores = b.add("matmul", [q, k], f"{p}.attention.self.scores")
        scores = b.scale(scores, 1.0 / math.sqrt(head_dim), name=f"{p}.attention.self.scale")
        probs = b.add("softmax", [scores], f"{p}.attention.self.softmax", axis=-1)
        ctx = b.add("matmul", [probs, v], f"{p}.attention.self.context")
        ctx = b.reshape(b.permute(ctx, (0, 2, 1, 3), name=f"{p}.attention.self.merge"),
                        (batch, seq_len, hidden), name=f"{p}.attention.self.merge.view")
        attn = b.linear(ctx, hidden, name=f"{p}.attention.output.dense")
        x = b.layer_norm(b.add_(attn, x, name=f"{p}.attention.output.add"),
                         name=f"{p}.attention.output.LayerNorm")
        h = b.act("gelu", b.linear(x, intermediate, name=f"{p}.intermediate.dense"),
                  name=f"{p}.intermediate.gelu")
        h = b.linear(h, hidden, name=f"{p}.output.dense")
        x = b.layer_norm(b.add_(h, x, name=f"{p}.output.add"), name=f"{p}.output.LayerNorm")
    if pooler:
        first = b.add("slice", [x], "pooler.first_token", index=((None, None, None), 0))
        x = b.act("tanh", b.linear(first, hidden, name="pooler.dense"), name="pooler.activation")
    return b.build([x])
