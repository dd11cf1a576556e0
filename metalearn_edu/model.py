"""A BERT-style Transformer encoder, written to be read top-down.

Embeddings -> attention -> feed-forward -> block -> encoder (with an MLM head and a
sequence-classification head). One set of weights, two attention paths:

* ``"fused"``: `torch.nn.functional.scaled_dot_product_attention` (fast, no
  attention weights, and on CPU no double backward);
* ``"explicit"``: softmax(QKᵀ/√d)·V written out, returns the attention weights
  and supports double backward, so second-order MAML uses it.

Two shortcuts make masked-LM training cheaper without changing its loss: the
vocabulary projection runs only at the masked positions (``mlm_mask``), and the last
block too (``masked_positions_only``). `Dropout` draws its masks faster on a CPU than
`nn.Dropout` does.

Shape letters used in comments:
    B batch size, T sequence length, D d_model, H n_heads, Dh d_head = D / H,
    F d_ff, V vocab size, N number of selected (e.g. masked) positions.

The model never mutates its parameters in ``forward``, so it works under
`torch.func.functional_call` with a plain ``dict[str, Tensor]`` of parameters.
The MLM decoder reuses the token-embedding matrix (weight tying); the tied
weight is one parameter, ``embeddings.tok_emb.weight``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ModelConfig

AttentionImpl = Literal["fused", "explicit"]
ATTENTION_IMPLS: tuple[str, ...] = ("fused", "explicit")
HEADS: tuple[str, ...] = ("mlm", "cls")


@dataclass
class EncoderOutput:
    """What `BertEncoder.forward` returns.

    Attributes:
        hidden_states: (B, T, D) the last layer's output.
        all_hidden_states: n_layers + 1 tensors of shape (B, T, D): the embeddings,
            then the output of each block.
        attentions: when asked for, n_layers tensors of shape (B, H, T, T); row
            ``[b, h, i]`` is query i's distribution over the keys, summing to 1 over
            unmasked keys. None otherwise.
        logits: when a head was asked for: (N, V) MLM logits at the positions of
            ``mlm_mask`` (or (B, T, V) without a mask), or (B, n_labels) class logits.
    """

    hidden_states: Tensor
    all_hidden_states: tuple[Tensor, ...]
    attentions: tuple[Tensor, ...] | None = None
    logits: Tensor | None = None


def activation_fn(name: str):
    """The feed-forward non-linearity: BERT uses the exact (erf) GELU."""
    if name == "gelu":
        return F.gelu
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    return F.relu


# ---------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------
def dropout_mask(shape: torch.Size, p: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A random inverted-dropout mask: 0 with probability p, else 1 / (1 − p).

    The keep/drop decision of each element compares 16 random bits with a threshold, so p
    is rounded to a multiple of 1/65536 (0.1 becomes 0.100006). Four decisions come from
    one 64-bit draw of torch's generator (seeded by `torch.manual_seed`, like all other
    randomness here): 3.5× faster on a 2-core CPU than a mask from torch's Bernoulli
    sampler (3.8 vs 13.3 ms for 4096 × 256; the whole dropout 9.0 vs 19.2 ms).

    Returns:
        A tensor of `shape` and `dtype`.
    """
    n = math.prod(shape)
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-2**63, 2**63 - 1)
    bits = bits.view(torch.int16)[:n].view(shape)  # uniform on [-32768, 32767]
    keep = bits >= -32768 + round(p * 65536)  # P(keep) = 1 − p
    return keep.to(dtype).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """`nn.Dropout` (zero each element with probability p, scale the rest by 1/(1 − p),
    only in training mode) with the faster mask of `dropout_mask` on the CPU."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu":  # GPUs sample Bernoulli masks fast enough
            return F.dropout(x, self.p, training=True)
        return x * dropout_mask(x.shape, self.p, x.dtype, x.device)


# ---------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------
class Embeddings(nn.Module):
    """token + position + segment embeddings, then LayerNorm and dropout."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.seg_emb = nn.Embedding(cfg.n_segments, cfg.d_model)
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor) -> Tensor:
        """(B, T) ids and segment ids -> (B, T, D)."""
        T = input_ids.shape[1]
        positions = torch.arange(T, device=input_ids.device)  # (T,)
        # (same summation order as transformers' BERT, so the two agree bit for bit)
        x = self.tok_emb(input_ids) + self.seg_emb(token_type_ids) + self.pos_emb(positions)  # (B, T, D)
        return self.dropout(self.norm(x))


