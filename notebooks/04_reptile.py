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
# # Chapter 4 — Reptile: first-order meta-learning, and what second order costs
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/04_reptile.ipynb)
#
# **Learning goals.** By the end of this chapter you can
# 1. state Reptile's update rule and implement it with the same inner loop as MAML;
# 2. explain, with a two-dimensional picture, where Reptile moves the initialisation and why that
#    differs from ordinary training on all tasks;
# 3. compare MAML, first-order MAML and Reptile on accuracy, time and memory, with measured numbers.

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
import json
import math

import torch

from metalearn_edu import studies, viz
from metalearn_edu.analysis import format_ci
from metalearn_edu.checkpoint import load_checkpoint
from metalearn_edu.data import DATA_DIR
from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import adapt, evaluate_adaptation, functional_loss, reptile_step
from metalearn_edu.meta.line_tasks import fixed_points, line_task_loss, line_tasks, loss_after_adaptation
from metalearn_edu.runtime import seed_everything
from metalearn_edu.widgets import line_tasks_playground, load_sinusoid_models

_ = seed_everything(0)  # returns the seeded generator, not needed here

# %% [markdown]
# ## 1. The update rule
#
# Reptile (Nichol, Achiam, Schulman 2018) needs no query set and no second derivatives. For each
# task in a meta-batch, run $k$ steps of plain SGD on the task from the current initialisation
# $\theta$, giving $\tilde\phi_i$; then move $\theta$ a fraction $\varepsilon$ of the way towards
# their mean:
#
# $$\theta \leftarrow \theta + \varepsilon\,\Big(\frac1n\sum_{i=1}^n \tilde\phi_i - \theta\Big).$$
#
# The direction $\theta - \tilde\phi$ acts as a gradient. With $k = 1$ it *is* the gradient of
# the task loss (times $\alpha$), so Reptile reduces to ordinary training on all tasks; with
# $k > 1$ a Taylor expansion (their §5) shows it also contains a term that increases the inner
# product between gradients of different minibatches of the same task — it favours an
# initialisation from which SGD steps on a task keep agreeing, which is what fast adaptation needs.
#
# We reuse the course's one inner loop, `adapt`, which returns the trajectory
# $[\theta, \phi_1, \dots, \phi_k]$; Reptile just reads the last point.
#
# ## 2. The geometry, in two dimensions
#
# Let each task's loss be zero along a whole line (its "solution manifold") and grow
# quadratically with the distance from it, steeply for some tasks and gently for others:
# $\mathcal L_i(\theta) = \tfrac{\lambda_i}{2}\,\big(n_i^\top(\theta - c_i)\big)^2
# = \tfrac12 (\theta - c_i)^\top A_i (\theta - c_i)$ with $A_i = \lambda_i n_i n_i^\top$, where $c_i$ is a
# point on the line, $n_i$ its unit normal and $\lambda_i$ its steepness. Three tasks, the sides of
# a triangle, with $\lambda = 2, 1, 0.1$ (`metalearn_edu.meta.line_tasks` holds them):

# %%
def show(point):
    return "(" + ", ".join(f"{round(float(x), 2) + 0.0:.2f}" for x in point) + ")"   # + 0.0 turns −0.00 into 0.00


tasks = line_tasks(steepness=(2.0, 1.0, 0.1))
for i, task in enumerate(tasks):
    print(f"task {i + 1}: c = {show(task.centre)}, n = {show(task.normal)}, λ = {task.steepness}")
inner_lr, inner_steps = 0.4, 5

# %% [markdown]
# `line_task_loss(params, task)` computes $\tfrac12 (\theta - c)^\top A (\theta - c)$ for
# $\theta$ = `params["theta"]`, so `adapt` and `reptile_step` run on it exactly as on a network.
# Three ways to choose the initialisation, each run from the same start until it settles:
# **joint training** (gradient descent on the average loss, i.e. Reptile with $k = 1$),
# **Reptile** with $k = 5$ inner steps, and **MAML** (second order, 5 inner steps, Adam on θ).

# %%
def reptile(k, steps=1000, eps=0.2):
    params = {"theta": torch.tensor([3.0, -3.0])}
    path = [params["theta"].clone()]
    for _ in range(steps):
        reptile_step(line_task_loss, params, tasks, inner_lr, k, eps)   # θ ← θ + ε (mean φ̃ − θ)
        path.append(params["theta"].clone())
    return torch.stack(path)


