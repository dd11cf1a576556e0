# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 2 — Masked-language-model pretraining
#
# **Learning goals.** By the end of this chapter you can
# 1. write down the masked-language-model (MLM) objective and say which tokens it is computed on;
# 2. explain BERT's 80/10/10 corruption rule and check its statistics;
# 3. judge a language model's loss against the right baseline (a model that only knows word
#    frequencies) and convert between loss, perplexity and accuracy;
# 4. run a pretraining loop, read its curves, and know what checkpoints and resuming buy you;
# 5. see what pretraining does to attention: structure emerges from nothing.

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
import math

import torch
import torch.nn.functional as F

from metalearn_edu import viz
from metalearn_edu.analysis import count_tokens, find_heads, model_attention_stats, unigram_log_probs
from metalearn_edu.config import get_preset, model_config
from metalearn_edu.data import bbc_splits, load_tokenizer, split_sentences
from metalearn_edu.exercises import check_perplexity_ratio
from metalearn_edu.masking import MaskingConfig, MaskingVocab, mask_tokens
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrain import PretrainConfig, evaluate_mlm, pack_blocks, pretrain
from metalearn_edu.pretrained import fill_mask, load_pretrained
from metalearn_edu.runtime import pick_device, seed_everything

seed_everything(0)
tokenizer = load_tokenizer()
vocab = MaskingVocab.from_tokenizer(tokenizer)
splits = bbc_splits()

# %%
# NBVAL_IGNORE_OUTPUT
preset = get_preset()
device = pick_device()
print(f"preset {preset.name}: {preset.pretrain_steps} live pretraining steps of {preset.batch_size} × "
      f"{preset.seq_len} tokens on {device}")

# %% [markdown]
# ## 1. The objective
#
# Take a sentence $x = (x_1, \dots, x_T)$, choose a random set $M$ of positions, corrupt them to
# get $\tilde x$, and train the encoder to recover the originals:
#
# $$\mathcal L_{\text{MLM}}(\theta) = -\frac{1}{|M|} \sum_{i \in M} \log p_\theta\big(x_i \,\big|\, \tilde x\big),
# \qquad p_\theta(\cdot \mid \tilde x) = \operatorname{softmax}\big(W_E\, h_i + b\big).$$
#
# $h_i$ is the encoder's final hidden state at position $i$ after the MLM head's transform, and
# $W_E$ is the token-embedding matrix, reused as the output layer. Because the encoder sees the
# whole (corrupted) sentence, it must use context on **both** sides: this is what makes BERT a
# bidirectional model, unlike a left-to-right language model.
#
# Two details matter in practice:
#
# * The loss is computed **only at positions in $M$** (labels are $-100$ elsewhere, which
#   `cross_entropy` ignores). So the vocabulary projection — the biggest matrix multiply in a
#   small model — is needed only there; our training loop projects just those ~15% of positions.
# * **Which** corruption: BERT selects 15% of the (non-special) tokens; of those, 80% become
#   `[MASK]`, 10% a random token, 10% stay unchanged. The random and unchanged cases stop the
#   model from learning "only `[MASK]` positions need a good representation", since `[MASK]`
#   never appears when the model is later used on real text.

# %%
sentence = "The chancellor said the economy would grow faster than expected next year, despite higher oil prices."
enc = tokenizer(sentence, return_tensors="pt")
masked = mask_tokens(enc["input_ids"], vocab, MaskingConfig(mask_prob=0.3),   # 30% here, so the picture has several
                     generator=torch.Generator().manual_seed(4))
tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
fig = viz.plot_masking(tokens, masked, index=0,
                       corrupted_tokens=tokenizer.convert_ids_to_tokens(masked.input_ids[0]),
                       title="BERT's corruption of one sentence (mask rate 30% for the picture)")
fig

# %% [markdown]
# On a large sample the proportions must come out right. This check would fail if the masking
# code selected special tokens, or split the 80/10/10 wrongly:

# %%
blocks = pack_blocks([d.text for d in splits["train"][:300]], tokenizer, seq_len=128)
big = mask_tokens(blocks, vocab, MaskingConfig(), generator=torch.Generator().manual_seed(0))
eligible = ~torch.isin(blocks, torch.tensor(vocab.special_ids))
n_selected = int(big.selected.sum())
fractions = {
    "selected / eligible": n_selected / int(eligible.sum()),
    "[MASK] / selected": int(big.masked.sum()) / n_selected,
    "random / selected": int(big.randomized.sum()) / n_selected,
    "kept / selected": int(big.kept.sum()) / n_selected,
}
for name, value in fractions.items():
    print(f"{name:>20}: {value:.2f}")
