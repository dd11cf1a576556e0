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
# # Chapter 2 — Masked-language-model pretraining
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/02_masked_language_modelling.ipynb)
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

from metalearn_edu import viz
from metalearn_edu.analysis import count_tokens, find_heads, model_attention_stats, unigram_log_probs
from metalearn_edu.config import get_preset, model_config
from metalearn_edu.data import bbc_splits, load_tokenizer, split_sentences
from metalearn_edu.masking import MaskingConfig, MaskingVocab, mask_tokens
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrain import PretrainConfig, evaluate_mlm, pack_blocks, pretrain
from metalearn_edu.pretrained import fill_mask, load_pretrained, mask_guesses
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
# blocks every few steps. The batches and the masks of step $s$ are drawn from generators seeded
# by (seed, $s$) (`metalearn_edu.runtime.derived_generator`), so a run is reproducible and can be
# resumed exactly. The run below is short (the `ci` preset takes well under a minute) and shows only
# the beginning: the fast fall from $\log V$ towards the unigram line, while the model learns word
# frequencies; the cell after the curve checks that this is what it learned. Going below the line,
# which means using context, takes more steps; section 4's curves show it.

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
# A run this short does not get below the unigram line. What *has* it learned, then? The claim
# above is "word frequencies", and it can be checked. Average the model's predicted distribution
# over all the blanks of the held-out blocks, $\bar p(w) = \frac{1}{|M|}\sum_{i \in M} p_\theta(w \mid
# \text{context}_i)$: a model that knows only frequencies predicts the same distribution at every
# blank, and the best such distribution is the unigram one. The Kullback–Leibler divergence
# $\mathrm{KL}(p_{\text{uni}} \,\|\, \bar p) = \sum_w p_{\text{uni}}(w) \log \frac{p_{\text{uni}}(w)}{\bar p(w)}$
# (zero when they agree) measures how far the model's average guess is from it. And its top-1
# accuracy should be close to that of the simplest frequency strategy: always guess the most common
# piece.

# %%
from metalearn_edu.pretrain import mlm_logits

fixed = mask_tokens(eval_blocks, vocab, MaskingConfig(), generator=torch.Generator().manual_seed(1234))
targets = fixed.labels[fixed.labels != -100]
most_common = int(torch.bincount(targets, minlength=len(tokenizer)).argmax())
always = float((targets == most_common).float().mean())      # top-1 of "always guess the most common piece"


def mean_prediction(model):
    """p̄: the model's predicted distribution averaged over every blank of the held-out blocks, (V,)."""
    with torch.no_grad():
        logits, _ = mlm_logits(model.eval(), fixed.input_ids.to(device), fixed.labels.to(device))
    return logits.softmax(-1).mean(0).cpu()


p_uni = log_uni.exp()                                          # the unigram distribution, (V,)
kl = {name: float((p_uni * (log_uni - mean_prediction(m).log())).sum()) for name, m in (("before", untrained),
                                                                                         ("after", live))}
print(f"KL(unigram ‖ average prediction): {kl['before']:.2f} nats untrained → {kl['after']:.2f} after "
      f"{live_history.step[-1]} steps")
print(f"top-1 accuracy after the run: {live_history.eval_top1[-1]:.3f}; always guessing the most common piece "
      f"'{tokenizer.convert_ids_to_tokens(most_common)}': {always:.3f}")
assert kl["after"] < kl["before"] / 3, "the short run learns the word frequencies"
assert live_history.eval_top1[-1] >= always - 0.005

