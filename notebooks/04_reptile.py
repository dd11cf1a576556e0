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
# # Chapter 4 — Reptile: first-order meta-learning, and what second order costs
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
from metalearn_edu.analysis import format_ci, mean_ci
from metalearn_edu.data import DATA_DIR
from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.exercises import check_reptile_update
from metalearn_edu.meta import adapt, evaluate_adaptation, functional_loss, reptile_step
from metalearn_edu.meta.line_tasks import fixed_points, line_task_loss, line_tasks, loss_after_adaptation
from metalearn_edu.runtime import seed_everything
from metalearn_edu.widgets import line_tasks_playground, load_sinusoid_models

seed_everything(0)

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
                    title="Three tasks (lines of zero loss) and where each method puts θ")

# %% [markdown]
# Joint training minimises the *average* loss, which the steep task dominates, so it settles
# close to the steep task's line. But the steep task is the easy one to adapt to: five steps of
# size 0.4 shrink its distance by $(1 - 0.4\cdot 2)^5 \approx 0.0003$, while the gentle task's
# distance only shrinks by $(1 - 0.4 \cdot 0.1)^5 \approx 0.82$. What matters after adaptation is
# being close to the lines of the tasks that are *slow* to adapt to. Reptile's fixed point weights
# each task by how far $k$ steps move it, $1 - (1-\alpha\lambda_i)^k$ (0.9997, 0.92 and 0.18 here),
# so it moves only a little towards the gentle line. MAML weights each task by
# $\lambda_i(1-\alpha\lambda_i)^{2k}$ — what is *left* after adaptation — which almost ignores the
# steep task ($2\cdot 0.2^{10} \approx 2\times10^{-7}$) and puts θ on the corner where the middle and
# the gentle lines meet: from there five steps also solve the steep task, and the loss after
# adaptation is about $4\times 10^{-7}$, against 0.07 for Reptile and 0.10 for joint training.
#
# Both meta-learners beat joint training here, but only because the tasks differ in how fast SGD
# solves them. Exercise 4.2 asks what happens when they do not.
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
# The networks meta-trained for chapter 3 (two minutes each, same budget) on 100 test tasks:

# %%
models = load_sinusoid_models(DATA_DIR / "checkpoints" / "sinusoid")
test_tasks = SinusoidTasks(seed=10_000)
test_episodes = [test_tasks.episode(i, k_shot=5, k_query=100) for i in range(100)]
curves = {}
for method, (model, lr) in models.items():
    curves[method] = evaluate_adaptation(functional_loss(model, "mse"), dict(model.named_parameters()),
                                         test_episodes, lr, 10)
    print(f"{method:>10}: 5-shot MSE after 1 / 10 steps = {curves[method].format(1)} / {curves[method].format(10)}")
fig = viz.plot_adaptation({m: c.to_dict() for m, c in curves.items()}, metric_name="MSE", log_y=True,
                          title="Same 2-minute budget, 100 test tasks (95% CI)")
fig

# %% [markdown]
# In mean error the order is MAML, first-order MAML, Reptile, pretrained, but the intervals of
# neighbours overlap. Each interval describes one method on its own; all four were tested on the
# **same** 100 tasks, so the sharper question is the *paired* one: on each task, by how much does
# one method's error differ from another's? The mean of those 100 differences, with its 95%
# interval:

# %%
def paired_difference(a, b, step):
    """Mean and 95% half-width of MSE_a − MSE_b over the same test tasks, after `step` inner steps."""
    return mean_ci([x[step] - y[step] for x, y in zip(curves[a].per_episode, curves[b].per_episode)])


for a, b in [("maml", "fomaml"), ("fomaml", "reptile"), ("reptile", "pretrained")]:
    cells = [format_ci(*paired_difference(a, b, step)) for step in (1, 10)]
    print(f"{a + ' − ' + b:>20}: {cells[0]} after 1 step, {cells[1]} after 10")
for method in ("maml", "fomaml", "reptile"):   # every meta-learner beats the baseline on the same tasks
    mean, half = paired_difference(method, "pretrained", 1)
    assert mean + half < 0, method

# %% [markdown]
# A negative difference means the first method has the lower error. MAML beats first-order MAML
# on the same tasks (the interval excludes 0 after 1 and after 10 steps), and every meta-learner
# beats the pretrained baseline by far; first-order MAML and Reptile cannot be told apart with 100
# tasks (their interval contains 0). With a fixed *time* budget the cheaper methods take more
# outer steps (Reptile: 70,000 vs MAML's 6,250), which is not enough to close the gap to MAML on
# this problem.
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
fig = viz.plot_cost(rows, title="One meta-step on the micro encoder (measured; CPU, 1 thread)")
fig

# %% [markdown]
# Reading the plot: with all parameters adapting, MAML's time and memory grow linearly in $K$
# (1.3 GB at $K = 10$ for a 1.9 M-parameter model), while first-order MAML and Reptile need
# a third to a half of the time and, at $K = 10$, a tenth of the memory. `higher` costs the
# same as our MAML when everything adapts (the two differ by less than the ±10% that timings
# of one meta-step vary by), but when only the top layers adapt it still differentiates
# through the frozen ones and becomes up to 4.5× slower and 2.3× larger.
#
# ## Summary
#
# * Reptile: run $k$ SGD steps per task, then move $\theta$ towards the adapted weights:
#   $\theta \leftarrow \theta + \varepsilon(\bar{\tilde\phi} - \theta)$. No query set, no second derivatives.
# * With $k = 1$ it is ordinary training on all tasks; with $k > 1$ it weights each task by how
#   far $k$ SGD steps move it, so it leans towards tasks that are slow to adapt to. MAML weights
#   them by what is left after adaptation and leans much further (the 2-D picture, checked
#   against closed forms). Neither gains anything when all tasks adapt equally fast.
# * On sinusoids, for the same time budget: MAML beats first-order MAML (paired over the same
#   tasks), first-order MAML and Reptile are not separable at 100 tasks, and all three are far
#   ahead of the pretrained baseline.
# * Second order costs memory linear in the inner steps and 1.6–3.3× the time of first-order
#   methods on our encoder (measured); that is why first-order methods dominate at scale.
#
# ## Exercises
#
# **4.1 Reptile by hand.** Write `my_reptile_step(loss_fn, params, tasks, inner_lr, inner_steps, eps)`
# that returns the new $\theta$ (a dict) without using `reptile_step`, then check it.

# %% tags=["solution"] jupyter={"source_hidden": true}
# Solution 4.1
def my_reptile_step(loss_fn, params, tasks, inner_lr, inner_steps, eps):
    adapted = [adapt(loss_fn, params, t, inner_lr, inner_steps).params[-1] for t in tasks]
    return {n: p + eps * (sum(a[n] for a in adapted) / len(adapted) - p) for n, p in params.items()}


check_reptile_update(my_reptile_step, line_task_loss, tasks)

# %% [markdown]
# **4.2 (discussion)** With the sliders (or `fixed_points(line_tasks((1.0, 1.0, 1.0)), 0.4, 5)`),
# make the three tasks equally steep. Where do the three methods end up now, and why? Use the
# weights in the table above. What does that say about when meta-learning an initialisation can
# beat ordinary multi-task training?
#
# ## References
#
# * Nichol, Achiam, Schulman 2018, *On First-Order Meta-Learning Algorithms* (Reptile).
# * Finn, Abbeel, Levine 2017 (MAML, first-order MAML).
# * Grefenstette et al. 2019 (`higher`).
