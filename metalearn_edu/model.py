"""A BERT-style Transformer encoder, written to be read top-down.

Embeddings -> attention -> feed-forward -> block -> encoder (with an MLM head and a
sequence-classification head). One set of weights, two attention paths:

* ``"fused"``: `torch.nn.functional.scaled_dot_product_attention` (fast, no
  attention weights, and on CPU no double backward);
* ``"explicit"``: softmax(QKᵀ/√d)·V written out, returns the attention weights
  and supports double backward, so second-order MAML uses it.

`BertEncoder.forward` is the plain model. Masked-LM training uses
`BertEncoder.masked_lm_logits`, which gives the same logits for less work: the vocabulary
projection and the last block run only at the masked positions. Dropout masks come from
random bits (`metalearn_edu.bit_dropout`), faster to draw on a CPU than `nn.Dropout`'s.

Shape letters used in comments:
    B batch size, T sequence length, D d_model, H n_heads, Dh d_head = D / H,
    F d_ff, V vocab size, M number of query positions, N number of selected (e.g. masked) positions.

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

from .bit_dropout import BitDropout, bit_dropout_mask
from .checks import reading_values_allowed
from .config import ModelConfig

# Older names of the dropout layer and its mask (they moved to `metalearn_edu.bit_dropout`).
Dropout = BitDropout
dropout_mask = bit_dropout_mask

AttentionImpl = Literal["fused", "explicit"]
ATTENTION_IMPLS: tuple[str, ...] = ("fused", "explicit")
HEADS: tuple[str, ...] = ("mlm", "cls")


@dataclass
class EncoderOutput:
    """What `BertEncoder.forward` returns.

    Attributes:
        hidden_states: (B, T, D) the last layer's output (after the final LayerNorm of a pre-LN model).
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
        self.dropout = BitDropout(cfg.dropout)

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
        key_mask: (B, T) bool, True for real tokens; masked keys get weight 0. Or (B, M, T): a
            mask per query row (e.g. a causal mask, `causal_mask`).
        dropout: applied to the weights before they mix the values (as in BERT).

    Returns:
        The mixed values (B, H, T, Dh) and the attention weights (B, H, T, T),
        taken before dropout.
    """
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5  # (B, H, T, T): Q Kᵀ / √Dh
    if key_mask is not None:
        scores = scores.masked_fill(~_mask_for_heads(key_mask), torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)  # rows sum to 1 over real keys
    return dropout(weights) @ v, weights


def _mask_for_heads(key_mask: Tensor) -> Tensor:
    """A (B, T) key mask -> (B, 1, 1, T); a (B, M, T) per-query mask -> (B, 1, M, T)."""
    return key_mask[:, None, None, :] if key_mask.dim() == 2 else key_mask[:, None]


def causal_mask(batch: int, length: int, device: torch.device | str | None = None) -> Tensor:
    """(B, T, T) bool: query i may attend to keys 0..i (a decoder's mask), for ``key_mask``."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril().expand(batch, length, length)


class MultiHeadSelfAttention(nn.Module):
    """H heads of scaled dot-product attention.

    Q = x_q W_Q, K = x_kv W_K, V = x_kv W_V; each head attends in its own Dh-dimensional
    subspace; `out_proj` mixes the heads back into D dimensions. In self-attention x_q and x_kv
    are the same sequence; `BertEncoder.masked_lm_logits` passes only some positions as x_q.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_head
        self.q_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.k_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.v_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.out_proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.attn_dropout = BitDropout(cfg.attn_dropout)

    def forward(self, x_q: Tensor, x_kv: Tensor | None = None, key_mask: Tensor | None = None,
                impl: AttentionImpl = "fused", return_attention: bool = False) -> tuple[Tensor, Tensor | None]:
        """(B, M, D) queries attend over (B, T, D) keys and values (x_kv; None = x_q itself).

        Args:
            key_mask: (B, T) bool, True for real tokens; masked keys get weight 0; or (B, M, T), one
                mask per query (`causal_mask`).

        Returns:
            (B, M, D), plus the (B, H, M, T) weights when `return_attention` (else None).
        """
        x_kv = x_q if x_kv is None else x_kv
        (B, M, D), T = x_q.shape, x_kv.shape[1]

        def heads(t: Tensor, length: int) -> Tensor:  # (B, length, D) -> (B, H, length, Dh)
            return t.view(B, length, self.n_heads, self.d_head).transpose(1, 2)

        # 1) project to queries, keys and values, and split the heads
        q, k, v = heads(self.q_proj(x_q), M), heads(self.k_proj(x_kv), T), heads(self.v_proj(x_kv), T)
        # 2) attend
        weights = None
        if impl == "explicit" or return_attention:
            out, weights = explicit_attention(q, k, v, key_mask, self.attn_dropout)
        else:
            mask = None if key_mask is None else _mask_for_heads(key_mask)  # (B, 1, 1 or M, T) bool
            p = self.attn_dropout.p if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, H, M, Dh)
        # 3) merge the heads and mix them
        out = out.transpose(1, 2).reshape(B, M, D)  # (B, M, D)
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
        self.dropout = BitDropout(cfg.dropout)

    def forward(self, x: Tensor, key_mask: Tensor | None = None, impl: AttentionImpl = "fused",
                return_attention: bool = False, x_q: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """(B, T, D) -> (B, T, D), plus this block's attention weights when asked.

        With `x_q` (B, M, D), some rows of `x`, the block computes its output only at those M
        positions: (B, M, D). Attention still reads keys and values from all T positions of `x`,
        and everything after attention is per position, so the M outputs equal the
        corresponding rows of the full output.
        """
        x_q = x if x_q is None else x_q
        if self.pre_ln:
            a, weights = self.attn(self.attn_norm(x_q), self.attn_norm(x), key_mask, impl, return_attention)
            h = x_q + self.dropout(a)
            h = h + self.dropout(self.ffn(self.ffn_norm(h)))
        else:
            a, weights = self.attn(x_q, x, key_mask, impl, return_attention)
            h = self.attn_norm(x_q + self.dropout(a))
            h = self.ffn_norm(h + self.dropout(self.ffn(h)))
        return h, weights


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
        self.dropout = BitDropout(cfg.dropout)
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
        """Turn bad input into an error that says what is allowed (not a deep torch trace).

        Value checks (ids inside the vocabulary) run only for CPU tensors, where they cost no
        device synchronisation (on a GPU an out-of-range id trips CUDA's own assertion), and not
        under vmap (`metalearn_edu.checks.values_checked_by_caller`).
        """
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
        for name, t in (("attention_mask", attention_mask), ("token_type_ids", token_type_ids)):
            if t is not None and tuple(t.shape) != (B, T):
                raise ValueError(f"{name} has shape {tuple(t.shape)} but input_ids has shape {(B, T)}")
        if input_ids.device.type != "cpu" or not reading_values_allowed():
            return
        lo, hi = int(input_ids.min()), int(input_ids.max())
        if lo < 0 or hi >= cfg.vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"input_ids contains token id {bad}, outside the vocabulary [0, {cfg.vocab_size}); "
                             "was the text encoded with a different tokenizer?")
        if token_type_ids is not None:
            lo, hi = int(token_type_ids.min()), int(token_type_ids.max())
            if lo < 0 or hi >= cfg.n_segments:
                raise ValueError(f"token_type_ids must lie in [0, n_segments={cfg.n_segments}); got {lo}..{hi}")

    def _impl(self, attention_impl: AttentionImpl | None) -> AttentionImpl:
        impl = attention_impl or self.attention_impl
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f"attention_impl={impl!r}; choose one of {ATTENTION_IMPLS}")
        return impl

    def embed(self, input_ids: Tensor, attention_mask: Tensor | None = None,
              token_type_ids: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Checked inputs -> the (B, T, D) embeddings and the (B, T) bool key mask (None: no padding)."""
        self._check_inputs(input_ids, attention_mask, token_type_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        key_mask = None if attention_mask is None else attention_mask.bool()
        return self.embeddings(input_ids, token_type_ids), key_mask

    def run_blocks(self, x: Tensor, key_mask: Tensor | None = None, start: int = 0, end: int | None = None,
                   attention_impl: AttentionImpl | None = None,
                   return_attention: bool = False) -> tuple[Tensor, list[Tensor], list[Tensor | None]]:
        """Blocks ``start … end−1`` on the hidden states entering block `start` (then the final norm, at the top).

        `forward` calls it with the embeddings (``start=0``); the few-shot test protocol calls it
        with ``end=k`` once per episode, then with stored hidden states and ``start=k`` to rerun only
        the top blocks at every inner step.

        Args:
            x: (B, T, D) hidden states entering block `start`.
            key_mask: (B, T) bool, True for real tokens; None = no padding.
            end: the block to stop before (None: run to the top and apply the final norm).

        Returns:
            The (B, T, D) states after block ``end − 1``, the output of every block that ran (the last
            one after the final norm of a pre-LN model), and their (B, H, T, T) attention weights (None
            each unless `return_attention`).
        """
        impl = self._impl(attention_impl)
        hidden, attentions = [], []
        for block in list(self.blocks)[start:end]:  # (a list: slicing a ModuleList builds a new module)
            x, weights = block(x, key_mask, impl, return_attention)
            hidden.append(x)
            attentions.append(weights)
        if end is None or end >= self.cfg.n_layers:
            x = self.final_norm(x)
            if hidden:
                hidden[-1] = x
        return x, hidden, attentions

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None,
                token_type_ids: Tensor | None = None, return_attention: bool = False,
                attention_impl: AttentionImpl | None = None, head: str | None = None,
                mlm_mask: Tensor | None = None) -> EncoderOutput:
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
                positions, giving (N, V) instead of (B, T, V). For training, prefer
                `masked_lm_logits`, which also runs the last block only there.

        Returns:
            An `EncoderOutput`.
        """
        x, key_mask = self.embed(input_ids, attention_mask, token_type_ids)  # (B, T, D)
        h, hidden, attentions = self.run_blocks(x, key_mask, 0, None, attention_impl, return_attention)
        out = EncoderOutput(hidden_states=h, all_hidden_states=(x, *hidden),
                            attentions=tuple(attentions) if return_attention else None)
        if head == "mlm":
            out.logits = self.mlm_head(h if mlm_mask is None else h[mlm_mask], self.embeddings.tok_emb.weight)
        elif head == "cls":
            out.logits = self.cls_head(h)
        elif head is not None:
            raise ValueError(f"head={head!r}; choose None or one of {HEADS}")
        return out

    def masked_lm_logits(self, input_ids: Tensor, mlm_mask: Tensor, attention_mask: Tensor | None = None,
                         token_type_ids: Tensor | None = None,
                         attention_impl: AttentionImpl | None = None) -> Tensor:
        """MLM logits at the masked positions, computing only what those logits need.

        Equal to ``forward(..., head="mlm", mlm_mask=mlm_mask).logits`` (logits and gradients;
        tested), with two shortcuts: 1) the vocabulary projection only at the N masked positions;
        2) the *last* block only there too. Its keys and values still come from every position,
        and everything after its attention is per position, so the outputs it skips could never
        reach the logits. At 15% masking this skips ~70% of the last block's work.

        Args:
            input_ids, attention_mask, token_type_ids, attention_impl: as in `forward`.
            mlm_mask: (B, T) bool, the positions to predict.

        Returns:
            (N, V) logits, rows in the order of ``input_ids[mlm_mask]``.
        """
        x, key_mask = self.embed(input_ids, attention_mask, token_type_ids)  # (B, T, D)
        impl = self._impl(attention_impl)
        x = self.run_blocks(x, key_mask, 0, self.cfg.n_layers - 1, impl)[0]  # every block but the last
        index, valid = masked_position_index(mlm_mask)  # (B, M) each
        if index.shape[1] == 0:  # nothing masked: no logits (but still a graph to the head)
            h = x.new_zeros(0, x.shape[-1])
        else:
            x_q = x.gather(1, index[..., None].expand(-1, -1, x.shape[-1]))  # (B, M, D)
            h = self.blocks[-1](x, key_mask, impl, x_q=x_q)[0][valid]  # (B, M, D) -> (N, D)
        return self.mlm_head(self.final_norm(h), self.embeddings.tok_emb.weight)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Parameter count (the tied embedding counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