# %% [markdown]
# The average guess has moved most of the way to the unigram distribution, and the top-1 accuracy
# is what always guessing the most common piece scores: the signature of a model that has learned
# *which* words are frequent and not yet *where* they fit. Using the context is the next, slower
# stage; section 4's curves show how many steps it took the shipped model (its phase 1 falls below
# the unigram line after fewer than two hundred steps of 4,096 tokens each, about ten times this
# run's budget in tokens).
#
# %% [markdown]
# To see what longer training buys, the course ships a checkpoint pretrained for about twenty
# minutes on a 2-core CPU (section 4 prints the times; the commands that made it are in the README).
#
# **Interrupting is safe.** With `pretrain(..., out_dir=...)` the loop writes checkpoints atomically
# (a temporary file, then a rename) holding the weights, AdamW's moments, the schedule, the random
# number generators' states and the history. Ctrl-C does not stop a step half-way: the step
# finishes, a checkpoint is written, and `TrainingInterrupted` is raised. Running the same call
# again resumes from it. Because the batch and the masks of step $s$ are functions of (seed, $s$),
# the resumed run should take *exactly* the steps the uninterrupted one takes. Let us check that
# claim rather than believe it: train a small model for 24 steps in one go; then train the same
# model again, pressing "Ctrl-C" from code (a real SIGINT, sent to this process) after step 10, and
# resume.

# %%
# NBVAL_IGNORE_OUTPUT
import signal
import tempfile

from metalearn_edu.pretrain import TrainingInterrupted


def small_model():
    seed_everything(1)
    return BertEncoder(model_config("nano", vocab_size=len(tokenizer), max_len=32, pre_ln=True, attn_dropout=0.0,
                                    dropout=0.1))          # dropout on, so the RNG state matters too


short_blocks = pack_blocks([d.text for d in splits["train"][:400]], tokenizer, 32)
short_eval = pack_blocks([d.text for d in splits["val"][:40]], tokenizer, 32)[:16]
demo_cfg = PretrainConfig(steps=24, batch_size=16, lr=2e-3, warmup_steps=4, eval_every=12, precision="fp32", seed=0)
straight = small_model()
straight_history = pretrain(straight, short_blocks, short_eval, vocab, demo_cfg, progress=False, log=None)


def press_ctrl_c(step):
    if step == 10:
        signal.raise_signal(signal.SIGINT)   # what Ctrl-C does: the loop finishes step 10, saves and stops


run_dir = tempfile.mkdtemp()
interrupted = small_model()
try:
    pretrain(interrupted, short_blocks, short_eval, vocab, demo_cfg, out_dir=run_dir, progress=False,
             log=print, on_step=press_ctrl_c)
except TrainingInterrupted as stop:
    print("caught:", stop)
resumed = small_model()                      # a fresh process would start from scratch like this
resumed_history = pretrain(resumed, short_blocks, short_eval, vocab, demo_cfg, out_dir=run_dir,
                           progress=False, log=print)

# %%
same_losses = resumed_history.train_loss == straight_history.train_loss
same_weights = all(torch.equal(p, q) for p, q in zip(straight.parameters(), resumed.parameters()))
print(f"resumed run: {len(resumed_history.train_loss)} steps recorded, the same losses as the uninterrupted run: "
      f"{same_losses}; the same final weights, bit for bit: {same_weights}")
assert same_losses and same_weights