assert not big.selected[~eligible].any(), "special tokens must never be selected"
assert abs(fractions["selected / eligible"] - 0.15) < 0.01 and abs(fractions["[MASK] / selected"] - 0.8) < 0.01

# %% [markdown]
# ## 2. The baseline every language model must beat
#
# A model that ignores context can still predict frequent words: if it always outputs the
# training-set word frequencies $p_{\text{uni}}(w)$, its loss on the masked tokens is
# $-\frac{1}{|M|}\sum_{i\in M} \log p_{\text{uni}}(x_i)$. Anything a model learns **beyond** this
# number comes from context. We also report **perplexity** $= e^{\mathcal L}$ (the effective
# number of equally likely choices) and top-1/top-5 accuracy at the masked positions.

# %%
train_blocks = pack_blocks([d.text for d in splits["train"]], tokenizer, preset.seq_len)
eval_blocks = pack_blocks([d.text for d in splits["val"]], tokenizer, preset.seq_len)[:128]
counts = count_tokens(train_blocks, vocab.vocab_size, ignore_ids=vocab.special_ids)
log_uni = unigram_log_probs(counts)
untrained = BertEncoder(model_config(preset.model_size, vocab_size=len(tokenizer), max_len=preset.seq_len,
                                     pre_ln=True, attn_dropout=0.0))
before = evaluate_mlm(untrained, eval_blocks, vocab, log_uni, precision="fp32")
print(f"unigram baseline: loss {before['unigram_loss']:.2f} nats = perplexity {math.exp(before['unigram_loss']):.0f}")
print(f"untrained model:  loss {before['loss']:.2f} nats ≈ log(vocab) = {math.log(len(tokenizer)):.2f}")

# %% [markdown]
# An untrained model spreads its probability almost evenly over all 8,000 pieces, so its loss is
# about $\log 8000 \approx 9.0$. The unigram baseline is far better: word frequencies alone are
# worth about two nats.
#
# ## 3. A short live run
#
# `pretrain` is a plain PyTorch loop: take the step's batch of packed blocks of `preset.seq_len`
# tokens (the corpus, concatenated and cut, so no position is wasted on padding), mask it afresh, compute the
# loss at the masked positions, backpropagate, clip the gradient norm, take an AdamW step, and
# follow a learning-rate schedule (linear warm-up, then cosine decay). It evaluates on held-out
# blocks every few steps. The run below is short (the `ci` preset takes a minute), and it shows
# only the first of the two phases every small MLM goes through: a fast drop towards the unigram
# plateau (the model learns word frequencies). The second, a slower descent below the plateau (it
# learns to use context), takes thousands of steps; the shipped checkpoint's curves in section 4
# show it.

# %%
# NBVAL_IGNORE_OUTPUT
seed_everything(0)
live = BertEncoder(model_config(preset.model_size, vocab_size=len(tokenizer), max_len=preset.seq_len,
                                pre_ln=True, attn_dropout=0.0)).to(device)
