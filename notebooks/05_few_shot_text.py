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
#     display_name: Python (metalearn-edu)
#     language: python
#     name: metalearn-edu
# ---

# %% [markdown]
# # Chapter 5 — Few-shot text classification: what pretraining and meta-learning buy
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/05_few_shot_text.ipynb)
#
# **Learning goals.** By the end of this chapter you can
# 1. build N-way K-shot episodes from labelled text and from raw text (SMLMT), and say why the
#    test material must be unseen;
# 2. explain the prototype-initialised head and why "step 0" of fine-tuning is a prototypical network;
# 3. meta-train an encoder on SMLMT tasks yourself (prototypical-network training) and read its
#    meta-loss curve;
# 4. say why one training run per method is not evidence, what a paired interval over seeds
#    measures, and read a forest plot of paired differences;
# 5. state, with the measured numbers, what MLM pretraining buys over random initialisation and
#    what meta-training on top of it buys (or does not) on this corpus;
# 6. say what else differs between two rows of a comparison (the parameters an inner loop moves,
#    steps against time) and read the controls that hold it equal;
# 7. tell *rapid learning* from *feature reuse* with two measurements (which parameters need to adapt,
#    and linear CKA of each layer before and after adapting);
# 8. explain how a meta-learner can *memorise* tasks instead of learning to learn, and which tests
#    expose it.

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
import copy
import math

import torch
import torch.nn.functional as F
from IPython.display import Markdown, display

from metalearn_edu import studies, viz
from metalearn_edu.analysis import format_ci, mean_ci, paired_ci
from metalearn_edu.config import get_preset
from metalearn_edu.exercises import check_proto_head, check_protonet_loss, check_seed_interval
from metalearn_edu.meta import ProtoNet, TextClassifierLoss, evaluate_adaptation, protonet_train, select_params
from metalearn_edu.meta.text import bag_of_words_accuracy, evaluate_text_adaptation, text_task_suites
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrained import load_pretrained
from metalearn_edu.runtime import seed_everything
from metalearn_edu.widgets import few_shot_playground, render_few_shot