# %% [markdown]
# The history saved with the checkpoint holds steps 1–10, and the resumed run appends steps
# 11–24 that are identical, bit for bit, to the uninterrupted run's, because everything random
# (batches, masks, dropout) is either a function of the step number or restored from the
# checkpoint. This is what lets a long pretraining run on a laptop survive a closed lid.
#
# ## 4. The shipped checkpoint
#
# It was trained in **two phases**, and the reason is one of the most instructive things in this
# course. The obvious recipe — train on full 128-token blocks from the start — works badly for a
# model this small on this budget. `benchmarks/plateau.py` ran it for the same 3,000 steps and the
# same 4,096 tokens per step as phase 1 below (32 blocks of 128 tokens instead of 128 blocks of 32),
# and stored the result; the next cell prints it beside phase 1 (each measured on held-out blocks of
# its own length). Its held-out loss crept down to under a nat below the unigram baseline and all
# but stalled there, while every head still spread its attention evenly over the positions. The model had learned a *bag of words*: which words occur
# near the blank, not where.
#
# Why would short blocks help? Here is a **hypothesis**, not something this chapter tests: learning
# "look one position to the left" means discovering a direction in the position embeddings and in
# $W^Q, W^K$ at the same time, and at the start every query spreads its attention almost evenly
# over all $T$ keys, so the gradient that favours the right key is roughly proportional to the
# weight it already gets, about $1/T$. With $T = 32$ that signal would be four times stronger than
# with $T = 128$. (Exercise 2.6 asks you to measure it.) BERT itself trained most of its steps on
# short sequences, for speed; here, short blocks are what starts positional attention at all
# within our budget.
#
# **Phase 1** (32-token blocks, from random weights): the cell prints where its training loss first
# falls below the unigram line, the held-out loss every 500 steps, and how much attention the most
# positional heads pay to the previous and the next token at its end.

# %%
import json

from metalearn_edu.data import DATA_DIR

model, tokenizer, info = load_pretrained("mlm-micro")
folder = info["path"].parent
phase1 = json.loads((folder / "phase1_history.json").read_text())
p1 = json.loads((folder / "phase1_metrics.json").read_text())
phase2 = info["history"]
experiment = json.loads((DATA_DIR.parent / "benchmarks" / "results" / "plateau.json").read_text())
first = experiment["first_attempt"]   # 128-token blocks from the start, same steps and tokens per step as phase 1


def mean_loss(history, first, last):
    """Mean training loss over steps first..last (1-based, inclusive)."""
    values = history["train_loss"][first - 1:last]
    return sum(values) / len(values)


unigram1 = phase1["unigram_loss"][-1]
window = 25
crossing = next(step for step in range(window, len(phase1["train_loss"]) + 1)
                if mean_loss(phase1, step - window + 1, step) < unigram1)
f, n1 = first["metrics"], first["eval_step"][-1]
print(f"128-token blocks from the start: after {n1:,} steps ({f['tokens'] / 1e6:.1f} M tokens) the held-out loss is "
      f"{f['loss']:.2f}, {f['unigram_loss'] - f['loss']:.2f} nats below unigram ({f['unigram_loss']:.2f}); the most "
      f"previous-token head puts {f['max_prev']:.2f} of its attention on the previous token, the most next-token head "
      f"{f['max_next']:.2f} on the next")
print(f"32-token blocks (phase 1): after {p1['steps']:,} steps ({p1['tokens'] / 1e6:.1f} M tokens) the held-out loss is "
      f"{p1['loss']:.2f}, {p1['unigram_loss'] - p1['loss']:.2f} nats below unigram; previous-token head "
      f"{p1['max_prev']:.2f}, next-token head {p1['max_next']:.2f}")
print("held-out loss of the 128-token run along the way: "
      + ", ".join(f"{l:.2f} at {s:,}" for s, l in zip(first["eval_step"], first["eval_loss"]) if s % 500 == 0))
assert f["tokens"] == p1["tokens"] and f["max_prev"] < 0.5 * p1["max_prev"], "same tokens; only short blocks form heads"
print(f"phase 1: the {window}-step mean training loss is below the unigram loss ({unigram1:.2f}) from step {crossing}")
print("phase 1 held-out loss:", ", ".join(f"{l:.2f} at {s:,}" for s, l in zip(phase1["eval_step"], phase1["eval_loss"])
                                         if s % 500 == 0 or s == 250))
print(f"end of phase 1: the most previous-token head puts {p1['max_prev']:.2f} of its attention on the previous "
      f"token, the most next-token head {p1['max_next']:.2f} on the next")
fig = viz.plot_training(phase1, title="Phase 1 (32-token blocks): below the unigram line early, no plateau there")
fig