live_cfg = PretrainConfig(steps=preset.pretrain_steps, batch_size=preset.batch_size, lr=2e-3,
                          warmup_steps=max(1, preset.pretrain_steps // 10), eval_every=max(1, preset.pretrain_steps // 4),
                          precision="fp32", seed=0)
live_history = pretrain(live, train_blocks, eval_blocks, vocab, live_cfg)

# %%
assert live_history.eval_loss[-1] < before["loss"] - 1.0, "a working training loop lowers the held-out loss"
print(f"held-out loss: {before['loss']:.1f} before → {live_history.eval_loss[-1]:.1f} after "
      f"{live_history.step[-1]} steps (unigram {live_history.unigram_loss[-1]:.1f})")

# %%
fig = viz.plot_training(live_history, title=f"A live {preset.name}-preset run")
fig

# %% [markdown]
# A run this short stays above the unigram line. To see what longer training
# buys, the course ships a checkpoint pretrained for about 20 minutes on a 2-core CPU (the
# commands that made it are in the README). **Interrupting is safe**: `pretrain(..., out_dir=...)` writes
# checkpoints atomically (a temporary file, then a rename), Ctrl-C saves one before stopping, and
# running the same call again resumes exactly where it stopped.
#
# ## 4. The shipped checkpoint

#
# It was trained in **two phases**, and the reason is one of the most instructive things in this
# course. Our first attempt trained the same model on 128-token blocks from the start: after
# 9,000 steps (50 minutes) its held-out loss had crept down to 0.90 nats below the unigram
# baseline and stalled, and every head still spread its attention evenly over the positions
# (mean attention to the previous token 0.03, the same as to any other position). The model had
# learned a *bag of words*: which words occur near the blank, not where. Learning "look one
# position to the left" means discovering a direction in the position embeddings and in
# $W^Q, W^K$ at the same time, and the signal for it is weak when each query spreads its
# attention over 128 keys: the gradient that favours the right key is roughly proportional to the
# weight it already gets, about $1/T$. With 32-token blocks the signal is four times stronger.
# BERT itself trained most of its steps on short sequences (for speed); here short blocks are
# what starts positional attention at all within our budget. Phase 1 (32-token blocks) shows a
# plateau near the unigram line and then a sudden drop in the loss; the cell also prints how much
# attention the most positional heads pay to the previous and the next token at its end:

# %%
import json

model, tokenizer, info = load_pretrained("mlm-micro")
phase1 = json.loads((info["path"].parent / "phase1_history.json").read_text())
p1 = json.loads((info["path"].parent / "phase1_metrics.json").read_text())
print(f"end of phase 1: the most previous-token head puts {p1['max_prev']:.2f} of its attention on the previous "
      f"token, the most next-token head {p1['max_next']:.2f} on the next (the stalled 128-token run: 0.03)")
fig = viz.plot_training(phase1, title="Phase 1 (32-token blocks): the plateau, then a sudden drop")
fig

# %% [markdown]
# Phase 2 continues from phase 1's weights on full 128-token blocks, so that every row of the
# position table is trained and the model uses longer context; by its end two heads put more than
# half of their attention on the previous or the next token (section 5 measures them):

# %%
m = info["metrics"]
print(f"{model.cfg.n_layers} layers × d_model {model.cfg.d_model}, {model.num_parameters() / 1e6:.1f} M parameters; "
      f"phase 1: {p1['steps']} steps, {p1['tokens'] / 1e6:.0f} M tokens; phase 2: {m['steps']} steps, "
      f"{m['tokens'] / 1e6:.0f} M tokens")
print(f"held-out MLM loss {m['loss']:.2f} vs unigram {m['unigram_loss']:.2f}: "
      f"{m['unigram_loss'] - m['loss']:.2f} nats better; perplexity {m['perplexity']:.0f}; "
      f"top-1 {m['top1']:.1%}, top-5 {m['top5']:.1%}")
assert m["loss"] <= m["unigram_loss"] - 1.0

# %%
fig = viz.plot_training(info["history"], title="Phase 2 (128-token blocks), from phase 1's weights")
fig

# %% [markdown]
# What does a model with this loss know? Ask it to fill in blanks:

# %%
for text in ["the prime [MASK] said the election would be held in may.",
             "shares in the [MASK] fell sharply after the profit warning.",
             "the film won the award for best [MASK] at the ceremony."]:
    guesses = fill_mask(model, tokenizer, text, top_k=5)[0]
    print(f"{text}\n    → " + ", ".join(f"{t} ({p:.2f})" for t, p in guesses))

# %% [markdown]
# And on a held-out sentence, the checkpoint's guesses at each corrupted position (green bar:
# the right answer):

# %%
held_out = split_sentences(splits["test"][3].text)[1]
enc = tokenizer(held_out, return_tensors="pt", truncation=True, max_length=48)
masked = mask_tokens(enc["input_ids"], vocab, MaskingConfig(mask_prob=0.2), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    logits = model(masked.input_ids, head="mlm", mlm_mask=masked.selected).logits.softmax(-1)
top = logits.topk(5, dim=-1)
guesses = [[(tokenizer.convert_ids_to_tokens(int(i)), float(p)) for p, i in zip(ps, ix)]
           for ps, ix in zip(top.values, top.indices)]
fig = viz.plot_masking(tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), masked, index=0,
                       corrupted_tokens=tokenizer.convert_ids_to_tokens(masked.input_ids[0]), guesses=guesses)
fig

# %% [markdown]
# ## 5. Attention before and after pretraining
#
# In chapter 1, MiniLM had heads that attend to the previous or the next token. Does our small
# model, trained on 0.9 M tokens of news (seen about 20 times), learn such heads? We measure the
# same statistics over held-out sentences for the untrained model and the checkpoint:

# %%
sentences = [s for d in splits["val"][:12] for s in split_sentences(d.text)][:120]
stats_before = model_attention_stats(BertEncoder(model.cfg), tokenizer, sentences)
stats_after = model_attention_stats(model, tokenizer, sentences)
prev_heads, next_heads = find_heads(stats_after, "prev", 0.5), find_heads(stats_after, "next", 0.5)
print("max attention to the previous token, untrained → trained:",
      f"{stats_before['prev'].max():.2f} → {stats_after['prev'].max():.2f}")
print("previous-token heads (layer, head):", prev_heads)
print("next-token heads (layer, head):    ", next_heads)
assert len(prev_heads) + len(next_heads) >= 2

# %%
fig = viz.plot_head_summary_compare({"untrained": stats_before, "pretrained (shipped)": stats_after}, key="prev")
fig

# %%
fig = viz.plot_head_summary(stats_after, title="The shipped checkpoint: what each head attends to")
fig

# %% [markdown]
# ## Try the sliders
#
# The masking playground corrupts a sentence with the rates you choose and shows the shipped
# model's top-5 guesses at every target. Try a 50% mask rate: how fast do the guesses degrade
# when most of the context is gone? And set [MASK] to 0% and random to 100%: can the model still
# tell which tokens were replaced? (Static picture first.)

# %%
from metalearn_edu.widgets import masking_playground, render_masking

fig = render_masking(model, tokenizer, "shares in the bank fell sharply after it warned that profits would be lower.",
                     mask_prob=0.3, mask_token_frac=0.8, random_token_frac=0.1, seed=0)
fig

# %%
# NBVAL_IGNORE_OUTPUT
masking_playground(model, tokenizer)

# %% [markdown]
# ## Summary
#
# * MLM pretraining hides ~15% of the tokens (80% `[MASK]`, 10% random, 10% unchanged) and trains
#   the encoder to predict them from both sides' context; the loss is computed only there.
# * Judge a language model against the **unigram baseline**: the loss of predicting word
#   frequencies. An untrained model is *worse* than it (≈ log V); learning word frequencies takes
#   a few hundred steps; going below it means the model uses context.
# * Loss $\mathcal L$ in nats ↔ perplexity $e^{\mathcal L}$; top-1/top-5 accuracy at the masked
#   positions is the most readable number.
# * Pretraining turns near-uniform attention into structured heads, such as heads that look at
#   the previous or next token, as in BERT — but not automatically: on long blocks our small
#   model stalled at a bag-of-words solution; short blocks first started positional attention
#   (with a sudden drop in the loss), and longer blocks then made it clear-cut.
#
# ## Exercises
#
# **2.1 Perplexity.** The shipped checkpoint's loss is in `info["metrics"]["loss"]`. By what
# factor is its perplexity lower than the unigram baseline's? Write the one-line formula, then
# `check_perplexity_ratio(your_ratio, info["metrics"])`.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 2.1: perplexity ratio = exp(L_uni) / exp(L) = exp(L_uni − L)
ratio = math.exp(m["unigram_loss"] - m["loss"])
check_perplexity_ratio(ratio, m)

# %% [markdown]
# **2.2 Why not 100% `[MASK]`?** Set `MaskingConfig(mask_token_frac=1.0, random_token_frac=0.0)`
# and evaluate the shipped checkpoint with it (`evaluate_mlm(..., masking=...)`). Is the loss
# higher or lower than with 80/10/10? Explain what the 10% random and 10% unchanged cases make
# the model learn that pure `[MASK]` training would not.
#
# **2.3 Whole-word masking.** With `MaskingConfig(whole_word=True)` all pieces of a word are
# masked together. Why does this make the task harder for words split into several pieces?
# Find a word in the corpus that our tokenizer splits, and show the two maskings side by side
# with `viz.plot_masking`.
#
# ## References
#
# * Devlin et al. 2019, *BERT* (the MLM objective and the 80/10/10 rule).
# * Liu et al. 2019, *RoBERTa* (dynamic masking and full-sentence packing, as used here).
# * Xiong et al. 2020, *On Layer Normalization in the Transformer Architecture* (why pre-LN trains
#   more easily).
# * Clark et al. 2019, *What Does BERT Look At?*