def sinusoidal_positions(max_len: int, d_model: int) -> Tensor:
    """Vaswani et al.'s table PE[t, 2i] = sin(t / 10000^(2i/D)), PE[t, 2i+1] = cos(...), rows of norm 1.

    Used as the *initial* value of the learned position table (``pos_init="sinusoidal"``):
    nearby positions start with similar vectors, a fixed offset is a linear map of the
    table, and each row (norm 1) starts larger than a token embedding (norm ≈ 0.02·√D), so
    position is salient from the first step and "attend to the previous token" is easy to learn.

    Returns:
        (max_len, d_model).
    """
    t = torch.arange(max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)  # (D/2,)
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(t * freq)
    table[:, 1::2] = torch.cos(t * freq)[:, : d_model // 2]
    return table / table.norm(dim=1, keepdim=True)


# ---------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------
def explicit_attention(q: Tensor, k: Tensor, v: Tensor, key_mask: Tensor | None,
                       dropout: nn.Module) -> tuple[Tensor, Tensor]:
    """Attention(Q, K, V) = softmax(Q Kᵀ / √d_head) V, written out.

    Args:
        q, k, v: (B, H, T, Dh).
        key_mask: (B, T) bool, True for real tokens; masked keys get weight 0.
        dropout: applied to the weights before they mix the values (as in BERT).

    Returns:
        The mixed values (B, H, T, Dh) and the attention weights (B, H, T, T),
        taken before dropout.
    """
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, H, T, T): Q Kᵀ / √Dh
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)  # rows sum to 1 over real keys
    return dropout(weights) @ v, weights


class MultiHeadSelfAttention(nn.Module):
    """H heads of scaled dot-product attention over the same sequence.

    One fused projection makes Q, K and V; each head attends in its own
    Dh-dimensional subspace; `out_proj` mixes the heads back into D dimensions.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_dropout = Dropout(cfg.attn_dropout)

    def forward(self, x: Tensor, key_mask: Tensor | None, impl: AttentionImpl = "fused",
                return_attention: bool = False, queries: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(B, T, D) -> (B, T, D), plus (B, H, T, T) weights when `return_attention`.

        With `queries` (B, M, D), only those M positions ask questions: the output is
        (B, M, D) (weights (B, H, M, T)), while keys and values still come from all T
        positions of `x`.
        """
        B, T, D = x.shape
        # 1) project to queries, keys and values, and split the heads
        if queries is None:
            q, k, v = self.qkv(x).view(B, T, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)  # 3 × (B, H, T, Dh)
        else:  # rows [0, D) of the fused projection make Q, rows [D, 3D) make K and V
            w, b = self.qkv.weight, self.qkv.bias
            k, v = F.linear(x, w[D:], b[D:]).view(B, T, 2, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
            q = F.linear(queries, w[:D], b[:D]).view(B, -1, self.n_heads, self.d_head).transpose(1, 2)  # (B, H, M, Dh)
        # 2) attend
        weights = None
        if impl == "explicit" or return_attention:
            out, weights = explicit_attention(q, k, v, key_mask, self.attn_dropout)
        else:
            mask = None if key_mask is None else key_mask[:, None, None, :]  # (B, 1, 1, T) bool
            p = self.attn_dropout.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, H, T, Dh)
        # 3) merge the heads and mix them
        out = out.transpose(1, 2).reshape(B, q.shape[2], D)  # (B, T or M, D)
        return self.out_proj(out), weights


