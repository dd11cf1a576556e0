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

from metalearn_edu import viz
from metalearn_edu.analysis import format_ci, paired_ci
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
# Chapter 3's figure showed the adaptation curves of the shipped sine networks, trained by
# `benchmarks/sinusoid.py`. How long did each train, and with what budget? (Finn et al. trained
# MAML for 70,000 outer steps; the benchmark stops every method there, or when its budget of
# processor time runs out, whichever comes first. Budgets count processor time, so that runs
# sharing a machine are treated alike; the wall-clock times below are longer.)

# %%
benchmark = json.loads((DATA_DIR.parent / "benchmarks" / "results" / "sinusoid.json").read_text())
settings = benchmark["settings"]
print(f"budget: at most {settings['max_steps']:,} outer steps or {settings['budget']:g} s of processor time per "
      f"method ({settings['threads']} thread)")
for method, row in benchmark["methods"].items():
    run = row["history"]["settings"]
    per_step = run.get("meta_batch_size", run.get("tasks_per_step", "?"))
    print(f"{method:>10}: {row['train_steps']:>6,} outer steps, {per_step:>2} task(s) per step, {row['train_seconds']:5.0f} s "
          "(wall clock, shared machine)")
capped = [m for m, row in benchmark["methods"].items() if row["train_steps"] >= settings["max_steps"]]
print(f"{len(capped)} of {len(benchmark['methods'])} methods stopped at the step cap; "
      f"{len(benchmark['methods']) - len(capped)} ran out of budget first")

# %% [markdown]
# We score the four networks on the same 100 test tasks as chapter 3 (a task whose inner loop
# diverges is recorded, as there, and left out):

# %%
models = load_sinusoid_models(DATA_DIR / "checkpoints" / "sinusoid")
test_tasks = SinusoidTasks(seed=10_000)
test_episodes = [test_tasks.episode(i, k_shot=5, k_query=100) for i in range(100)]
curves = {}
for method, (model, lr) in models.items():
    curves[method] = evaluate_adaptation(functional_loss(model, "mse"), dict(model.named_parameters()),
                                         test_episodes, lr, 10, on_divergence="record")
    diverged = f"; {curves[method].n_diverged[-1]} diverged" if curves[method].n_diverged[-1] else ""
    print(f"{method:>10}: 5-shot MSE after 1 / 10 steps = {curves[method].format(1)} / {curves[method].format(10)}"
          + diverged)

# %% [markdown]
# Each interval describes one method on its own, and those of MAML and first-order MAML overlap
# almost completely. But all four were tested on the **same** 100 tasks, so the sharper question
# is the *paired* one: on each task,
# by how much does one method's error differ from another's? Easy and hard tasks then cancel, and
# the interval of the mean difference (`metalearn_edu.analysis.paired_ci`, the t-interval over
# the per-task differences) is much narrower than the two separate ones:

# %%
PAIRS = [("maml", "fomaml"), ("maml", "reptile"), ("fomaml", "reptile"), ("reptile", "pretrained")]


def paired_difference(a, b, step):
    """Mean and 95% half-width of MSE_a − MSE_b after `step` steps, over the tasks where neither diverged."""
    rows = [(x[step], y[step]) for x, y in zip(curves[a].per_episode, curves[b].per_episode)
            if math.isfinite(x[step]) and math.isfinite(y[step])]
    return paired_ci([x for x, _ in rows], [y for _, y in rows])


differences = {}
for a, b in PAIRS:
    differences[f"{a} − {b}"] = [paired_difference(a, b, step) for step in range(11)]
    cells = [format_ci(*differences[f"{a} − {b}"][step]) for step in (1, 10)]
    print(f"{a + ' − ' + b:>20}: {cells[0]} after 1 step, {cells[1]} after 10")
for method in ("maml", "fomaml", "reptile"):   # every meta-learner beats the baseline on the same tasks
    mean, half = paired_difference(method, "pretrained", 1)
    assert mean + half < 0, method
for method in ("maml", "fomaml"):              # with the same number of steps, both MAMLs beat Reptile
    mean, half = paired_difference(method, "reptile", 10)
    assert mean + half < 0, method

# %%
fig = viz.plot_adaptation({name: {"steps": list(range(11)), "mean": [m for m, _ in d], "ci": [h for _, h in d]}
                           for name, d in differences.items()},
                          metric_name="paired difference in MSE", title="Paired differences over the same 100 "
                          "test tasks (mean ± 95% CI; below 0: the first method is better)")
fig.axes[0].axhline(0.0, color="black", linewidth=1)
fig

# %% [markdown]
# A negative difference means the first method has the lower error; an interval that contains 0
# means 100 tasks cannot tell the two apart. Trained for the same number of outer steps, MAML and
# first-order MAML cannot be told apart here: the Hessian term that chapter 3 measured changes
# each meta-gradient noticeably, but over 70,000 steps it buys nothing measurable on this problem.
# Both beat Reptile, on the same tasks, after one step and after ten; and Reptile beats the
# pretrained baseline by far. Part of Reptile's gap is data: as in Nichol et al.'s sine script it
# takes one task per outer step, where the MAMLs take 25 (printed above), so at equal steps it has
# seen far fewer tasks.
#
# ## 4. What does second order cost?
#
# Second-order MAML keeps the graph of every inner step to differentiate through it, so its
# memory grows with the number of inner steps; first-order MAML and Reptile keep nothing between
# steps. `benchmarks/meta_cost.py` measured one meta-step on the course's micro encoder (5-way
# 5-shot BBC episode, 64 tokens, one CPU thread), adapting all parameters or only the top block
# and the head, and `higher`'s second-order MAML on the same episode:

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
# * On sinusoids, with every method trained for Finn et al.'s 70,000 outer steps: MAML and
#   first-order MAML cannot be told apart on 100 paired tasks, both beat Reptile (which sees one
#   task per step instead of 25), and all three are far ahead of the pretrained baseline.
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
# ## References
#
# * Nichol, Achiam, Schulman 2018, *On First-Order Meta-Learning Algorithms* (Reptile).
# * Finn, Abbeel, Levine 2017 (MAML, first-order MAML).
# * Grefenstette et al. 2019 (`higher`).