# %% [markdown]
# There is no plateau at the unigram line in phase 1: the loss crosses it within the first couple
# of hundred steps (word frequencies are quick to learn) and keeps falling — slowly at first, then
# faster between steps 1,500 and 2,500 (compare the held-out losses above), as the positional
# heads form; by the end of the phase they are clearly there, if not yet above 0.5.
#
# **Phase 2** continues from phase 1's weights on full 128-token blocks, so that every row of the
# position table is trained and the model uses longer context. Its curve is the surprising one:

# %%
block2 = phase2["tokens"][0] // info["pretrain_config"]["batch_size"]
end1, start2 = mean_loss(phase1, 2901, 3000), mean_loss(phase2, 1, 25)
plateau, after = mean_loss(phase2, 51, 300), mean_loss(phase2, 501, 550)
print(f"phase 2 blocks: {block2} tokens; phase 1 ended at a training loss of {end1:.2f} (steps 2,901–3,000), phase 2 "
      f"starts at {start2:.2f} (steps 1–25): {start2 - end1:+.2f} nats")
print(f"phase 2 plateau: {plateau:.2f} over steps 51–300; {after:.2f} over steps 501–550 ({after - plateau:+.2f} nats)")
m = info["metrics"]
print(f"{model.cfg.n_layers} layers × d_model {model.cfg.d_model}, {model.num_parameters() / 1e6:.1f} M parameters; "
      f"phase 1: {p1['steps']} steps, {p1['tokens'] / 1e6:.0f} M tokens, {p1['train_time_s'] / 60:.0f} min; "
      f"phase 2: {m['steps']} steps, {m['tokens'] / 1e6:.0f} M tokens, {m['train_time_s'] / 60:.0f} min")
print(f"the training split holds {train_blocks.numel() / 1e6:.2f} M tokens: the two phases read it about "
      f"{(p1['tokens'] + m['tokens']) / train_blocks.numel():.0f} times")
print(f"held-out MLM loss {m['loss']:.2f} vs unigram {m['unigram_loss']:.2f}: "
      f"{m['unigram_loss'] - m['loss']:.2f} nats better; perplexity {m['perplexity']:.0f}; "
      f"top-1 {m['top1']:.1%}, top-5 {m['top5']:.1%}")
assert start2 - end1 > 0.5 and plateau - after > 0.5, "phase 2 starts high, sits on a plateau, then drops"
assert m["loss"] <= m["unigram_loss"] - 1.0

# %%
fig = viz.plot_training(phase2, title="Phase 2 (128-token blocks), from phase 1's weights: a plateau, then a drop")
fig

# %% [markdown]
# Two things need explaining: why phase 2 starts more than half a nat *above* where phase 1
# ended, although the model is the same and only the blocks got longer; and why it then sits on a
# plateau for a few hundred steps before dropping. Two explanations fit the curve, and they make
# different predictions.
#
# * **Positions.** The position table has one learned row per position, and phase 1 only ever used
#   rows 0–31: rows 32–127 never received a gradient and are still the random vectors they were
#   initialised with (shrunk a little by weight decay). Three quarters of the positions of a
#   128-token block carry position vectors the model has never seen, and everything it learned
#   about *where* (the previous- and next-token heads work through $q_i \cdot k_j$ of those vectors)
#   fails there. The plateau would last until the new rows have been pulled into the geometry of the
#   first 32. *Prediction:* at the start of phase 2 the loss is high at positions 32–127 but not at
#   0–31, and giving rows 32–127 sensible values (a copy of rows 0–31) removes the jump and the
#   plateau.
# * **The optimiser restart.** Phase 2 starts a fresh AdamW, whose moment estimates are zero, and
#   warms the learning rate up again to $10^{-3}$, five times the $2 \cdot 10^{-4}$ at which phase 1
#   ended. A kick like that can knock a model out of its minimum and cost a few hundred steps to
#   recover. *Prediction:* keeping phase 1's AdamW moments and skipping the warm-up removes the
#   plateau, and the loss at positions 0–31 rises at the start as much as at 32–127.
#
# `benchmarks/plateau.py` tests both. It rebuilds phase 1 with the README's command (keeping its
# checkpoint, AdamW's moments included), then runs the first 500 steps of phase 2's schedule from
# it four ways — as shipped; with rows 32–127 of the position table set to rows 0–31 (repeated);
# with phase 1's AdamW moments and no new warm-up; and with both changes — each with two seeds (the
# seed picks the batches and the masks). Every 25 steps it measures the held-out MLM loss on fixed
# masks, separately at positions 0–31 and at positions 32–127.

