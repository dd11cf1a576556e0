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
from metalearn_edu.data import DATA_DIR
from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.exercises import check_reptile_update
from metalearn_edu.meta import adapt, evaluate_adaptation, functional_loss, reptile_step
from metalearn_edu.runtime import seed_everything
from metalearn_edu.widgets import load_sinusoid_models

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
# $\mathcal L_i(\theta) = \tfrac{\lambda_i}{2}\,\big(n_i^\top(\theta - c_i)\big)^2$, with $n_i$ the line's
# normal and $\lambda_i$ its steepness. Three tasks, the sides of a triangle, with
# $\lambda = 2, 1, 0.1$:

# %%
def make_tasks():
    corners = torch.tensor([[-2.0, -1.0], [2.0, -1.0], [0.0, 2.5]])
    steepness = [2.0, 1.0, 0.1]
    tasks = []
    for i, lam in enumerate(steepness):
        a, b = corners[i], corners[(i + 1) % 3]
        along = (b - a) / (b - a).norm()
        normal = torch.tensor([-along[1], along[0]])
        tasks.append((a, lam * torch.outer(normal, normal)))   # (a point on the line c_i, A_i = λ_i n_i n_iᵀ)
    return tasks


def task_loss(params, task):
    """½ (θ − c)ᵀ A (θ − c) for a 2-D parameter θ = params["theta"]."""
    centre, curvature = task
    d = params["theta"] - centre
    return 0.5 * d @ curvature @ d


tasks = make_tasks()
inner_lr, inner_steps = 0.4, 5

# %% [markdown]
# Three ways to choose the initialisation, each run from the same start until it settles:
# **joint training** (gradient descent on the average loss, i.e. Reptile with $k = 1$),
# **Reptile** with $k = 5$ inner steps, and **MAML** (second order, 5 inner steps, Adam on θ).

# %%
def reptile(k, steps=2000, eps=0.2):
    params = {"theta": torch.tensor([3.0, -3.0])}
    path = [params["theta"].clone()]
    for _ in range(steps):
        reptile_step(task_loss, params, [_Episode(t) for t in tasks], inner_lr, k, eps)
        path.append(params["theta"].clone())
    return torch.stack(path)


class _Episode:
    """The minimal episode `reptile_step` needs: a support set (here, the task itself)."""

    def __init__(self, task):
        self.support = self.query = task


def maml(steps=300, lr=0.05):
    theta = torch.tensor([3.0, -3.0], requires_grad=True)
    opt = torch.optim.Adam([theta], lr=lr)
    path = [theta.detach().clone()]
    for _ in range(steps):
        loss = sum(task_loss(adapt(task_loss, {"theta": theta}, t, inner_lr, inner_steps).params[-1], t)
                   for t in tasks) / len(tasks)
        opt.zero_grad()
        loss.backward()
        opt.step()
        path.append(theta.detach().clone())
    return torch.stack(path)


paths = {"joint training (k = 1)": reptile(1), "Reptile (k = 5)": reptile(inner_steps), "MAML (k = 5)": maml()}

# %% [markdown]
# **Check:** with $k = 1$, Reptile's step is exactly $\varepsilon\alpha$ times the negative
# gradient of the average loss, so its end point must be the minimiser of the average loss,
# $\big(\sum_i A_i\big)^{-1}\sum_i A_i c_i$:

# %%
A_sum = sum(A for _, A in tasks)
joint_optimum = torch.linalg.solve(A_sum, sum(A @ c for c, A in tasks))
assert torch.allclose(paths["joint training (k = 1)"][-1], joint_optimum, atol=1e-3)
print("joint training converges to the average-loss minimiser:", joint_optimum.numpy().round(3))

# %% [markdown]
# What matters for meta-learning is how well each initialisation does **after** $k$ steps on a
# new task. The mean loss after 5 inner steps, over the eight tasks:

# %%
def loss_after_adaptation(theta):
    return sum(task_loss(adapt(task_loss, {"theta": theta}, t, inner_lr, inner_steps).params[-1], t).item()
               for t in tasks) / len(tasks)


after = {name: loss_after_adaptation(path[-1]) for name, path in paths.items()}
for name, value in after.items():
    print(f"{name:>24}: end point {paths[name][-1].numpy().round(2)}, mean loss after 5 steps {value:.4f}")