class FeedForward(nn.Module):
    """Position-wise MLP: D -> F -> D."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.up = nn.Linear(cfg.d_model, cfg.d_ff)
        self.down = nn.Linear(cfg.d_ff, cfg.d_model)
        self.act = activation_fn(cfg.activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(self.act(self.up(x)))


class TransformerBlock(nn.Module):
    """Attention and feed-forward, each in a residual branch with LayerNorm.

    post-LN (BERT):  x = LN(x + Attn(x));   x = LN(x + FFN(x))
    pre-LN:          x = x + Attn(LN(x));   x = x + FFN(LN(x))
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.pre_ln = cfg.pre_ln
        self.attn = MultiHeadSelfAttention(cfg)
        self.attn_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.ffn = FeedForward(cfg)
        self.ffn_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.dropout = Dropout(cfg.dropout)

    def forward(self, x: Tensor, key_mask: Tensor | None, impl: AttentionImpl = "fused",
                return_attention: bool = False, query_index: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(B, T, D) -> (B, T, D), plus this block's attention weights when asked.

        With `query_index` (B, M) positions, the block computes its output only there:
        (B, M, D). Attention still reads keys and values from all T positions, and
        everything after attention is per position, so these M outputs equal the
        corresponding rows of the full output.
        """
        def at_queries(t: Tensor) -> Tensor:  # (B, T, D) -> (B, M, D)
            if query_index is None:
                return t
            return t.gather(1, query_index[..., None].expand(-1, -1, t.shape[-1]))

        if self.pre_ln:
            h = self.attn_norm(x)
            a, weights = self.attn(h, key_mask, impl, return_attention,
                                   queries=None if query_index is None else at_queries(h))
            x = at_queries(x) + self.dropout(a)
            x = x + self.dropout(self.ffn(self.ffn_norm(x)))
        else:
            a, weights = self.attn(x, key_mask, impl, return_attention,
                                   queries=None if query_index is None else at_queries(x))
            x = self.attn_norm(at_queries(x) + self.dropout(a))
            x = self.ffn_norm(x + self.dropout(self.ffn(x)))
        return x, weights


# ---------------------------------------------------------------------------------------
# Heads
# ---------------------------------------------------------------------------------------
class MLMHead(nn.Module):
    """Transform (dense, activation, LayerNorm); the decoder is the tied token embedding.

    logits = LN(act(h W₁ + b₁)) Eᵀ + b,  with E the (V, D) token-embedding matrix.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.dense = nn.Linear(cfg.d_model, cfg.d_model)
        self.act = activation_fn(cfg.activation)
        self.norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, h: Tensor, tok_emb_weight: Tensor) -> Tensor:
        """(..., D) hidden states and the (V, D) embedding matrix -> (..., V) logits."""
        return F.linear(self.norm(self.act(self.dense(h))), tok_emb_weight, self.bias)