# %%
runs = experiment["runs"]
CONDITIONS = {"shipped": "as shipped", "positions_copied": "rows 32–127 copied from 0–31",
              "optimizer_kept": "phase 1's AdamW, no warm-up", "both": "both changes"}
rebuilt = experiment["phase1"]
print(f"phase 1 rebuilt with the README's command: held-out loss {rebuilt['metrics']['loss']:.2f} (shipped phase 1: "
      f"{p1['loss']:.2f}); previous-token head {rebuilt['metrics']['max_prev']:.2f}, next-token head "
      f"{rebuilt['metrics']['max_next']:.2f}")


def seeds_of(condition):
    return [r for r in runs.values() if r["condition"] == condition]


def running_mean(values, window=25):
    return [sum(values[i - window:i]) / window for i in range(window, len(values) + 1)]


panels = {"training loss (25-step mean)": {}, "held-out loss, positions 0–31": {},
          "held-out loss, positions 32–127": {}}
for condition, label in CONDITIONS.items():
    group = seeds_of(condition)
    smooth = [running_mean(r["train_loss"]) for r in group]
    panels["training loss (25-step mean)"][label] = {"x": list(range(25, len(group[0]["train_loss"]) + 1)),
                                                    "values": smooth}
    panels["held-out loss, positions 0–31"][label] = {"x": group[0]["eval"]["step"],
                                                     "values": [r["eval"]["short"] for r in group]}
    panels["held-out loss, positions 32–127"][label] = {"x": group[0]["eval"]["step"],
                                                       "values": [r["eval"]["long"] for r in group]}
fig = viz.plot_runs_by_condition(panels, "MLM loss (nats)", xlabel="phase-2 step",
                                 title="The first 500 steps of phase 2, four ways",
                                 note=f"{len(seeds_of('shipped'))} seeds each: the line is their mean, the band "
                                      "spans them")
fig

# %% [markdown]
# Three numbers per condition summarise the panels (each the mean over the seeds): the **gap** at
# the start between the held-out loss at positions 32–127 and at 0–31; how much the loss at the
# positions phase 1 trained (0–31) **rises** during the first 100 steps (the damage an optimiser
# kick would do); and the **steps to the drop**: the first evaluation at which the loss at positions
# 32–127 is half a nat below its value at step 50.

# %%
def mean_over_seeds(condition, key):
    group = seeds_of(condition)
    return [sum(r["eval"][key][i] for r in group) / len(group) for i in range(len(group[0]["eval"]["step"]))]


steps = seeds_of("shipped")[0]["eval"]["step"]
summary = {}
for condition, label in CONDITIONS.items():
    long, short = mean_over_seeds(condition, "long"), mean_over_seeds(condition, "short")
    at50 = long[steps.index(50)]
    drop = next((s for s, v in zip(steps, long) if s > 50 and v < at50 - 0.5), None)
    summary[condition] = {"gap": long[0] - short[0], "rise": max(short[1:steps.index(100) + 1]) - short[0],
                          "drop": drop, "long_end": long[-1], "short_end": short[-1]}
    c = summary[condition]
    print(f"{label:>30}: gap {c['gap']:+.2f}, rise at 0–31 {c['rise']:+.2f}, drop at step "
          f"{c['drop'] if c['drop'] is not None else '> ' + str(steps[-1])}; after {steps[-1]} steps "
          f"{c['long_end']:.2f} (32–127) and {c['short_end']:.2f} (0–31)")