assert after["Reptile (k = 5)"] < after["joint training (k = 1)"]
assert after["MAML (k = 5)"] < after["Reptile (k = 5)"]

# %%
fig = viz.NotebookFigure(figsize=(6.4, 6), layout="constrained")
ax = fig.add_subplot()
grid = torch.linspace(-4, 4, 161)
X, Y = torch.meshgrid(grid, grid, indexing="xy")
points = torch.stack([X, Y], -1)
for (c, A), colour, lam in zip(tasks, viz.LINE_COLORS, (2.0, 1.0, 0.1)):
    d = points - c
    Z = 0.5 * torch.einsum("...i,ij,...j->...", d, A, d)
    ax.contour(X, Y, Z, levels=[1e-4], colors=[colour], linewidths=2)   # the line where task i's loss is 0
    ax.plot([], [], color=colour, lw=2, label=f"task with λ = {lam}")
for (name, path), style in zip(paths.items(), ["--", "-", ":"]):
    ax.plot(path[:, 0], path[:, 1], style, color="black", lw=1.5, label=name)
    ax.plot(*path[-1], "kx", ms=9)
ax.set(xlabel="θ₁", ylabel="θ₂", aspect="equal", xlim=(-4, 4), ylim=(-4, 4),
       title="Three tasks (lines of zero loss) and where each method puts θ")
ax.legend(loc="lower left", frameon=False)
fig

# %% [markdown]
# Joint training minimises the *average* loss, which the steep task dominates, so it settles
# close to the steep task's line. But the steep task is the easy one to adapt to: five steps of
# size 0.4 shrink its distance by $(1 - 0.4\cdot 2)^5 \approx 0.0003$, while the gentle task's
# distance only shrinks by $(1 - 0.4 \cdot 0.1)^5 \approx 0.82$. What matters after adaptation is
# being close to the *gentle* task's line. Reptile's fixed point weights each task by how far $k$
# steps move it ($1 - (1-\alpha\lambda_i)^k$), so it sits between; MAML minimises the
# post-adaptation loss itself and goes furthest towards the gentle line. The ordering of the
# three numbers above is this argument, measured.
#
# ## 3. Accuracy: MAML vs first-order MAML vs Reptile on sinusoids
#
# The networks meta-trained for chapter 3 (two minutes each, same budget) on 100 test tasks:

# %%
models = load_sinusoid_models(DATA_DIR / "checkpoints" / "sinusoid")
test_tasks = SinusoidTasks(seed=10_000)
test_episodes = [test_tasks.episode(i, k_shot=5, k_query=100) for i in range(100)]
curves = {}
for method, (model, lr) in models.items():
    curve = evaluate_adaptation(functional_loss(model, "mse"), dict(model.named_parameters()), test_episodes, lr, 10)
    curves[method] = curve.to_dict()
    print(f"{method:>10}: 5-shot MSE after 1 / 10 steps = {curve.format(1)} / {curve.format(10)}")
fig = viz.plot_adaptation(curves, metric_name="MSE", log_y=True, title="Same 2-minute budget, 100 test tasks (95% CI)")
fig

# %% [markdown]
# Here MAML is best, first-order MAML second, Reptile third, and all three far ahead of the
# pretrained baseline. With a fixed *time* budget the cheaper methods take more outer steps
# (Reptile: 70,000 vs MAML's 6,250), which is not enough to close the gap on this problem.
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
# * With $k = 1$ it is ordinary training on all tasks; with $k > 1$ it moves towards points from
#   which a few SGD steps reach every task's low-loss region (the 2-D picture).
# * On sinusoids, for the same time budget: MAML > first-order MAML > Reptile ≫ pretrained.
# * Second order costs memory linear in the inner steps and 2–3× the time of first-order
#   methods on our encoder; that is why first-order methods dominate at scale.
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


check_reptile_update(my_reptile_step, task_loss, tasks)

# %% [markdown]
# **4.2 (discussion)** In the 2-D picture, make the valleys isotropic (`weak=1.0`). Where do the
# three methods end up now, and why? What does that say about when meta-learning an
# initialisation can beat ordinary multi-task training?
#
# ## References
#
# * Nichol, Achiam, Schulman 2018, *On First-Order Meta-Learning Algorithms* (Reptile).
# * Finn, Abbeel, Levine 2017 (MAML, first-order MAML).
# * Grefenstette et al. 2019 (`higher`).