seed_everything(0)
preset = get_preset()
n_live = max(10, preset.eval_episodes // 8)  # live episodes per measurement in this notebook
model, tokenizer, info = load_pretrained("mlm-micro")
print(f"preset {preset.name}: {n_live} live episodes per measurement")

# %% [markdown]
# ## 1. Episodes from text
#
# A few-shot task is an **episode**: N classes, K labelled *support* examples of each, and some
# *query* examples to score the adapted model on. Labels are re-drawn for every episode (class
# "sport" may be label 0 in one episode and label 3 in the next), so nothing can be memorised
# about label ids: only a way of *adapting* transfers between episodes.
#
# The course measures every method on two suites of held-out episodes
# (`metalearn_edu.meta.text.text_task_suites`):
#
# * **BBC topics** — 5-way classification of *test* articles into business / entertainment /
#   politics / sport / tech, from the headline and first sentences (64 tokens). BBC has exactly five
#   topics, so every 5-way BBC episode is *the same* five-class problem with the labels shuffled,
#   on topics the encoder saw (in other articles) during pretraining: this suite measures
#   **few-shot learning of seen classes**. It is still useful — the labels must be inferred from 1 or
#   5 examples — but it cannot show that a method learns *new* classes.
# * **held-out SMLMT** — *Subset Masked Language Modelling Tasks* (Bansal et al. 2020): pick N
#   words, take sentences containing each, replace the word by `[MASK]`; the label is which of the N
#   words was removed. These tasks come from raw text, so there are unlimited numbers of them. The
#   test tasks use sentences of test articles and a **word set disjoint from the training words**:
#   these are **novel classes**, and the novel-class evidence of this chapter comes from them.

# %%
suites = text_task_suites(tokenizer, n_way=5, k_shot=2, q_query=5)
episode = suites.test_episodes("bbc", 1)[0]
print("BBC episode classes (label order):", episode.classes)
for text, label in list(zip(episode.info["support_texts"], episode.support_y.tolist()))[:4]:
    print(f"  label {label}: {text[:90]}…")
smlmt = suites.test_episodes("smlmt", 1)[0]
print("\nSMLMT episode words:", smlmt.classes)
for text, label in list(zip(smlmt.info["support_texts"], smlmt.support_y.tolist()))[:4]:
    print(f"  label {label}: {text[:90]}")
assert set(suites.train_words).isdisjoint(suites.test_words)
print(f"\n{len(suites.train_words)} meta-training words, {len(suites.test_words)} held-out words (disjoint)")

# %% [markdown]
# ## 2. A head for every episode, initialised from prototypes
#
# The encoder $f_\theta$ maps a text to a vector (here the mean of its last hidden states). An
# N-way episode needs an N-way classifier on top, $\text{logits} = W f_\theta(x) + b$, made afresh
# for each episode. Starting it at zero wastes the first steps; instead (Triantafillou et al. 2020,
# "Proto-MAML") set it from the support set's class means $c_k = \frac1K\sum_{i: y_i = k} f_\theta(x_i)$:
#
# $$W_k = 2c_k,\qquad b_k = -\lVert c_k\rVert^2 \quad\Longrightarrow\quad
#   W_k^\top f + b_k = -\lVert f - c_k\rVert^2 + \lVert f\rVert^2 .$$
#
# The term $\lVert f\rVert^2$ is the same for every class, so before any gradient step the head
# picks the nearest prototype: **step 0 is a prototypical network** (Snell et al. 2017). Gradient
# steps on the support set (the top block and the head adapt) then refine it. Check that claim:

# %%
episodes = suites.test_episodes("bbc", 6)
loss_fn = TextClassifierLoss(model, head_init="proto", attention_impl="fused")
params = dict(model.named_parameters())
protonet = ProtoNet(model)
for ep in episodes:
    theta = loss_fn.episode_params(params, ep)  # adds head.weight = 2c, head.bias = -|c|²
    assert loss_fn.metric(theta, ep.query) == protonet.accuracy(params, ep)
print("step-0 accuracy of the prototype head == ProtoNet accuracy on", len(episodes), "episodes")

# %% [markdown]
# ## 3. The test protocol, and a fast way to run it
#
# Every encoder in this chapter is measured the same way: prototype head, then $k$ steps of plain
# gradient descent with rate $\alpha$ on the top block and the head,
# $\phi_{j+1} = \phi_j - \alpha\nabla_\phi \mathcal L_\text{support}(\phi_j)$, scoring the query set
# after every step. The lower blocks never change within an episode, so their output is computed
# once and only the top block runs at each step (`evaluate_text_adaptation`). It must give the same
# numbers as running the whole encoder every time:

# %%
fast = evaluate_text_adaptation(model, episodes, inner_lr=0.05, inner_steps=2)
slow = evaluate_adaptation(loss_fn, params, episodes, 0.05, 2, adapt_names=select_params(model, "top1"))
assert all(abs(a - b) < 1e-6 for ra, rb in zip(fast.per_episode, slow.per_episode) for a, b in zip(ra, rb))
print("fast protocol == full inner loop; accuracy after 0/1/2 steps:", [round(m, 3) for m in fast.mean])

# %% [markdown]
# ## 4. What pretraining buys: a live measurement
#
# The same architecture with random weights against our MLM-pretrained checkpoint, and the
# bag-of-words logistic regression (no neural network at all: word indicators of the support texts)
# as the sanity baseline. 5-way 5-shot BBC topics, the same episodes for every model:

# %%
suites5 = text_task_suites(tokenizer, n_way=5, k_shot=5, q_query=5)
live = suites5.test_episodes("bbc", n_live)
torch.manual_seed(0)
random_init = BertEncoder(model.cfg).eval()
curves = {"random init": evaluate_text_adaptation(random_init, live, 0.05, 3),
          "MLM (ours)": evaluate_text_adaptation(model, live, 0.05, 3)}
bow = [bag_of_words_accuracy(ep) for ep in live]
for name, c in curves.items():
    print(f"{name:>12}: {c.format(0)} at step 0, {c.format(3)} after 3 steps")
print(f"bag of words: {format_ci(*mean_ci(bow))}")
d, h = curves["MLM (ours)"].difference(curves["random init"], 3)
print(f"MLM − random init, paired over the same {n_live} episodes: {studies.describe(d, h)}")
assert d - h > 0, "pretraining should beat random init by more than the paired interval"
fig = viz.plot_adaptation({k: c.to_dict() for k, c in curves.items()}, metric_name="query accuracy", chance=0.2,
                          reference={"bag of words": {0: sum(bow) / len(bow)}},
                          title=f"5-way 5-shot BBC topics, {n_live} test episodes (95% CI)")
fig

# %% [markdown]
# A randomly initialised encoder is only a little above chance (0.2): its features are a random
# mixture of the words' random embeddings. The pretrained encoder is far better, and gains little
# from the gradient steps: with 25 support texts, the prototypes already hold most of what the
# support set can say.
#
# ## 5. Meta-training, live: a prototypical network on SMLMT
#
# Can we make the encoder *better at adapting*? Meta-training optimises the start θ for the test
# protocol itself. The simplest meta-learner is prototypical-network training (Snell et al. 2017):
# sample an SMLMT episode from the **training** articles (training words only), embed its support
# and query texts, and minimise the query cross-entropy of the nearest-prototype classifier,
#
# $$\mathcal L(\theta) = -\frac{1}{|Q|}\sum_{(x, y)\in Q} \log
#   \frac{\exp(-\lVert f_\theta(x) - c_y\rVert^2)}{\sum_{k}\exp(-\lVert f_\theta(x) - c_k\rVert^2)},
#   \qquad c_k = \frac1K\sum_{i: y_i = k} f_\theta(x_i),$$
#
# with Adam on every parameter of the encoder. No inner loop: "adaptation" is computing the
# prototypes, which is exactly step 0 of our test protocol. (MAML would instead put gradient steps
# on the support set inside the loss; chapter 3 derived its gradient.) A short run, with the
# meta-loss of every outer step:

# %%
# NBVAL_IGNORE_OUTPUT
meta_steps = {"ci": 24, "cpu": 150, "gpu": 600}[preset.name]
student = copy.deepcopy(model).train()
history = protonet_train(student, ProtoNet(student), suites5.smlmt_train.episode, steps=meta_steps,
                         meta_batch_size=2, lr=1e-4, seed=0, progress=True)
student.eval()
third = max(1, len(history.meta_loss) // 3)
early, late = sum(history.meta_loss[:third]) / third, sum(history.meta_loss[-third:]) / third
print(f"{meta_steps} outer steps: mean meta-loss {early:.3f} over the first third, {late:.3f} over the last third")

# %%
assert late < early, "ProtoNet training should lower the meta-training loss"
fig = viz.plot_meta_history({"ProtoNet on SMLMT (training articles and words)": history},
                            title=f"Meta-training, {meta_steps} outer steps of 2 episodes each")
fig

# %% [markdown]
# The meta-loss falls: the encoder is getting better at separating the masked words of *training*
# episodes by their prototypes. Whether that carries to *held-out* words is the real question. Below,
# the live run is measured on held-out episodes and drawn next to the stored study's ProtoNet runs
# (section 7), which trained the same way for the whole budget: the same quantity, the prototype
# head's accuracy on held-out SMLMT words minus the MLM start's on the same episodes.

# %%
held_out = suites5.test_episodes("smlmt", n_live)
before = evaluate_text_adaptation(model, held_out, 0.05, 0)
after = evaluate_text_adaptation(student, held_out, 0.05, 0)
d, h = after.difference(before, 0)
print(f"held-out SMLMT, 5-way 5-shot, prototype head: {before.format(0)} before, {after.format(0)} after; "
      f"paired difference {studies.describe(d, h)} over {n_live} episodes")
stored = studies.load_study("few_shot_text")
stored_step0 = studies.difference_curves(stored, "smlmt_k5")["protonet"]  # step 0 = the prototype head
stored_steps = studies.few_shot_table(stored)["protonet"]["steps"]["per_seed"]
live_seen, stored_seen = meta_steps * 2, 4 * sum(stored_steps) / len(stored_steps)  # episodes seen in training
fig = viz.plot_forest(
    [{"label": f"live run: {meta_steps} steps × 2 episodes", "mean": d, "half": h},
     {"label": f"study: ~{stored_seen / 4:.0f} steps × 4 episodes, {len(stored_steps)} seeds",
      "mean": stored_step0["mean"][0], "half": stored_step0["ci"][0]}],
    title="Held-out SMLMT 5-shot, prototype head: ProtoNet-trained − MLM start",
    note=f"live: {n_live} episodes (interval over episodes); study: {stored['settings']['episodes']} episodes per "
         "seed (t-interval over seeds)", xlabel="difference in accuracy from the MLM start")
fig

# %% [markdown]
# **What a short run can and cannot show.** It shows the mechanics — the loss that ProtoNet
# minimises, falling. It cannot show the effect on held-out words: the live run sees a few dozen
# episodes, about a twentieth of what each study run saw, and its change on a dozen episodes is
# within a few points either way of zero (it can even come out below the start, as in the `ci`
# preset; a hypothesis for such a dip is that the first steps fit the particular training words
# before the features improve in general — this run is too short to test it). The study's runs,
# with the whole budget and three seeds, are measurably above the start (printed by the next cell).
# That is the pattern of this course: watch the mechanism live, read the effect from the study.

# %%
print(f"study, step 0: {studies.describe(stored_step0['mean'][0], stored_step0['ci'][0])} after ~{stored_seen:.0f} "
      f"training episodes per seed; live: {studies.describe(d, h)} after {live_seen}")
assert stored_step0["mean"][0] - stored_step0["ci"][0] > 0  # "measurably above the start"
assert stored_seen > 15 * live_seen or preset.name != "ci"  # "about a twentieth" (ci preset)

# %% [markdown]
# ## 6. One run is not evidence: seeds and paired intervals
#
# A study that trains each method **once** and reports one accuracy with a narrow interval invites two mistakes.
#
# 1. **The interval is over test episodes only.** It says how precisely *this trained model* was
#    measured. Train again with another seed (another stream of meta-training episodes, another
#    initial random state) and the model itself changes; that seed-to-seed variation is often the
#    larger one, and a single run cannot see it.
# 2. **Separate intervals overstate the uncertainty of a difference.** Every model is tested on
#    the same episodes; some episodes are easy for everyone, some hard. The difference *on each
#    episode* cancels that shared variation, which is why chapter 4 used paired intervals.
#
# The study behind this chapter does both right. Each meta-learner is trained with S = 3 seeds;
# seed s is tested on its own block of E = 100 episodes; the MLM start (which has no training
# seed) is tested on every block. For seed s,
#
# $$\Delta_s = \frac1E\sum_{e \in \text{block}_s}\big(\text{acc}_\text{meta}^{(s)}(e) - \text{acc}_\text{MLM}(e)\big),$$
#
# a paired difference, and the $\Delta_s$ are independent draws of "meta-train with a new seed, test
# on new episodes". Their mean with the Student-t half-width
# $t_{0.975,\,S-1}\,\mathrm{sd}(\Delta)/\sqrt S$ covers **both** sources of variance
# (`analysis.seed_ci`). With three seeds $t_{0.975,2} = 4.30$: wide, honestly so. Exercise 5.3 asks
# you to write it.
#
# ## 7. The full comparison (measured with `benchmarks/few_shot_text.py`)
#
# Every meta-learner starts from `mlm-micro` and gets the same CPU budget of meta-training on SMLMT
# tasks from the training articles (training words only): second-order MAML, first-order MAML and
# Reptile (top block and head adapting, 3 inner steps) and ProtoNet (as in section 5), three seeds
# each. MiniLM is the real
# all-MiniLM-L6-v2 (6 × 384, trained on a billion sentence pairs), measured at step 0 through its
# own tokenizer on the same episodes. Accuracy after 5 test-time steps:

# %%
study = studies.load_study("few_shot_text")
table = studies.few_shot_table(study)
settings = study["settings"]
display(Markdown(studies.few_shot_markdown(study)))
print(f"command: python benchmarks/few_shot_text.py --budget {settings['budget']:g} --seeds "
      f"{','.join(map(str, settings['seeds']))} --episodes {settings['episodes']} --methods {','.join(study['models'])} "
      f"--out benchmarks/results/few_shot_text.json")

# %%
def forest(cell):
    rows = [{"label": studies.MODEL_NAMES[m], "mean": r[cell]["diff"], "half": r[cell]["diff_half"],
             "per_seed": r[cell]["diff_per_seed"]} for m, r in table.items() if "diff" in r[cell]]
    note = (f"{len(settings['seeds'])} seeds × {settings['episodes']} episodes each (models without training: "
            "every block); dots: seeds; 95% t-interval over seeds")
    return viz.plot_forest(rows, title=f"{studies.CELL_TITLES[cell]}: accuracy − MLM start, on the same episodes",
                           note=note, xlabel="difference in accuracy from the MLM start")


fig = forest("smlmt_k5")
fig

# %%
fig = forest("bbc_k1")
fig

# %% [markdown]
# The forest plots put every method's paired difference from the MLM start on one axis with 0
# marked; an interval that excludes 0 is drawn in blue. Reading the adaptation curves the same way
# — the *difference* from the start after each test-time step, rather than two nearly equal
# accuracies on a 0–1 axis — shows whether the gap grows or shrinks with adaptation:

# %%
fig = viz.plot_adaptation({studies.MODEL_NAMES[m]: c for m, c in studies.difference_curves(study, "bbc_k5").items()},
                          metric_name="accuracy − MLM start (same episodes)",
                          title=f"BBC 5-way 5-shot: difference from the MLM start after each step "
                                f"({len(settings['seeds'])} seeds × {settings['episodes']} episodes)")
fig.axes[0].axhline(0.0, color="black", linewidth=1.0)
fig

# %% [markdown]
# ## 8. What the study shows
#
# Written by the cell below from the stored results, so it cannot disagree with the table:

# %%
def findings():
    lines = []
    for cell in studies.CELLS:
        up = [studies.MODEL_NAMES[m] for m, r in table.items()
              if m in ("maml", "fomaml", "reptile", "protonet") and studies.verdict(r[cell]["diff"], r[cell]["diff_half"]) == "higher"]
        down = [studies.MODEL_NAMES[m] for m, r in table.items()
                if m in ("maml", "fomaml", "reptile", "protonet") and studies.verdict(r[cell]["diff"], r[cell]["diff_half"]) == "lower"]
        lines.append(f"* **{studies.CELL_TITLES[cell]}** (MLM start {format_ci(table['mlm'][cell]['mean'], table['mlm'][cell]['half'])}): "
                     f"meta-learners measurably above it: {', '.join(up) or 'none'}; below it: {', '.join(down) or 'none'}; "
                     f"random init {studies.describe(table['random'][cell]['diff'], table['random'][cell]['diff_half'])}.")
    return lines


display(Markdown("\n".join(findings())))
steps = {m: r["steps"]["per_seed"] for m, r in table.items() if "steps" in r}
print("outer steps per seed in the same budget:", {studies.MODEL_NAMES[m]: v for m, v in steps.items()})
# the reading below says these things; the cell fails if the stored results stop saying them
assert all(studies.verdict(table["random"][c]["diff"], table["random"][c]["diff_half"]) == "lower" for c in studies.CELLS)
mean_steps = {m: sum(v) / len(v) for m, v in steps.items()}
assert mean_steps["maml"] < 0.7 * mean_steps["fomaml"] and mean_steps["reptile"] > 1.5 * mean_steps["fomaml"]
assert mean_steps["protonet"] == max(mean_steps.values())
assert max(abs(table[m][c]["diff"]) for m in mean_steps for c in studies.CELLS) < 0.07  # "a few points at most"
verdicts = {m: [studies.verdict(table[m][c]["diff"], table[m][c]["diff_half"]) for c in studies.CELLS] for m in mean_steps}
assert verdicts["protonet"] == ["higher"] * 4
assert verdicts["fomaml"].count("higher") == 3 and verdicts["maml"].count("higher") == 2
assert "higher" not in verdicts["reptile"] and max(abs(table["reptile"][c]["diff"]) for c in studies.CELLS) < 0.01
assert verdicts["reptile"][studies.CELLS.index("bbc_k1")] == "lower" and round(100 * table["reptile"]["bbc_k1"]["diff"], 1) == -0.3
print(f"the encoder meta-trained here: {model.num_parameters():,} parameters")
assert table["minilm"]["smlmt_k5"]["diff"] > 0.05 and table["minilm"]["bbc_k1"]["diff"] < -0.1

# %% [markdown]
# **How to read it.** Pretraining is by far the largest effect: random initialisation is below the
# MLM start on every cell, by 8 to 54 points (its row of the table). Meta-training on top of MLM
# moves accuracy by a few points at most, and the cell above checks each of the following readings
# against the stored results:
#
# * **ProtoNet** is the one method whose gain over the MLM start excludes zero on all four cells
#   (3–6 points). It is also the cheapest per step (no inner loop, no second forward pass on the
#   query after adaptation) and took the most steps; and it trains exactly what the test protocol
#   starts from, a prototype head on the encoder's features.
# * **First-order MAML** gains on three of the four cells (2–3 points); on SMLMT 1-shot its interval
#   includes zero.
# * **Second-order MAML** gains on two cells, and by less. It differentiates through its inner loop,
#   so it managed about half of first-order MAML's outer steps in the same CPU budget. Whether the
#   extra steps or the approximation explain the gap is a second question: section 9 compares the
#   two at equal steps as well.
# * **Reptile** took well over half as many steps again as first-order MAML (no query loss, no
#   meta-gradient), yet moved the encoder least: with ε = 0.1, annealed, its differences stay within
#   a point of zero, one of them (BBC 1-shot, −0.3 points) measurably *below* it. Its update
#   $\theta \leftarrow \theta + \epsilon(\tilde\phi - \theta)$ moves only what the inner loop moved — the
#   top block and the head — so section 9 asks whether that, rather than the size of its steps, is
#   why it changed so little.
# * **MiniLM**, a 22M-parameter encoder trained on a billion sentence pairs, is far ahead on held-out
#   SMLMT 5-shot (+6 points, at step 0) but well behind on BBC: our encoder saw BBC's articles and
#   topics in pretraining (the caveat of section 1), MiniLM did not.
#
# So the thesis, *meta-training on self-supervised tasks makes a better starting point than the MLM
# checkpoint alone*, holds here in a modest form: ProtoNet and first-order MAML give gains of a few
# points that survive three seeds and pairing, on novel classes (held-out SMLMT words) as well as
# seen ones, while second-order MAML gives less and Reptile nothing. Three seeds make the intervals wide (t = 4.30), the
# lower ends of the gains are close to zero, and the scale is tiny (under two million parameters, as printed above;
# four CPU-minutes of meta-training); chapter 6 asks whether the same compute would have been better
# spent on more MLM.

# %% [markdown]
# ## 9. Like for like: what each comparison holds equal
#
# Section 8 compares every meta-learner at the same CPU budget, and that is one fair comparison —
# but a lecturer should ask what *else* differs between two rows before reading a gap as a
# property of the algorithm. Two things do:
#
# * **The adapted set.** Every inner loop above moves the top block and the head. MAML and
#   first-order MAML still send the query loss's gradient into *every* layer, and ProtoNet trains the
#   whole encoder; but Reptile's update $\theta \leftarrow \theta + \epsilon(\tilde\phi - \theta)$ is
#   *exactly zero* outside the adapted set, so its embeddings and lower three blocks never moved.
#   Reptile's near-zero result could be "small steps" — or that it trained a quarter of the network.
# * **Steps versus exactness.** First-order MAML took about twice MAML's outer steps in the same
#   time, so "first-order beats second-order" mixes two factors.
#
# The study (`benchmarks/few_shot_text.py`) therefore also holds controls, trained with the same
# seeds, budget and test episodes: MAML, first-order MAML and Reptile with **every parameter in the
# inner loop**; first-order MAML stopped at **MAML's own number of outer steps** (per seed); and ANIL
# (section 10). Each row below is a paired difference *a − b*: seed s of both models on seed s's
# episodes, the t-interval over seeds.

# %%
display(Markdown(studies.like_for_like_markdown(study)))
like = {row["a"] + " vs " + row["b"]: row for row in studies.like_for_like_table(study)}
print(f"command: python benchmarks/few_shot_text.py --methods {','.join(studies.FEW_SHOT_CONTROLS)} "
      "--out benchmarks/results/few_shot_text.json   (adds the controls to the stored study)")

# %%
fig = viz.plot_forest([{"label": row["name"], "mean": row[cell]["diff"], "half": row[cell]["diff_half"],
                        "per_seed": row[cell]["per_seed"]}
                       for row in like.values() for cell in ("smlmt_k5",)],
                      title="Held-out SMLMT 5-shot (novel words): paired difference a − b",
                      note=f"{len(settings['seeds'])} seeds × {settings['episodes']} episodes; dots: seeds",
                      xlabel="difference in accuracy (a − b)")
fig

# %%
def like_findings():
    out = []
    for row in like.values():
        said = "; ".join(f"{studies.CELL_TITLES[c]} {studies.describe(row[c]['diff'], row[c]['diff_half'])}"
                         for c in studies.CELLS)
        steps = " vs ".join(f"{sum(v) / len(v):.0f}" for v in row["steps"].values())
        out.append(f"* **{row['name']}** (equal {row['equal']}; mean outer steps {steps}): {said}.")
    return out


display(Markdown("\n".join(like_findings())))
# the reading below says these things; the cell fails if the stored results stop saying them
like_verdicts = {k: [studies.verdict(r[c]["diff"], r[c]["diff_half"]) for c in studies.CELLS] for k, r in like.items()}
steps_of = lambda k, m: sum(like[k]["steps"][m]) / len(like[k]["steps"][m])  # noqa: E731
assert "higher" not in like_verdicts["reptile_all vs reptile"]                           # everything: no better
assert all(abs(like["reptile_all vs reptile"][c]["diff"]) < 0.02 for c in studies.CELLS)
assert "higher" not in like_verdicts["maml_all vs maml"] and "lower" in like_verdicts["maml_all vs maml"]
assert steps_of("maml_all vs maml", "maml_all") < 0.75 * steps_of("maml_all vs maml", "maml")
assert like_verdicts["fomaml_all vs fomaml"].count("lower") >= 3                       # first-order: much worse
assert max(like["fomaml_all vs fomaml"][c]["diff"] for c in studies.CELLS) < -0.05
assert all(abs(like["fomaml_steps vs maml"][c]["diff"]) < 0.005 and like_verdicts["fomaml_steps vs maml"][i] !=
           "higher" for i, c in enumerate(studies.CELLS))                                # equal steps: identical
assert like_verdicts["fomaml vs maml"] == ["no measurable difference"] * 2 + ["higher", "no measurable difference"]
assert all(0 < like["fomaml vs maml"][c]["diff"] < 0.02 for c in studies.CELLS)
anil_vs_mlm = studies.few_shot_table(study, controls=True)["anil"]                        # ANIL (section 10)
assert all(studies.verdict(anil_vs_mlm[c]["diff"], anil_vs_mlm[c]["diff_half"]) == "higher" for c in studies.CELLS)
assert like_verdicts["anil vs maml"].count("higher") == 3 and "lower" not in like_verdicts["anil vs maml"]
assert max(like["anil vs maml"][c]["diff"] for c in studies.CELLS) < 0.025
assert steps_of("anil vs maml", "anil") > 1.4 * steps_of("anil vs maml", "maml")

# %% [markdown]
# **Reading it** (each sentence is checked by the cell above).
#
# * **Reptile's null result is not about the adapted set.** With every parameter in its inner loop,
#   so that its update reaches the embeddings and all four blocks, Reptile is no better than with
#   the top block: every difference is within two points of zero and none is measurably positive.
#   "It trained a quarter of the network" is ruled out as the explanation; what remains is the size
#   of its steps (ε = 0.1, annealed, for four CPU-minutes) — a hypothesis this study does not test.
# * **Adapting everything costs MAML steps and buys nothing.** Differentiating through an inner
#   loop over every layer, second-order MAML manages about two-thirds of its top-block steps in the
#   same budget, and ends measurably *worse* on at least one cell.
# * **First-order MAML with everything adapting is much worse**, by more than five points on every
#   cell. A plausible reason, not tested here: the first-order gradient is evaluated at weights the
#   inner loop has moved in every layer, and the further they are from θ, the worse it stands in for
#   the true meta-gradient.
# * **Steps, not exactness.** Stopped at MAML's own number of outer steps, first-order MAML is
#   indistinguishable from MAML on every cell (within half a point). At equal time it is ahead on
#   every cell, by up to two points, measurably on BBC 1-shot only. So first-order MAML's
#   lead in section 7 comes from the extra steps its cheaper gradient buys, not from a better
#   gradient: on this problem, dropping the second-order term costs nothing measurable.

# %% [markdown]
# ## 10. Rapid learning or feature reuse?
#
# The adaptation curves of section 7 are nearly flat: five test-time steps move accuracy by a point
# or two. Raghu et al. (2020) asked the question this raises about MAML on images: does a
# meta-learned network **learn to adapt fast** (the inner loop changes its features), or does it
# **learn features that need no adapting** (only the head moves)? They answered it with the
# measurements below, here on our encoders and the same test episodes
# (`benchmarks/feature_reuse.py`, `metalearn_edu.meta.feature_reuse`):
#
# 1. **What adapting buys, by parameter set.** From every start — the MLM checkpoint and each
#    meta-learned encoder of section 7, rebuilt from its seed up to the last step its run recorded
#    (0–4 steps before it ended; on ten stored test episodes the rebuilt encoders' accuracies agree
#    with the originals' to within one query text) — run the test protocol moving only the head, the
#    top block and head (the course's protocol), or every parameter. If the head alone does as well
#    as everything, the features are being *reused*.
# 2. **ANIL**, "almost no inner loop": MAML whose inner loop moves the head only, meta-trained like
#    the others (the ANIL row of section 9 compares it with MAML).
# 3. **How much the inner loop changes each layer.** Linear CKA (Kornblith et al. 2019) between a
#    layer's query features before and after adapting every parameter,
#
#    $$\text{CKA}(X, Y) = \frac{\lVert Y^\top X\rVert_F^2}{\lVert X^\top X\rVert_F\,\lVert Y^\top Y\rVert_F},
#      \qquad X, Y \in \mathbb R^{n\times d}\ \text{centred over the $n$ query texts},$$
#
#    which is 1 when the representation is unchanged up to rotation and scale.

# %%
reuse_study = studies.load_study("feature_reuse")
reuse = studies.feature_reuse_table(reuse_study)
rs = reuse_study["settings"]
START_NAMES = {"mlm": "MLM start", "maml": "+ MAML", "fomaml": "+ first-order MAML", "reptile": "+ Reptile",
               "protonet": "+ ProtoNet", "anil": "+ ANIL"}
lines = ["| start | cell | " + " | ".join(studies.FEATURE_REUSE_SETS.values()) + " |", "|---|---|" + "---:|" * 4]
for start, row in reuse.items():
    for cell in ("smlmt_k5", "bbc_k5"):
        lines.append(f"| {START_NAMES[start]} | {studies.CELL_TITLES[cell]} | "
                     + " | ".join(format_ci(row[cell][k]["mean"], row[cell][k]["half"]) if k in row[cell] else "—"
                                  for k in studies.FEATURE_REUSE_SETS)
                     + " |")
display(Markdown("\n".join(lines)))
gaps = reuse_study["rebuild_check"]
print(f"rebuilt encoders: largest accuracy gap to the stored run on 10 episodes, over {len(gaps)} encoders: "
      f"{max(gaps.values()):.2f} (one query text is 0.04)")
assert max(gaps.values()) <= 0.04 + 1e-6
print(f"accuracy after {rs['test_steps']} test-time steps (α = {rs['inner_lr']}, or α/10), "
      f"{len(rs['seeds'])} seeds × the first {rs['episodes']} episodes of each seed's block; ± t-interval over seeds")

# %%
def set_rows(cell):
    return [{"label": f"{START_NAMES[start]}: {studies.FEATURE_REUSE_SETS[k]}", "mean": row[cell][k]["diff"],
             "half": row[cell][k]["diff_half"]}
            for start, row in reuse.items() for k in ("head", "all@0.1α")]


fig = viz.plot_forest(set_rows("bbc_k5"), title="BBC 5-shot: adapting another set − adapting the top block",
                      note=f"paired on the same episodes; {len(rs['seeds'])} seeds × {rs['episodes']} episodes",
                      xlabel="difference in accuracy after 5 steps")
fig

# %%
fig = viz.plot_runs_by_condition(
    {studies.CELL_TITLES[cell]: {START_NAMES[start]: {"x": list(range(len(row["cka"][cell]["mean"]))),
                                                     "values": row["cka"][cell]["per_seed"]}
                                 for start, row in reuse.items()} for cell in ("smlmt_k5", "bbc_k5")},
    ylabel="CKA, before vs after adapting", xlabel="layer (0 = embeddings, 4 = top block)",
    title="How much 5 inner-loop steps on every parameter (α / 10) change each layer's features",
    note=f"linear CKA of the query features, {rs['cka_episodes']} episodes per seed; band: the seeds")
fig

# %%
# the reading below says these things; the cell fails if the stored results stop saying them
cells5 = ("smlmt_k5", "bbc_k5")
head_gap = {st: [row[c]["head"]["diff"] for c in cells5] for st, row in reuse.items()}
print("head only − top block, after 5 steps:", {START_NAMES[k]: [f"{v:+.3f}" for v in vs] for k, vs in head_gap.items()})
assert all(abs(v) < 0.015 for vs in head_gap.values() for v in vs)                  # the head does (nearly) all of it
assert all(reuse["mlm"][c]["all"]["mean"] < 0.25 for c in cells5)                       # every parameter at α: chance
assert all(reuse["mlm"][c]["all@0.1α"]["diff"] + reuse["mlm"][c]["all@0.1α"]["diff_half"] < 0 for c in cells5)
meta_starts = [st for st in reuse if st not in ("mlm", "reptile")]
assert all(abs(reuse[st][c]["all@0.1α"]["diff"]) < 0.015 for st in meta_starts for c in cells5)
cka_all = [v for row in reuse.values() for c in cells5 for v in row["cka"][c]["mean"]]
print(f"CKA before vs after, every start, layer and cell: {min(cka_all):.4f} … {max(cka_all):.4f}")
assert min(cka_all) > 0.99
assert all(reuse[st]["cka"][c]["mean"][-1] > reuse["mlm"]["cka"][c]["mean"][-1] for st in meta_starts for c in cells5)
assert all(min(row["cka"][c]["mean"]) == row["cka"][c]["mean"][-1] for row in reuse.values() for c in cells5)

# %% [markdown]
# **Reading it** (each sentence is checked by the cell above or, for ANIL, by section 9's cell).
#
# * **The head does nearly all of the adapting.** From every start, five steps on the head alone
#   end within about a point of five steps on the top block and head: the features below the head
#   are used as they are.
# * **The lower layers cannot take the inner loop's steps.** Moving every parameter at the
#   protocol's α sends the MLM start to chance (0.20); at α / 10 it trains, and is still measurably
#   worse than moving the top block alone. From the meta-learned starts (Reptile
#   aside, which barely left the MLM start), every parameter at α / 10 is no better and no worse than
#   the protocol.
# * **Adapting barely changes any representation.** Even with every parameter free to move, the
#   query features of every layer keep a linear CKA above 0.99 with their unadapted selves; the top
#   block moves most, and it moves *less* in the meta-learned encoders (Reptile's aside) than in the
#   MLM start.
# * **ANIL** — meta-training with a head-only inner loop — is measurably above the MLM start on all
#   four cells, and *ahead of* MAML with the top block in its inner loop on three of them (by up to
#   two points; none behind), taking about 1.6 times MAML's outer steps in the same time since its
#   second-order term runs through the head only. If the inner loop's work on the top block mattered
#   to what MAML learned, removing it should have hurt; it did not.
#
# So, on this problem, our meta-learners did not learn to learn fast: they learned **features that
# need almost no adapting**, which is exactly why the adaptation curves of section 7 are flat and
# why ProtoNet — which trains nothing but the features a prototype head reads — is the strongest of
# them. This is Raghu et al.'s finding for MAML on images, reproduced on text at a small scale.

# %% [markdown]
# ## 11. When the support set is not needed: memorisation
#
# Section 1 said labels are re-drawn in every episode "so nothing can be memorised about label ids".
# What if they were not? BBC has exactly five topics, so if each topic kept *the same* label in every
# episode, one fixed classifier would solve every task, and a meta-learner could store it in θ and
# stop reading the support set. Yin et al. (2020) call such tasks *non-mutually-exclusive* and this
# failure **memorisation**: meta-training accuracy is excellent, and the model has not learned to
# learn.
#
# Memorising needs somewhere to keep the labels. The prototype head of section 2 is rebuilt from each
# support set, so it cannot; here the head's starting weights are part of θ and meta-learned, shared
# by all episodes, as in the original MAML (`with_learned_head`, `head_init="learned"`). The study
# (`benchmarks/memorisation.py`) meta-trains that model with first-order MAML (one inner step on the
# head, α = 0.05) on training articles, once with **fixed** labels and once with labels **shuffled**
# per episode, three seeds each, and scores it along the way on four kinds of episodes:
#
# * meta-training episodes (what a training curve shows);
# * new articles, labelled as in training;
# * new articles with a **new label order** (support and query permuted alike): a learner follows the
#   support set; a memoriser answers in the order it stored;
# * new articles whose support set is **swapped for another episode's, in another order**: a learner
#   follows the wrong support set and scores about chance (it maps each topic where that support
#   said, and a random relabelling leaves on average one topic in five where it was); a memoriser,
#   which never read it, does not care.

# %%
memo_study = studies.load_study("memorisation")
memo = studies.memorisation_curves(memo_study)
ms = memo_study["settings"]
KINDS = {"train": "meta-training episodes", "held_out": "new articles", "new_order": "new articles, new label order",
         "swapped": "another episode's support set"}
fig = viz.plot_runs_by_condition(
    {f"{labelling} labels": {KINDS[k]: {"x": entry["steps"], "values": entry[k]["per_seed"]} for k in KINDS}
     for labelling, entry in memo.items()},
    ylabel="query accuracy after the inner loop", xlabel="meta-training step",
    title="Meta-training with a meta-learned head: fixed labels vs labels shuffled per episode",
    note=f"{ms['episodes']} scoring episodes per kind and point, the same for every run; band: the "
         f"{memo['fixed']['seeds']} seeds; chance 0.2")
fig

# %%
memo_rows = {k: studies.memorisation_difference(memo_study, k) for k in KINDS}
for k, r in memo_rows.items():
    fixed, shuffled = (sum(memo[lab][k]["final"]) / len(memo[lab][k]["final"]) for lab in ("fixed", "shuffled"))
    print(f"{KINDS[k]:>34}: fixed {fixed:.3f}, shuffled {shuffled:.3f}; fixed − shuffled "
          f"{studies.describe(r['diff'], r['diff_half'])}")
norms = {lab: [r["head_norm"] for n, r in sorted(memo_study["runs"].items()) if n.startswith(lab + "/")]
         for lab in ("fixed", "shuffled")}
print("norm of the meta-learned starting head ‖W₀‖ per seed:", {k: [round(v, 2) for v in vs] for k, vs in norms.items()})
# the reading below says these things; the cell fails if the stored results stop saying them
final = {lab: {k: sum(memo[lab][k]["final"]) / len(memo[lab][k]["final"]) for k in KINDS} for lab in memo}
assert all(memo[lab]["steps"][1] <= 50 and memo[lab]["train"]["mean"][1] > 0.97 for lab in memo)  # both look perfect
assert not studies.verdict(memo_rows["held_out"]["diff"], memo_rows["held_out"]["diff_half"]) == "higher" \
    and abs(memo_rows["held_out"]["diff"]) < 0.03                                  # and alike on new articles
assert final["fixed"]["new_order"] < 0.4 < 0.85 < final["shuffled"]["new_order"]   # a new label order: only one copes
assert final["fixed"]["swapped"] > 0.8 > 0.3 > final["shuffled"]["swapped"]        # a wrong support: only one notices
assert memo_rows["new_order"]["diff"] + memo_rows["new_order"]["diff_half"] < 0
assert memo_rows["swapped"]["diff"] - memo_rows["swapped"]["diff_half"] > 0
assert min(norms["fixed"]) > 10 * (sum(norms["shuffled"]) / len(norms["shuffled"]))  # the labels live in W₀

# %% [markdown]
# **Reading it** (each sentence is checked by the cell above).
#
# * **Training curves cannot tell the two apart.** Both reach nearly perfect accuracy on their
#   meta-training episodes within the first few dozen steps, and both do equally well on new
#   articles labelled the way they were trained (the difference is not measurable).
# * **A new label order exposes the memoriser.** With support and query relabelled alike, the model
#   trained on shuffled labels is as good as ever; the one trained on fixed labels falls close to
#   chance: it answers in the order it stored, whatever the support set says.
# * **So does a wrong support set.** Given another episode's support set in another order, the
#   shuffled-label model follows it and ends at about chance, as a learner must; the fixed-label model
#   hardly changes. It no longer reads the support set at all.
# * **Where the labels went.** The fixed-label model's starting head grew more than ten times larger
#   than the shuffled-label model's (printed above): a five-way topic classifier stored in θ, which one inner
#   step of size 0.05 cannot overturn. With shuffled labels there is nothing stable to store, so the
#   starting head stays small and the inner loop does the work.
#
# This is meta-overfitting in its purest form: the meta-training objective is satisfied without
# learning to adapt. The course's episodes avoid it by drawing a new label order for every episode
# (section 1) and by building the head from each support set (section 2); Yin et al. propose a
# regulariser for the cases where the task design cannot. And the lesson for reading any
# meta-learning result: accuracy on held-out *examples* is not evidence of learning to learn;
# test on tasks the model could not have memorised.

# %% [markdown]
# ## 12. Try the sliders
#
# Each change runs fresh held-out episodes through the test protocol (about a second on a 2-core
# CPU at the default sizes; K = 20 or 20 inner steps are several times the work). Things to try: K = 1 vs K = 20; a large inner learning rate (1.0) and watch accuracy
# *fall* with more steps (over-fitting 5 support texts); N = 8 on BBC (there are only 5 topics:
# the panel tells you); the SMLMT task, where the words are the classes.

# %%
models = {"MLM (ours)": (model, tokenizer), "random init": (random_init, tokenizer)}
fig = render_few_shot(models, "MLM (ours)", "bbc", n_way=5, k_shot=1, inner_steps=5, inner_lr=0.05)
fig

# %% tags=["widget"]
# NBVAL_IGNORE_OUTPUT
few_shot_playground(models)

# %% [markdown]
# ## Summary
#
# * An episode is N classes × K support examples plus a query set, with labels re-drawn per episode;
#   test episodes must come from unseen documents (and unseen words, for SMLMT). BBC's five topics
#   make its episodes few-shot on *seen* classes; held-out SMLMT words are novel classes.
# * A prototype-initialised head makes step 0 a prototypical network; gradient steps refine it.
# * ProtoNet meta-training lowers its training meta-loss quickly; whether that helps on held-out
#   tasks must be measured, with several seeds.
# * A claim "method A beats B" needs the paired difference over seeds and its t-interval: one run
#   and unpaired intervals can neither show nor refute it.
# * Pretraining is what matters most here; what meta-training adds on top is in section 8, with its
#   intervals.
# * Before reading a gap as a property of an algorithm, hold the other differences equal: here
#   first-order MAML equals MAML at equal steps (its lead was its extra steps), and Reptile gains
#   nothing even with every parameter in its inner loop.
# * Our meta-learners learned features that need almost no adapting (the head does nearly all of
#   it; five steps leave every layer's representation almost unchanged): feature reuse, not rapid
#   learning.
# * If the tasks can be solved without the support set (fixed labels) and θ has room to store the
#   answer (a meta-learned head), a meta-learner memorises: perfect in training, and exposed only by
#   tasks it could not have stored — a new label order, or a support set that contradicts it.
#
# ## Exercises
#
# **5.1 ★ The prototype head.** Write `proto_head(features, labels, n_way)` returning `(W, b)` with
# $W_k = 2c_k$ and $b_k = -\lVert c_k\rVert^2$, where $c_k$ is the mean of the rows of `features`
# whose label is k. Shapes: features (M, D), labels (M,), W (N, D), b (N,).

# %% jupyter={"source_hidden": true} tags=["solution"]
def proto_head(features, labels, n_way):
    ### HINT: c = torch.stack([mean of features[labels == k] for each k]); then W and b from c
    ### BEGIN SOLUTION
    c = torch.stack([features[labels == k].mean(0) for k in range(n_way)])   # (N, D) prototypes
    return 2 * c, -(c * c).sum(-1)                                           # W_k = 2 c_k, b_k = −‖c_k‖²
    ### END SOLUTION


check_proto_head(proto_head)

# %% [markdown]
# **5.2 ★★ The ProtoNet loss.** Write `protonet_loss(support, support_labels, query, query_labels,
# n_way)`: the prototypes of the support features, logits $-\lVert q - c_k\rVert^2$ for every query
# feature, and the mean cross-entropy — the $\mathcal L(\theta)$ of section 5. It must stay a torch
# computation: meta-training back-propagates it into the encoder through both the prototypes and
# the query features.

# %% jupyter={"source_hidden": true} tags=["solution"]
def protonet_loss(support, support_labels, query, query_labels, n_way):
    ### HINT: squared distances by broadcasting: (query[:, None, :] - c[None, :, :]).pow(2).sum(-1) is (M, N)
    ### BEGIN SOLUTION
    c = torch.stack([support[support_labels == k].mean(0) for k in range(n_way)])
    logits = -(query[:, None, :] - c[None, :, :]).pow(2).sum(-1)              # −‖q − c_k‖², (M, N)
    return F.cross_entropy(logits, query_labels)
    ### END SOLUTION


check_protonet_loss(protonet_loss)

# %% [markdown]
# **5.3 ★★ An interval over seeds.** Write `seed_interval(model, baseline)`: `model[s]` and
# `baseline[s]` are the per-episode accuracies of seed s's model and of the baseline on the same
# episodes. Return the mean over seeds of $\Delta_s$ (section 6) and the 95% half-width
# $t_{0.975, S-1}\,\mathrm{sd}(\Delta)/\sqrt S$ (`scipy.stats.t.ppf(0.975, S - 1)`).

# %% jupyter={"source_hidden": true} tags=["solution"]
from scipy.stats import t as student_t


def seed_interval(model, baseline):
    ### HINT: one number per seed first (mean of model[s] minus mean of baseline[s]); then a t-interval over those
    ### BEGIN SOLUTION
    deltas = [sum(a) / len(a) - sum(b) / len(b) for a, b in zip(model, baseline)]   # Δ_s, paired per seed
    S = len(deltas)
    mean = sum(deltas) / S
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (S - 1))
    return mean, student_t.ppf(0.975, S - 1) * sd / math.sqrt(S)
    ### END SOLUTION


check_seed_interval(seed_interval)

# %% [markdown]
# **5.4 (discussion)** The bag-of-words baseline is far better on BBC topics than on SMLMT. Why?
# (Hint: what does a topic label depend on, and what does the identity of a masked word depend on?)
#
# **5.5 (experiment)** With the playground, find the inner learning rate at which 5 steps start to
# *hurt* 1-shot BBC accuracy. Explain what the head is fitting when K = 1.
#
# **5.6 (experiment)** Rerun section 5 with three different `seed=` values and the same number of
# steps. How much do the held-out differences vary between seeds, compared with their intervals
# over episodes? What does that say about a study with one seed per method?
#
# ## References
#
# * Bansal, Jha, Munkhdalai, McCallum 2020, *Self-Supervised Meta-Learning for Few-Shot Natural
#   Language Classification Tasks* (SMLMT).
# * Snell, Swersky, Zemel 2017, *Prototypical Networks for Few-shot Learning*.
# * Triantafillou et al. 2020, *Meta-Dataset* (Proto-MAML's prototype initialisation).
# * Finn, Abbeel, Levine 2017 (MAML); Nichol, Achiam, Schulman 2018 (Reptile).
# * Wang et al. 2020, *MiniLM*; Reimers & Gurevych 2019 (the sentence-transformers training of all-MiniLM-L6-v2).
# * Raghu, Raghu, Bengio, Vinyals 2020, *Rapid Learning or Feature Reuse? Towards Understanding the
#   Effectiveness of MAML* (ANIL).
# * Kornblith, Norouzi, Lee, Hinton 2019, *Similarity of Neural Network Representations Revisited* (CKA).
# * Yin, Tucker, Zhou, Levine, Finn 2020, *Meta-Learning without Memorization*.