# %%
shipped, copied, kept, both = (summary[c] for c in CONDITIONS)
# the jump is at the positions phase 1 never saw; the restart does not knock the trained positions back
assert shipped["gap"] > 1.5 and shipped["rise"] < 0.05
# keeping the optimiser leaves the jump and the plateau in place, and brings the drop forward a little
assert abs(kept["gap"] - shipped["gap"]) < 0.1 and 250 <= kept["drop"] <= shipped["drop"]
# trained values in rows 32–127 remove the gap and shorten the plateau to less than half
assert abs(copied["gap"]) < 0.2 and copied["drop"] <= shipped["drop"] / 2 and abs(both["gap"]) < 0.2
# ... but a copy is not free: at first the positions phase 1 trained get worse
assert min(r["eval"]["short"][0] for r in seeds_of("positions_copied")) > shipped["short_end"] + 1.0

# %% [markdown]
# What the experiment says (the cell above checks each statement against the stored runs):
#
# * **The jump is the new positions.** At the start of phase 2 the held-out loss at positions
#   32–127 is almost two nats above the loss at positions 0–31, and the loss at 0–31 does not rise
#   at all in the first hundred steps: the fresh optimiser and its warm-up do not knock the model out
#   of what it learned. The jump in the training curve is the average of a good 0–31 and a bad
#   32–127.
# * **The plateau is the new positions too.** Keeping phase 1's AdamW moments and skipping the
#   warm-up leaves the gap and the plateau where they were; it only brings the drop forward by
#   about a hundred steps. Giving rows 32–127 trained values (a copy of rows 0–31) removes the gap
#   and the drop comes less than half as many steps in; with both changes it comes earliest of all.
#   So the positions explanation carries the effect; the optimiser restart adds a delay of about a
#   hundred steps on top.
# * **A copy is not a cure.** With rows 32–127 copied from rows 0–31, every position vector occurs
#   four times in a 128-token block, and the loss at positions 0–31 starts more than a nat *worse*
#   than where phase 1 left it. A likely reason (a hypothesis; exercise 2.7 tests it): a head that
#   learned "look one position to the left" now finds four keys that look equally like its left
#   neighbour, and spreads its attention over them. The model has to break that symmetry before it
#   gains from the copy, which takes the first 150 or so steps.
#
# The shipped model paid the plateau; phase 2 still ended where it did, because the new rows do
# get learned. What the experiment does not settle is why the new rows take a few hundred steps:
# that is the same question as why positional attention is slow to start at all (the $1/T$
# hypothesis above).
#
# By the end of phase 2 two heads put more than half of their attention on the previous or the
# next token (section 5 measures them).
#
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
    logits = model(masked.input_ids, head="mlm", mlm_mask=masked.selected).logits   # (targets, V), in sentence order
guesses = mask_guesses(logits, tokenizer, top_k=5)
original = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
corrupted = tokenizer.convert_ids_to_tokens(masked.input_ids[0])
for pos, top in zip(masked.selected[0].nonzero().flatten().tolist(), guesses):
    how = "[MASK]" if masked.masked[0, pos] else "random" if masked.randomized[0, pos] else "kept"
    print(f"position {pos:2d} ({how:>6}): fed '{corrupted[pos]}', target '{original[pos]}', "
          f"top guess '{top[0][0]}' ({top[0][1]:.2f})")
fig = viz.plot_masking(original, masked, index=0, corrupted_tokens=corrupted, guesses=guesses)
fig