def maml(steps=300, lr=0.2):
    theta = torch.tensor([3.0, -3.0], requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    path = [theta.detach().clone()]
    for _ in range(steps):
        # (1/n) Σ_i L_i(φ_i(θ)): the loss after k inner steps, differentiated through them
        loss = sum(line_task_loss(adapt(line_task_loss, {"theta": theta}, t, inner_lr, inner_steps).params[-1], t)
                   for t in tasks) / len(tasks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


paths = {"joint training (k = 1)": reptile(1), "Reptile (k = 5)": reptile(inner_steps), "MAML (k = 5)": maml()}

# %% [markdown]
# **Check against closed forms.** Because every loss is quadratic, $k$ SGD steps have a closed
# form: $\phi_i = c_i + B_i(\theta - c_i)$ with $B_i = (I - \alpha A_i)^k$. Each method stops
# where its update vanishes, which is a 2×2 linear system:
#
# | method | stops where | so θ* = |
# |---|---|---|
# | joint training | $\sum_i A_i(\theta - c_i) = 0$ | $(\sum_i A_i)^{-1}\sum_i A_i c_i$ |
# | Reptile | $\frac1n\sum_i(\phi_i - \theta) = -\frac1n\sum_i (I - B_i)(\theta - c_i) = 0$ | $(\sum_i (I - B_i))^{-1}\sum_i (I - B_i) c_i$ |
# | MAML | $\nabla_\theta \frac1n\sum_i \mathcal L_i(\phi_i) = \frac1n\sum_i B_i A_i B_i(\theta - c_i) = 0$ | $(\sum_i B_i A_i B_i)^{-1}\sum_i B_i A_i B_i c_i$ |
#
# `fixed_points` solves the three systems; the iterative runs above, which used only the
# library's `reptile_step` and `adapt`, must end there:

# %%
closed_form = fixed_points(tasks, inner_lr, inner_steps)
for name, path in paths.items():
    assert torch.allclose(path[-1], closed_form[name], atol=5e-3), name
    print(f"{name:>24}: closed form θ* = {show(closed_form[name])}; the iterative run ended within 0.005 of it")

# %% [markdown]
# What matters for meta-learning is how well each initialisation does **after** $k$ steps on a
# task. The mean loss after 5 inner steps, over the three tasks, from each method's θ*:

# %%
after = {name: loss_after_adaptation(theta, tasks, inner_lr, inner_steps) for name, theta in closed_form.items()}
for name, value in after.items():
    print(f"{name:>24}: mean loss after 5 steps {value:.2g}")
assert after["MAML (k = 5)"] < after["Reptile (k = 5)"] < after["joint training (k = 1)"]

# %%
viz.plot_line_tasks([t.centre for t in tasks], [t.normal for t in tasks],
                    [f"task {i + 1}, λ = {t.steepness:g}" for i, t in enumerate(tasks)], paths=paths,
                    title="Three tasks (lines of zero loss); runs from (3, −3) end at θ* (×)")

# %% [markdown]
# Why these three points? Along its normal, task $i$'s distance to its line shrinks by the factor
# $(1 - \alpha\lambda_i)$ per SGD step, and each method's fixed point weights the tasks
# differently (the table above): joint training by the curvature $\lambda_i$, Reptile by how far
# $k$ steps move the task, $1 - (1-\alpha\lambda_i)^k$, and MAML by what is *left* after them,
# $\lambda_i(1-\alpha\lambda_i)^{2k}$:

# %%
print(f"{'task':>6} {'λ':>5} {'shrink (1 − αλ)^k':>18} {'joint: λ':>9} {'Reptile: 1 − (1 − αλ)^k':>24} "
      f"{'MAML: λ(1 − αλ)^2k':>19}")
for i, t in enumerate(tasks):
    shrink = (1 - inner_lr * t.steepness) ** inner_steps
    print(f"{i + 1:>6} {t.steepness:>5g} {shrink:>18.4f} {t.steepness:>9g} {1 - shrink:>24.4f} "
          f"{t.steepness * shrink ** 2:>19.2e}")

# %% [markdown]
# Joint training minimises the *average* loss, which the steep task dominates, so it settles
# close to the steep task's line. But the steep task is the easy one to adapt to: five steps of
# size 0.4 leave almost nothing of its distance, while the gentle task keeps most of its own. What
# matters after adaptation is being close to the lines of the tasks that are *slow* to adapt to.
# Reptile's weights take the steep task down from 2 to about 1 and the gentle one from 0.1 to
# 0.18: *relative to joint training's weights* Reptile leans towards the slow task, so it moves a
# little towards the gentle line. MAML's weights almost ignore the steep task (printed above) and
# put θ on the corner where the middle and the gentle lines meet: from there five steps also solve
# the steep task, and the mean loss after adaptation is many orders of magnitude below Reptile's
# and joint training's (the cell before the figure prints all three).
#
# Both meta-learners beat joint training here, but only because the tasks differ in how fast SGD
# solves them. Exercise 4.3 asks what happens when they do not.
#
# ## Try the sliders
#
# The panel redraws the three fixed points (closed forms, so it is instant) for any inner step
# size $\alpha$, number of inner steps $k$ and steepnesses; each legend entry gives that method's
# mean loss after $k$ steps. Things to try: $k = 1$ (Reptile lands on joint training; why?);
# larger $k$ (Reptile moves away from joint training, and at $k = 20$ MAML's point jumps to the
# other end of the gentle line: once $k$ steps also solve the middle task, every point of the
# gentle line is almost equally good); $\alpha \ge 2/\lambda_{\max}$ (the panel explains why
# there is no answer).

# %%
# NBVAL_IGNORE_OUTPUT
line_tasks_playground()

# %% [markdown]
# ## 3. Accuracy: MAML vs first-order MAML vs Reptile on sinusoids
#
# A comparison of methods is only as good as its controls. `benchmarks/sinusoid.py` trains every
# method on the same task distribution with **the same meta-batch of 25 tasks per outer step**, so
# no method sees more tasks per step than another, and gives Reptile **two budgets**: Finn et al.'s
# 70,000 outer steps like the others, and the processor time that second-order MAML took for the
# same seed (budgets count processor time of one thread, so runs that share a machine are treated
# alike). Reptile's own settings — its number of inner steps $k$ and its step size $\varepsilon$ —
# were chosen the way the baseline's fine-tuning step size is: by the 10-step error on 100
# *validation* tasks, over a small grid of short runs. Every method was trained with three seeds
# (each seed draws a new initialisation and new training tasks), and every network was tested on
# the same 600 test tasks, so differences can be taken task by task.
#
# One rule keeps long runs alive. Over 70,000 steps × 25 tasks, a multi-step inner loop at
# $\alpha = 0.01$ occasionally blows up on one high-amplitude task (chapter 3 met the same
# sharpness at test time). Every meta-learner therefore trains with `on_divergence="skip"`: an
# outer step in which any task's inner loop diverges is dropped — $\theta$ stays where it was, as
# mixed-precision training drops a step whose gradients overflow — and its number is recorded.
# MAML's single inner step never diverged in training, so for MAML the rule changes nothing; the
# cell counts the skipped steps of every run. First the settings and budgets:

# %%
study = json.loads((DATA_DIR.parent / "benchmarks" / "results" / "sinusoid.json").read_text())
settings, tuning = study["settings"], study["tuning"]
print(f"Reptile's settings, chosen on {settings['val_tasks']} validation tasks after {tuning['steps']:,} outer steps "
      f"(10-step validation MSE; inf = the inner loop diverged):")
for g in sorted(tuning["grid"], key=lambda g: (g["inner_steps"], g["epsilon"])):
    chosen = " ← chosen" if (g["inner_steps"], g["epsilon"]) == (tuning["chosen"]["inner_steps"],
                                                                 tuning["chosen"]["epsilon"]) else ""
    skipped = f" ({g['skipped']} of {tuning['steps']:,} steps skipped)" if g.get("skipped") else ""
    print(f"  k = {g['inner_steps']:>2} inner steps, ε = {g['epsilon']:<4g}: {g['val_mse']:.3f}{skipped}{chosen}")
print()
for method in ("maml", "fomaml", "reptile", "reptile_time", "pretrained"):
    runs = studies.sinusoid_runs(study, method)
    per_step = runs[0]["settings"].get("meta_batch_size", runs[0]["settings"].get("tasks_per_step"))
    print(f"{studies.SINUSOID_NAMES[method]:>37}: {per_step} tasks per step; outer steps "
          + ", ".join(f"{r['train_steps']:,}" for r in runs) + "; processor seconds "
          + ", ".join(f"{r['train_cpu_seconds']:.0f}" for r in runs) + "; skipped steps "
          + ", ".join(str(len(r["history"].get("skipped", []))) for r in runs) + f" (seeds {[r['seed'] for r in runs]})")

# %% [markdown]
# The shipped networks in `data/checkpoints/sinusoid/` are those of seed 0. As a check that they are the networks
# the study scored, we evaluate them on the first 100 of the study's test tasks and compare with the
# stored per-task errors of the same seed:

# %%
models = load_sinusoid_models(DATA_DIR / "checkpoints" / "sinusoid")
test_tasks = SinusoidTasks(seed=settings["test_seed"])
test_episodes = [test_tasks.episode(i, k_shot=settings["eval_shots"], k_query=100) for i in range(100)]
for method, (model, lr) in models.items():
    curve = evaluate_adaptation(functional_loss(model, "mse"), dict(model.named_parameters()), test_episodes, lr, 10,
                                on_divergence="record")
    seed = load_checkpoint(DATA_DIR / "checkpoints" / "sinusoid" / f"{method}.pt")["extra"]["seed"]
    stored = [row[10] for row in study["runs"][f"{method}/seed={seed}"]["curve"]["per_task"][:100]]
    here = [row[10] if math.isfinite(row[10]) else None for row in curve.per_episode]
    agree = all((a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-3 * (1 + abs(b)))
                for a, b in zip(here, stored))
    print(f"{method:>10} (seed {seed}): 5-shot MSE after 10 steps on 100 tasks {curve.format(10, 2)}; equals the "
          f"stored values: {agree}")
    assert agree, method

# %% [markdown]
# Now the table (the same one the README shows, generated from the JSON). Each cell is the mean over
# seeds of a network's mean error on the 600 test tasks, with the 95% t-interval over seeds (three
# seeds: t = 4.30, so the intervals are wide, as they should be), and Δ is the paired difference
# from MAML of the same seed on the same tasks:

# %%
print(studies.sinusoid_markdown(study))

# %% [markdown]
# The pairs that matter, as differences along the whole adaptation curve (mean over seeds ± the
# t-interval over seeds; below zero the first method has the lower error):

# %%
PAIRS = [(a, b) for a, b in [("maml", "fomaml"), ("reptile", "maml"), ("reptile_time", "maml"), ("reptile", "fomaml"),
                              ("reptile", "pretrained")]
         if len(studies.sinusoid_runs(study, a)) > 1]   # an interval over seeds needs two of them
differences = {f"{studies.SINUSOID_NAMES[a]} − {studies.SINUSOID_NAMES[b]}":
               [studies.sinusoid_difference(study, a, b, k)[:2] for k in range(11)] for a, b in PAIRS}
for name, d in differences.items():
    print(f"{name:>75}: {format_ci(*d[1], 2)} after 1 step, {format_ci(*d[10], 2)} after 10")
fig = viz.plot_adaptation({name: {"steps": list(range(11)), "mean": [m for m, _ in d], "ci": [h for _, h in d]}
                           for name, d in differences.items()},
                          metric_name="paired difference in MSE", title="Paired differences on the same 600 test "
                          "tasks (mean over 3 seeds ± 95% CI over seeds)")
fig.axes[0].axhline(0.0, color="black", linewidth=1)
fig

# %%
def diff(a, b, k):
    return studies.sinusoid_difference(study, a, b, k)[:2]


def measurable(d):
    return d[0] - d[1] > 0 or d[0] + d[1] < 0


skipped = {m: [len(r["history"].get("skipped", [])) for r in studies.sinusoid_runs(study, m)]
           for m in ("maml", "fomaml", "reptile", "reptile_time")}
print("outer steps skipped because an inner loop diverged, per seed:", skipped)
for method in ("maml", "fomaml", "reptile", "reptile_time"):   # every network is far ahead of the baseline
    assert all(v < -1.0 for v in studies.sinusoid_difference(study, method, "pretrained", 1)[2]), method
assert all(n == 0 for m in ("maml", "fomaml") for n in skipped[m])              # one inner step: never
assert all(0 < n <= 10 for m in ("reptile", "reptile_time") for n in skipped[m])   # ten steps: a handful in 70,000
assert tuning["chosen"] == {"inner_steps": 10, "epsilon": 1.0}
for k in (1, 10):
    print(f"after {k:>2} step(s): Reptile − MAML {format_ci(*diff('reptile', 'maml', k), 2)}; "
          f"Reptile − first-order MAML {format_ci(*diff('reptile', 'fomaml', k), 2)}; "
          f"Reptile at MAML's time − MAML {format_ci(*diff('reptile_time', 'maml', k), 2)}")
    assert not measurable(diff("reptile", "fomaml", k)) and not measurable(diff("reptile", "maml", k))
assert diff("reptile", "maml", 1)[0] > 0                                       # behind on average after one step
assert diff("reptile_time", "maml", 1)[0] - diff("reptile_time", "maml", 1)[1] > 0
assert not measurable(diff("reptile_time", "reptile", 10)) and not measurable(diff("reptile_time", "maml", 10))
cpu = {m: sum(r["train_cpu_seconds"] for r in studies.sinusoid_runs(study, m)) / 3 for m in ("maml", "reptile")}
assert cpu["reptile"] > cpu["maml"]                                             # a 10-step Reptile step costs more
assert all(r["train_steps"] < 70_000 for r in studies.sinusoid_runs(study, "reptile_time")), \
    "at MAML's CPU time Reptile takes fewer steps"

# %% [markdown]
# What the comparison says (the cell above checks each reading against the JSON):
#
# * **Every network is far ahead of the baseline**, on every seed, after one step.
# * **Reptile matches first-order MAML, and is not measurably behind MAML.** Tuned on validation
#   tasks, Reptile takes ten inner steps with $\varepsilon = 1$. At 70,000 steps its error is not
#   measurably different from first-order MAML's after one step or after ten, and not measurably
#   different from MAML's either: on average it is behind MAML after one step and level after ten,
#   but three seeds cannot tell that one-step gap from zero.
# * **The skip rule was needed, and it cost almost nothing.** Ten plain SGD steps of size
#   $\alpha = 0.01$ on one high-amplitude task blew up a handful of times in each Reptile run (the
#   counts are printed above: a few steps in 70,000); without the rule those runs would have
#   stopped there. This is chapter 3's sharp initialisation met during *training*: over a long run
#   $\theta$ can drift to where one task's curvature exceeds $2/\alpha$, and $k$ steps of size
#   $\alpha$ then diverge. MAML takes one inner step while it trains and never met it.
# * **Equal steps or equal time?** With ten inner steps, a Reptile step costs *more* processor time
#   than a second-order MAML step here, so at MAML's time Reptile gets fewer outer steps (printed
#   above), and it is then measurably behind MAML after one step; after ten steps the time budget
#   makes no measurable difference. The tuning grid shows how much Reptile's settings matter (from
#   worse than the baseline to the chosen one), which is why they were chosen on validation tasks
#   rather than borrowed.
#
# Nichol et al.'s own sine script gives Reptile one task per outer step. Set beside MAMLs that take
# 25 for the same number of steps, such a Reptile sees 25 times fewer tasks, and its worse error
# would be blamed on the method rather than on the data (exercise 4.4 measures how much worse).
# That is the lesson this section began with: before a comparison says anything about the methods,
# every other difference between the runs (tasks per step, steps, time, tuning) has to be equal or
# measured.
#
# ## 4. What does second order cost?
#
# Second-order MAML keeps the graph of every inner step to differentiate through it, so its
# memory grows with the number of inner steps; first-order MAML and Reptile keep nothing between
# steps. On a 2,000-parameter sine network none of this matters, so the measurement below uses the
# network the rest of the course meta-learns: the 1.9 M-parameter encoder pretrained in chapter 2,
# on one text-classification task of the kind chapter 5 builds in detail. Such an *episode* has
# 5 classes (here 5 of the BBC corpus's news topics), a support set of 5 articles per class (cut to
# 64 tokens) and a query set of 5 more per class; a classifier on top of the encoder maps the mean
# of its output vectors to 5 scores with a linear layer that starts at zero, and the inner loop
# adapts either every parameter or only the top Transformer block and that layer.
# `benchmarks/meta_cost.py` timed one meta-step of each method on one CPU thread, and `higher`'s
# second-order MAML on the same episode:

# %%
measured = json.loads((DATA_DIR.parent / "benchmarks" / "results" / "meta_cost.json").read_text())
rows = [{"method": r["method"], "inner_steps": r["inner_steps"], "time_ms": 1000 * r["seconds"],
         "memory_mb": r["peak_mb"], "adapt": r["adapt"]} for r in measured["rows"]]
for r in rows:
    if r["inner_steps"] == 10:
        print(f"K=10, adapt {r['adapt']:>4}: {r['method']:>8} {r['time_ms']:7.0f} ms  {r['memory_mb']:6.0f} MiB")
by_key = {(r["method"], r["adapt"], r["inner_steps"]): r for r in rows}
first_order = [(by_key[(m, a, k)]["time_ms"] / r["time_ms"], by_key[(m, a, k)]["memory_mb"] / r["memory_mb"])
               for (method, a, k), r in by_key.items() if method == "maml" for m in ("fomaml", "reptile")]
higher_top = [(by_key[("higher", a, k)]["time_ms"] / r["time_ms"], by_key[("higher", a, k)]["memory_mb"] / r["memory_mb"])
              for (method, a, k), r in by_key.items() if method == "maml" and a != "all"]
higher_all = [by_key[("higher", a, k)]["time_ms"] / r["time_ms"] for (method, a, k), r in by_key.items()
              if method == "maml" and a == "all"]
print(f"first-order MAML and Reptile: {min(t for t, _ in first_order):.2f}–{max(t for t, _ in first_order):.2f} of "
      f"MAML's time (MAML takes {1 / max(t for t, _ in first_order):.1f}–{1 / min(t for t, _ in first_order):.1f}× "
      f"theirs); at K = 10 with everything adapting, "
      f"{by_key[('fomaml', 'all', 10)]['memory_mb'] / by_key[('maml', 'all', 10)]['memory_mb']:.2f} and "
      f"{by_key[('reptile', 'all', 10)]['memory_mb'] / by_key[('maml', 'all', 10)]['memory_mb']:.2f} of its memory")
print(f"higher vs our MAML: {min(higher_all):.2f}–{max(higher_all):.2f}× the time with everything adapting; "
      f"up to {max(t for t, _ in higher_top):.1f}× the time and {max(m for _, m in higher_top):.1f}× the memory "
      "with only the top block and the head adapting")
fig = viz.plot_cost(rows, title="One meta-step on the micro encoder (measured; CPU, 1 thread)")
fig

# %% [markdown]
# Reading the plot: with all parameters adapting, MAML's time and memory grow linearly in $K$
# (over a gigabyte at $K = 10$ for a 1.9 M-parameter model), while first-order MAML and Reptile
# need a third to two thirds of the time and, at $K = 10$, a tenth or so of the memory (the
# ratios are printed above). `higher` costs the same as our MAML when everything adapts (the two
# differ by about as much as timings of one meta-step vary between runs), but when only the top
# layers adapt it still differentiates through the frozen ones and becomes several times slower
# and larger.
#
# ## Summary
#
# * Reptile: run $k$ SGD steps per task, then move $\theta$ towards the adapted weights:
#   $\theta \leftarrow \theta + \varepsilon(\bar{\tilde\phi} - \theta)$. No query set, no second derivatives.
# * With $k = 1$ it is ordinary training on all tasks; with $k > 1$ it weights each task by how
#   far $k$ SGD steps move it, so *relative to joint training's weights* it leans towards the
#   tasks that are slow to adapt to. MAML weights them by what is left after adaptation and leans
#   much further (the 2-D picture, checked against closed forms). Neither gains anything when all
#   tasks adapt equally fast.
# * On sinusoids, with every method trained on the same 25 tasks per step for Finn et al.'s 70,000
#   outer steps: all three meta-learners are far ahead of the pretrained baseline. Reptile (ten
#   inner steps and ε chosen on validation tasks; a handful of diverging steps skipped in each run)
#   is indistinguishable from first-order MAML, and three seeds cannot tell it from MAML; with
#   MAML's processor time it takes fewer steps and is measurably behind MAML after one. A
#   comparison is only as fair as its meta-batches, steps, time and tuning.
# * Second order costs memory linear in the inner steps and more time than first-order methods on
#   our encoder (measured above); that is why first-order methods dominate at scale.
#
# ## Exercises
#
# **4.1 ★★ Reptile by hand.** Write `my_reptile_step(loss_fn, params, episodes, inner_lr,
# inner_steps, eps)` that returns the new $\theta$ (a new dict; leave `params` unchanged) without
# using `reptile_step`: adapt every episode from the same $\theta$ on its support set
# (`adapt(loss_fn, params, episode.support, inner_lr, inner_steps)` is allowed), average the
# adapted weights, and move $\theta$ a fraction $\varepsilon$ towards the average. The check
# compares with `reptile_step` on random line tasks and on a small network with sine tasks.

# %% jupyter={"source_hidden": true} tags=["solution"]
from metalearn_edu.exercises import check_line_meta_gradient, check_reptile_update


def my_reptile_step(loss_fn, params, episodes, inner_lr, inner_steps, eps):
    ### HINT: adapt(...).adapted is φ̃ for one episode; the new θ is θ + ε·(mean φ̃ − θ)
    ### BEGIN SOLUTION
    adapted = [adapt(loss_fn, params, ep.support, inner_lr, inner_steps).adapted for ep in episodes]
    return {n: p + eps * (sum(a[n] for a in adapted) / len(adapted) - p) for n, p in params.items()}
    ### END SOLUTION


check_reptile_update(my_reptile_step)

# %% [markdown]
# **4.2 ★★★ MAML's meta-gradient on a line task, through $K$ steps.** For one line task
# ($\mathcal L(\theta) = \tfrac12(\theta - c)^\top A(\theta - c)$, Hessian $A$ everywhere), write
# `line_meta_gradient(theta, task, inner_lr, inner_steps)` $= \nabla_\theta\mathcal L(\phi_K(\theta))$
# using chapter 3's product formula: take the $K$ inner steps, start from $\nabla\mathcal L(\phi_K) = A(\phi_K - c)$,
# and multiply by $(I - \alpha A)$ once per inner step (`task.curvature` is $A$, `task.centre` is $c$).
# The check compares with the closed form $B^\top A B(\theta - c)$, $B = (I - \alpha A)^K$, of
# `metalearn_edu.meta.line_tasks` — the weight MAML's fixed point gives each task in section 2.

# %% jupyter={"source_hidden": true} tags=["solution"]
def line_meta_gradient(theta, task, inner_lr, inner_steps):
    ### HINT: φ_(k+1) = φ_k − αA(φ_k − c) for K steps; then g = A(φ_K − c) and K times g ← g − αAg
    ### BEGIN SOLUTION
    A, c = task.curvature, task.centre
    phi = theta
    for _ in range(inner_steps):                 # the inner loop: φ_(k+1) = φ_k − α ∇L(φ_k)
        phi = phi - inner_lr * A @ (phi - c)
    grad = A @ (phi - c)                         # ∇φ L(φ_K)
    for _ in range(inner_steps):                 # × (I − α H_k), H_k = A, from the last step back
        grad = grad - inner_lr * A @ grad
    return grad
    ### END SOLUTION


check_line_meta_gradient(line_meta_gradient)

# %% [markdown]
# **4.3 (discussion)** With the sliders (or `fixed_points(line_tasks((1.0, 1.0, 1.0)), 0.4, 5)`),
# make the three tasks equally steep. Where do the three methods end up now, and why? Use the
# weights in the table of section 2. What does that say about when meta-learning an
# initialisation can beat ordinary multi-task training?
#
# **4.4 (experiment) One task per step.** Train Reptile with the tuned settings (printed in
# section 3) but `meta_batch_size=1`, for as many outer steps as your patience allows (3,000
# take seconds), and a second run with `meta_batch_size=25` for the same steps; score
# both on `test_episodes` with `evaluate_adaptation` and take the paired difference. How much of a
# gap does the meta-batch alone make? Is it fairer to compare at equal steps or at an equal number
# of tasks seen?
#
# ## References
#
# * Nichol, Achiam, Schulman 2018, *On First-Order Meta-Learning Algorithms* (Reptile).
# * Finn, Abbeel, Levine 2017 (MAML, first-order MAML).
# * Grefenstette et al. 2019 (`higher`).