class ClassificationHead(nn.Module):
    """BERT's pooler (dense + tanh on the [CLS] vector), dropout, then a linear classifier."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.pool = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.d_model, cfg.n_labels)

    def forward(self, hidden_states: Tensor) -> Tensor:
        """(B, T, D) -> (B, n_labels), reading position 0 ([CLS])."""
        pooled = torch.tanh(self.pool(hidden_states[:, 0]))  # (B, D)
        return self.out(self.dropout(pooled))


# ---------------------------------------------------------------------------------------
# The encoder
# ---------------------------------------------------------------------------------------
def masked_position_index(mask: Tensor) -> tuple[Tensor, Tensor]:
    """The positions where each row of `mask` is True, left-aligned and padded.

    Args:
        mask: (B, T) bool.

    Returns:
        index (B, M) long and valid (B, M) bool, M = the most True values in a row:
        ``index[b, :count_b]`` are row b's True positions in increasing order (then
        filler positions, marked False in `valid`), so ``out[valid]`` for any (B, M, ...)
        tensor gathered at `index` lists the rows in the order ``t[mask]`` would.
    """
    counts = mask.sum(dim=1)  # (B,)
    m = int(counts.max()) if mask.numel() else 0
    index = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)[:, :m]  # True positions first, in order
    valid = torch.arange(m, device=mask.device) < counts[:, None]
    return index, valid


class BertEncoder(nn.Module):
    """A BERT-style encoder with an MLM head and a sequence-classification head.

    Example:
        >>> from metalearn_edu.config import model_config
        >>> model = BertEncoder(model_config("nano", vocab_size=100))
        >>> out = model(torch.tensor([[2, 17, 42, 3]]), return_attention=True)
        >>> out.hidden_states.shape, len(out.attentions), out.attentions[0].shape
        (torch.Size([1, 4, 64]), 2, torch.Size([1, 2, 4, 4]))
    """

    def __init__(self, cfg: ModelConfig, attention_impl: AttentionImpl = "fused"):
        super().__init__()
        if attention_impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention_impl={attention_impl!r}; choose one of {ATTENTION_IMPLS}")
        self.cfg = cfg
        self.attention_impl: AttentionImpl = attention_impl  # default path; forward can override
        self.embeddings = Embeddings(cfg)
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.final_norm = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps) if cfg.pre_ln else nn.Identity()
        self.mlm_head = MLMHead(cfg)
        self.cls_head = ClassificationHead(cfg)
        self.apply(self._init_weights)
        if cfg.pos_init == "sinusoidal":
            with torch.no_grad():
                self.embeddings.pos_emb.weight.copy_(sinusoidal_positions(cfg.max_len, cfg.d_model))

    def _init_weights(self, module: nn.Module) -> None:
        """BERT's initialisation: N(0, 0.02) weights, zero biases, identity LayerNorms."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.cfg.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def _check_inputs(self, input_ids: Tensor, attention_mask: Tensor | None,
                      token_type_ids: Tensor | None) -> None:
        """Turn bad input into an error that says what is allowed (not a deep torch trace)."""
        cfg = self.cfg
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2:
            shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
            raise ValueError(f"input_ids must be a (batch, seq_len) tensor of token ids; got {shape}")
        if input_ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"input_ids must hold integer token ids (torch.long); got dtype {input_ids.dtype}")
        B, T = input_ids.shape
        if T == 0 or B == 0:
            raise ValueError(f"input_ids is empty (shape {(B, T)}); pass at least one token")
        if T > cfg.max_len:
            raise ValueError(f"input_ids has seq_len={T} but the position table has max_len={cfg.max_len}; "
                             f"truncate the input to at most {cfg.max_len} tokens")
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= cfg.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"input_ids contains token id {bad}, outside the vocabulary [0, {cfg.vocab_size}); "
                             "was the text encoded with a different tokenizer?")
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if t is not None and tuple(t.shape) != (B, T):
                raise ValueError(f"{name} has shape {tuple(t.shape)} but input_ids has shape {(B, T)}")
        if token_type_ids is not None:
            lo, hi = int(token_type_ids.min()), int(token_type_ids.max())
            if lo < 0 or hi >= cfg.n_segments:
                raise ValueError(f"token_type_ids must lie in [0, n_segments={cfg.n_segments}); got {lo}..{hi}")

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, return_attention: bool = False,
                attention_impl: AttentionImpl | None = None, head: str | None = None,
                mlm_mask: Tensor | None = None, masked_positions_only: bool = False) -> EncoderOutput:
        """Encode a batch.

        Args:
            input_ids: (B, T) token ids.
            attention_mask: (B, T), 1 for real tokens and 0 for padding; None = all real.
            token_type_ids: (B, T) segment ids (0 or 1); None = all 0.
            return_attention: also return every layer's (B, H, T, T) weights (uses
                the explicit path).
            attention_impl: "fused" or "explicit"; None uses ``self.attention_impl``.
                Second-order meta-gradients need "explicit" on CPU.
            head: None, "mlm" or "cls": also compute that head's logits.
            mlm_mask: (B, T) bool; with head="mlm", compute logits only at these
                positions, giving (N, V) instead of (B, T, V). Projecting only the
                ~15% masked positions onto the vocabulary saves most of the head's cost.
            masked_positions_only: with head="mlm" and `mlm_mask` (the training fast
                path): run the *last* block only at the masked positions. Its keys and
                values still come from every position, and the outputs it skips never
                reach the logits, so the logits (and their gradients) are the same; at
                15% masking this skips ~70% of the last block's work. `hidden_states`
                is then (N, D), the final states at the masked positions, and
                `all_hidden_states` stops before the last block.

        Returns:
            An `EncoderOutput`.
        """
        self._check_inputs(input_ids, attention_mask, token_type_ids)
        impl = attention_impl or self.attention_impl
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention_impl={impl!r}; choose one of {ATTENTION_IMPLS}")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        key_mask = None
        if attention_mask is not None and not bool(attention_mask.all()):
            key_mask = attention_mask.bool()  # (B, T)
        query_index = valid = None
        if masked_positions_only:
            if head != "mlm" or mlm_mask is None or return_attention:
                raise ValueError("masked_positions_only=True needs head='mlm' and an mlm_mask, and cannot "
                                 "return attention weights; drop it to get every position")
            if bool(mlm_mask.any()):  # (with nothing masked there is nothing to skip to)
                query_index, valid = masked_position_index(mlm_mask)  # (B, M) each

        x = self.embeddings(input_ids, token_type_ids)  # (B, T, D)
        all_hidden, attentions = [x], []
        full_blocks = self.blocks if query_index is None else self.blocks[:-1]
        for block in full_blocks:
            x, weights = block(x, key_mask, impl, return_attention)
            all_hidden.append(x)
            attentions.append(weights)
        if query_index is not None:  # the last block, only at the masked positions
            x = self.blocks[-1](x, key_mask, impl, query_index=query_index)[0][valid]  # (B, M, D) -> (N, D)
        x = self.final_norm(x)
        if self.cfg.pre_ln and query_index is None:
            all_hidden[-1] = x

        out = EncoderOutput(hidden_states=x, all_hidden_states=tuple(all_hidden),
                            attentions=tuple(attentions) if return_attention else None)
        if head == "mlm":
            h = x if mlm_mask is None or query_index is not None else x[mlm_mask]  # (B, T, D) or (N, D)
            out.logits = self.mlm_head(h, self.embeddings.tok_emb.weight)
        elif head == "cls":
            out.logits = self.cls_head(x)
        elif head is not None:
            raise ValueError(f"head={head!r}; choose None or one of {HEADS}")
        return out

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameter count (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