# %% [markdown]
# Look at the position that got a **random** token (pink): the model's favourite guess is the
# random token itself, the word it was fed, not the word that belongs there. That is the 80/10/10
# rule at work. A tenth of the targets are fed unchanged, so "the visible word is the answer" is
# often right, and the model learns to give the visible token some probability at every position;
# a random replacement is rarer (another tenth) and usually absurd, which the context should
# reveal. Here the context did not outweigh the copy. This is the price of the rule, and also its
# point: because the model cannot tell which visible tokens are corrupt, it must build a good
# representation of *every* token, not only of `[MASK]` — the representation that fine-tuning
# later uses on text without any `[MASK]`.

# %% [markdown]
# ## 5. Attention before and after pretraining
#
# In chapter 1, MiniLM had heads that attend to the previous or the next token. Does our small
# model, trained on under a million tokens of news (read about twenty times), learn such heads? We
# measure the same statistics over held-out sentences for the untrained model and the checkpoint:

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
# * The 10% random replacements have a visible cost: at such a position the model may simply
#   copy the token it was fed. They (and the 10% kept) are what forces a representation of every
#   token, not only of `[MASK]`.
# * Pretraining turns near-uniform attention into structured heads, such as heads that look at
#   the previous or next token, as in BERT — but not automatically: on long blocks our small
#   model stalled at a bag-of-words solution; short blocks started positional attention, and
#   longer blocks then made it clear-cut. Switching to longer blocks costs a plateau first: the
#   position table's new rows must be learned before the positional heads work there. A controlled
#   experiment backs this explanation and rules out the other candidate, the optimiser restart,
#   as more than a short delay.
# * A pretraining run can be interrupted and resumed bit for bit, because every random choice is a
#   function of the step or is saved in the checkpoint.
#
# ## Exercises
#
# **2.1 ★ Perplexity.** Write `perplexity_ratio(loss, unigram_loss)`: by what factor is a model's
# perplexity lower than the unigram baseline's, given both losses in nats? The check tries random
# losses, then the shipped checkpoint's (`info["metrics"]`).

# %% tags=["solution"] jupyter={"source_hidden": true}
from metalearn_edu.exercises import check_bert_masking, check_perplexity_ratio, check_unigram_loss


def perplexity_ratio(loss, unigram_loss):
    ### HINT: perplexity = exp(loss), so the ratio of two perplexities is exp of a difference
    ### BEGIN SOLUTION
    return math.exp(unigram_loss - loss)          # exp(L_uni) / exp(L)
    ### END SOLUTION


check_perplexity_ratio(perplexity_ratio, info["metrics"])

# %% [markdown]
# **2.2 ★★ The unigram baseline.** Write `unigram_baseline(counts, labels)`: `counts` holds how
# often each of the $V$ ids occurs in the training set, `labels` is a batch of MLM labels (the
# original id at the targets, −100 elsewhere). Return the baseline's loss on the targets,
# $-\frac{1}{|M|}\sum_{i\in M}\log p(x_i)$, with add-one smoothing
# $p(v) = (\text{count}_v + 1)/(N + V)$ so that an id never seen in training is not infinitely
# surprising. (The check compares with `metalearn_edu.analysis.unigram_loss`.)

# %% tags=["solution"] jupyter={"source_hidden": true}
def unigram_baseline(counts, labels):
    ### HINT: probabilities (counts + 1) / (N + V), then the mean of −log p over the labels that are not −100
    ### BEGIN SOLUTION
    probs = (counts.double() + 1) / (counts.sum() + len(counts))     # add-one smoothing
    targets = labels[labels != -100]
    return float(-probs[targets].log().mean())
    ### END SOLUTION


check_unigram_loss(unigram_baseline)

# %% [markdown]
# **2.3 ★★★ BERT's masking, by hand.** Write `bert_mask(input_ids, vocab, generator)` returning
# `(corrupted_ids, labels)`: select each token that is not special (`vocab.special_ids`) with
# probability 0.15; of the selected, replace 80% by `vocab.mask_id`, 10% by a random id drawn
# uniformly from `vocab.random_ids`, and keep 10%; `labels` holds the original id at every selected
# position and −100 elsewhere. Take every random number from `generator` (e.g.
# `torch.rand(shape, generator=generator)`), and do not modify `input_ids`. The check runs your
# function on a fresh batch and compares its statistics with `mask_tokens`' (selection rate, the
# 80/10/10 split, no special token selected, labels).

# %% tags=["solution"] jupyter={"source_hidden": true}
def bert_mask(input_ids, vocab, generator):
    ### HINT: one uniform draw per token selects (< 0.15); a second one splits the selected at 0.8 and 0.9
    ### BEGIN SOLUTION
    shape = input_ids.shape
    special = torch.isin(input_ids, torch.tensor(vocab.special_ids))
    selected = ~special & (torch.rand(shape, generator=generator) < 0.15)            # 1) the targets
    action = torch.rand(shape, generator=generator)                                  # 2) 80/10/10 among them
    to_mask = selected & (action < 0.8)
    to_random = selected & (action >= 0.8) & (action < 0.9)
    random_ids = vocab.random_ids[torch.randint(len(vocab.random_ids), shape, generator=generator)]
    corrupted = torch.where(to_mask, vocab.mask_id, input_ids)                       # 3) corrupt a copy
    corrupted = torch.where(to_random, random_ids, corrupted)
    labels = torch.where(selected, input_ids, -100)
    return corrupted, labels
    ### END SOLUTION


check_bert_masking(bert_mask)

# %% [markdown]
# **2.4 (experiment) Why not 100% `[MASK]`?** Set `MaskingConfig(mask_token_frac=1.0,
# random_token_frac=0.0)` and evaluate the shipped checkpoint with it (`evaluate_mlm(...,
# masking=...)`). Is the loss higher or lower than with 80/10/10? Explain what the 10% random and
# 10% unchanged cases make the model learn that pure `[MASK]` training would not, using the
# random-token guess of section 4.
#
# **2.5 (experiment) Whole-word masking.** With `MaskingConfig(whole_word=True)` all pieces of a
# word are masked together. Why does this make the task harder for words split into several
# pieces? Find a word in the corpus that our tokenizer splits, and show the two maskings side by
# side with `viz.plot_masking`.
#
# **2.6 (experiment) Is the signal for positional attention $1/T$?** Section 4 offered a hypothesis:
# at the start of training, the gradient that teaches a head to look at the previous token
# shrinks like $1/T$ with the block length $T$. Test it. Build an untrained `BertEncoder` (as in
# section 2, with `max_len=128`), take a batch of training blocks packed at $T = 32$ and at
# $T = 128$, mask them, and compute the MLM loss's gradient with respect to the attention weight
# $a_{i,i-1}$ that each position gives its left neighbour (ask for the attention maps with
# `return_attention=True` and call `.retain_grad()` on them before the backward pass). Average its
# size over positions, heads and blocks for each $T$. Does the ratio come out near 4? What else
# changes with $T$ that could explain a difference?
#
# **2.7 (experiment) Why does copying the position rows hurt at first?** Section 4's experiment
# found that setting rows 32–127 of the position table to copies of rows 0–31 makes the loss at
# positions 0–31 worse at the start of phase 2. Rebuild that start (`benchmarks/plateau.py`'s
# `phase1_start`, after running its `phase1` part) and measure, for the most previous-token head of
# `analysis.model_attention_stats`, how its attention from a query at position $i$ splits between
# the keys at $i - 1$ and at $i - 1 \pm 32, \pm 64, \dots$. Is the hypothesis right?
#
# ## References
#
# * Devlin et al. 2019, *BERT* (the MLM objective and the 80/10/10 rule).
# * Liu et al. 2019, *RoBERTa* (dynamic masking and full-sentence packing, as used here).
# * Xiong et al. 2020, *On Layer Normalization in the Transformer Architecture* (why pre-LN trains
#   more easily).
# * Clark et al. 2019, *What Does BERT Look At?*
