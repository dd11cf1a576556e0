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
# # Chapter 3 — MAML from scratch, on sinusoids
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/metalearn-edu/metalearn-edu/blob/main/notebooks/03_maml_on_sinusoids.ipynb)
#
# **Learning goals.** By the end of this chapter you can
# 1. say what a *task*, a *support set* and a *query set* are, and what "learning to learn" optimises;
# 2. write the MAML meta-objective and its gradient, including the second-order term, and compute
#    it with `torch.autograd`;
# 3. check your meta-gradient against an independent implementation (`higher`);
# 4. extend the meta-gradient to K inner steps, and explain what first-order MAML throws away and
#    when that matters;
# 5. run a meta-batch as one batched computation, and check that it computes the same thing;
# 6. read adaptation curves with confidence intervals, and compare them with the paper's numbers.
#
# We use the toy problem of Finn, Abbeel and Levine (2017): every task is a sine wave
# $y = A \sin(x - \varphi)$ with its own amplitude $A \sim U[0.1, 5]$ and phase
# $\varphi \sim U[0, \pi]$. A model sees $K$ points of a new wave and must predict the rest.

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
import time

import higher
import torch
import torch.nn.functional as F
from torch.func import functional_call

from metalearn_edu import studies, viz
from metalearn_edu.analysis import format_ci
from metalearn_edu.checkpoint import load_checkpoint
from metalearn_edu.config import PRESETS, get_preset
from metalearn_edu.data import DATA_DIR
from metalearn_edu.episodes import SinusoidTasks
from metalearn_edu.meta import (evaluate_adaptation, finetune, functional_loss, maml_step, meta_train,
                                multitask_pretrain, sinusoid_mlp)
from metalearn_edu.runtime import cpu_threads, seed_everything
from metalearn_edu.widgets import load_sinusoid_models, render_sinusoid, sinusoid_playground

seed_everything(0)
preset = get_preset()

# %% [markdown]
# ## 1. Tasks, support and query
#
# An **episode** is one task with two small data sets: the **support** set (the $K$ examples the
# model may learn from) and the **query** set (fresh examples of the same task, on which we
# measure how well it learned). Our sampler is replayable: "episode $k$ of seed $s$" is always the
# same wave, so every run of this notebook sees the same tasks.

# %%
tasks = SinusoidTasks(seed=0)
grid = torch.linspace(-5, 5, 200).unsqueeze(1)
panels = []
for i in range(3):
    ep = tasks.episode(i, k_shot=5, k_query=10)
    print(f"task {i}: A = {ep.info['amplitude']:.2f}, φ = {ep.info['phase']:.2f}; "
          f"support {tuple(ep.support_x.shape)}, query {tuple(ep.query_x.shape)}")
    panels.append(dict(x_grid=grid.squeeze(1), true_y=tasks.true_curve(ep, grid).squeeze(1), support_x=ep.support_x,
                       support_y=ep.support_y, predictions={}, query_x=ep.query_x, query_y=ep.query_y,
                       title=f"task {i}"))
fig = viz.plot_sinusoid_panels(panels, title="Three sine tasks: 5 support points (dots), 10 query points (crosses)")
fig

# %% [markdown]
# Five points of a wave you have never seen are not enough to fit a 1-40-40-1 network from a
# random start. MAML's idea: find an **initialisation** $\theta$ from which *one or a few gradient
# steps on the support set* already fit the task well.
#
# ## 2. The meta-objective and its gradient
#
# For a task $\mathcal T$, one inner step of size $\alpha$ on the support loss gives the adapted
# weights
#
# $$\phi_{\mathcal T}(\theta) = \theta - \alpha \nabla_\theta \mathcal L^{\text{sup}}_{\mathcal T}(\theta),$$
#
# and MAML minimises the query loss *after* adaptation, averaged over tasks:
#
# $$\min_\theta \; \mathbb E_{\mathcal T}\, \mathcal L^{\text{query}}_{\mathcal T}\big(\phi_{\mathcal T}(\theta)\big).$$
#
# By the chain rule the meta-gradient of one task is
#
# $$\nabla_\theta \mathcal L^{\text{query}}(\phi) = \big(I - \alpha\, \nabla^2_\theta \mathcal L^{\text{sup}}(\theta)\big)\, \nabla_\phi \mathcal L^{\text{query}}(\phi).$$
#
# The Hessian term is the **second-order** part: it says how moving $\theta$ changes where the
# inner step lands. We never form the Hessian: `torch.autograd.grad(..., create_graph=True)`
# keeps the inner step differentiable, and backpropagating through it computes the
# Hessian–vector product. Here is one MAML gradient by hand, with the network's weights as a
# plain dictionary passed to `functional_call`:

# %%
net = sinusoid_mlp(seed=0)
params = dict(net.named_parameters())          # θ
alpha = 0.01
episode = tasks.episode(0, k_shot=10, k_query=10)


def mse(p, x, y):
    return F.mse_loss(functional_call(net, p, (x,)), y)


support_loss = mse(params, episode.support_x, episode.support_y)                          # L_sup(θ)
grads = torch.autograd.grad(support_loss, list(params.values()), create_graph=True)      # ∇θ L_sup, differentiable
adapted = {n: p - alpha * g for (n, p), g in zip(params.items(), grads)}                  # φ = θ − α ∇θ L_sup(θ)
query_loss = mse(adapted, episode.query_x, episode.query_y)                               # L_query(φ)
by_hand = dict(zip(params, torch.autograd.grad(query_loss, list(params.values()))))      # ∇θ L_query(φ(θ))

# %% [markdown]
# **Check 1: the library.** `maml_step` runs the same computation through the course's one inner
# loop (`metalearn_edu.meta.adapt`):

# %%
loss_fn = functional_loss(net, "mse")
_, library = maml_step(loss_fn, params, [episode], inner_lr=alpha, inner_steps=1)
assert all(torch.allclose(by_hand[n], library[n], atol=1e-6) for n in by_hand)
print("by hand == maml_step:", all(torch.allclose(by_hand[n], library[n], atol=1e-6) for n in by_hand))

# %% [markdown]
# **Check 2: an independent implementation.** `higher` (Grefenstette et al. 2019) makes a
# differentiable copy of the model and optimiser. Note `copy_initial_weights=False`: with the
# default `True`, higher would differentiate with respect to a *copy* of θ and the meta-gradient
# would never reach `net`'s parameters.

# %%
net.zero_grad()
with higher.innerloop_ctx(net, torch.optim.SGD(net.parameters(), lr=alpha), copy_initial_weights=False) as (fnet, diffopt):
    diffopt.step(F.mse_loss(fnet(episode.support_x), episode.support_y))
    F.mse_loss(fnet(episode.query_x), episode.query_y).backward()
max_diff = max((p.grad - by_hand[n]).abs().max().item() for n, p in net.named_parameters())
assert max_diff < 1e-5
print(f"max |ours − higher| < 1e-5: {max_diff < 1e-5}")
net.zero_grad()

# %% [markdown]
# ### More than one inner step
#
# With $K$ inner steps, $\phi_0 = \theta$ and $\phi_{k+1} = \phi_k - \alpha\nabla\mathcal L^{\text{sup}}(\phi_k)$.
# Each step is a function of the one before, with Jacobian
# $\partial\phi_{k+1}/\partial\phi_k = I - \alpha\nabla^2\mathcal L^{\text{sup}}(\phi_k)$ (a symmetric
# matrix, since a Hessian is), so the chain rule through all $K$ steps gives
#
# $$\nabla_\theta \mathcal L^{\text{query}}(\phi_K)
#   = \big(I - \alpha H_0\big)\big(I - \alpha H_1\big)\cdots\big(I - \alpha H_{K-1}\big)\,
#     \nabla_\phi \mathcal L^{\text{query}}(\phi_K)
#   = \prod_{k=0}^{K-1}\big(I - \alpha H_k\big)\,\nabla_\phi \mathcal L^{\text{query}}(\phi_K),
#   \qquad H_k = \nabla^2 \mathcal L^{\text{sup}}(\phi_k).$$
#
# Backpropagation evaluates it from the right: start from the query gradient at $\phi_K$ and
# multiply by $(I - \alpha H_{K-1})$, then $(I - \alpha H_{K-2})$, back to $(I - \alpha H_0)$ — one
# Hessian–vector product per inner step, never a Hessian. Chapters 4–6 use this formula.
# **Check 3** runs it literally, with `torch.autograd` only for the Hessian–vector products, for
# $K = 3$, and compares with `maml_step(..., inner_steps=3)`:

# %%
K = 3
phis = finetune(loss_fn, params, episode, alpha, K).params   # the inner steps without any graph: [φ_0 = θ, ..., φ_K]


def leaf(p):
    return {n: t.detach().requires_grad_() for n, t in p.items()}


last = leaf(phis[K])
v = torch.autograd.grad(loss_fn(last, episode.query), list(last.values()))      # ∇φ L_query(φ_K)
for k in reversed(range(K)):                                                     # k = K−1, ..., 0
    phi = leaf(phis[k])
    g = torch.autograd.grad(loss_fn(phi, episode.support), list(phi.values()), create_graph=True)
    hv = torch.autograd.grad(g, list(phi.values()), grad_outputs=v)              # H_k v
    v = [vi - alpha * hvi for vi, hvi in zip(v, hv)]                             # (I − α H_k) v
product_formula = dict(zip(params, v))
_, library_k = maml_step(loss_fn, params, [episode], inner_lr=alpha, inner_steps=K)
max_diff = max((product_formula[n] - library_k[n]).abs().max().item() for n in params)
assert max_diff < 1e-5
print(f"{K} inner steps: max |product of (I − αH_k) factors − maml_step| < 1e-5: {max_diff < 1e-5}")

# %% [markdown]
# ## 3. First-order MAML
#
# Dropping the Hessian terms gives **first-order MAML** (FOMAML): replace every factor
# $(I - \alpha H_k)$ by $I$, i.e. use the query gradient at $\phi_K$ as if $\phi_K$ did not depend
# on $\theta$ through the inner gradients, $\nabla_\theta \approx \nabla_\phi \mathcal L^{\text{query}}(\phi_K)$.
# What it throws away is exactly how moving $\theta$ changes where the inner steps land. It needs
# no second backward pass, so it is cheaper (chapter 4 measures how much). How different is it
# here, with one inner step?

# %%
_, first_order = maml_step(loss_fn, params, [episode], inner_lr=alpha, inner_steps=1, first_order=True)
flat = lambda g: torch.cat([v.flatten() for v in g.values()])  # noqa: E731
second, first = flat(library), flat(first_order)
cosine = F.cosine_similarity(second, first, dim=0).item()
relative = ((second - first).norm() / second.norm()).item()
assert relative > 1e-6, "first-order must differ from second-order when the Hessian term is non-zero"
print(f"cosine(second-order, first-order) = {cosine:.3f}; relative difference ‖g₂ − g₁‖ / ‖g₂‖ = {relative:.3f}; "
      f"norms ‖g₂‖ = {second.norm():.3f}, ‖g₁‖ = {first.norm():.3f}")

# %% [markdown]
# The two gradients point in almost the same direction, but they differ by far more than
# "$\alpha = 0.01$ is small" suggests. With one step the difference is exactly the Hessian term,
# $g_2 - g_1 = -\alpha H_0\, g_1$ (with $g_1 = \nabla_\phi\mathcal L^{\text{query}}(\phi)$ the
# first-order gradient), so the relative difference is about
# $\alpha\,\|H_0 g_1\| / \|g_1\|$: the step size times the **curvature of the support loss along
# the gradient**. Whether the term is small depends on that curvature, not on $\alpha$ alone.
# Let's measure it (each product $H_0 v$ is one Hessian–vector product):

# %%
theta = leaf(params)
g_support = torch.autograd.grad(loss_fn(theta, episode.support), list(theta.values()), create_graph=True)


def hessian_times(vector):
    """H_0 v for the support loss at θ, v flat."""
    pieces = list(torch.split(vector, [p.numel() for p in theta.values()]))
    hv = torch.autograd.grad(g_support, list(theta.values()), [x.view_as(p) for x, p in zip(pieces, theta.values())],
                             retain_graph=True)
    return torch.cat([h.flatten() for h in hv])


h_g = hessian_times(first)
along = (first @ h_g / (first @ first)).item()               # gᵀHg / gᵀg: the curvature along g₁
top = torch.randn(first.shape, generator=torch.Generator().manual_seed(0))
for _ in range(50):                                          # power iteration: H's largest eigenvalue
    top = hessian_times(top)
    top = top / top.norm()
largest = (top @ hessian_times(top)).item()
predicted = alpha * h_g.norm().item() / first.norm().item()
print(f"curvature of L_sup along g₁: {along:.1f}; ‖H₀g₁‖/‖g₁‖ = {h_g.norm() / first.norm():.1f}; "
      f"largest eigenvalue of H₀ ≈ {largest:.1f}")
print(f"α × largest eigenvalue = {alpha * largest:.2f}; α × curvature along g₁ = {alpha * along:.2f}")
print(f"α·‖H₀g₁‖/‖g₁‖ = {predicted:.3f}, next to the measured relative difference ‖g₂ − g₁‖/‖g₂‖ = {relative:.3f}")
assert abs(predicted - ((second - first).norm() / first.norm()).item()) < 1e-3   # g₂ − g₁ = −α H₀ g₁ exactly

# %% [markdown]
# So the Hessian term is the identity's small partner only when $\alpha$ times the curvature is
# small, and here it is not: the support loss of this network is steep (its largest curvature is
# in the tens, so $\alpha H_0$ has eigenvalues up to about a quarter), and the gradient points
# largely along the steep directions — its own curvature is most of the largest eigenvalue, as is
# typical of gradients, which are dominated by the directions in which the loss changes fastest.
# Along $g_1$, $(I - \alpha H_0)$ therefore shortens the gradient by about a seventh: the
# second-order gradient is the *shorter* one (the norms are printed above), and the two differ by
# the relative amount printed, although they point almost the same way. With $K$ steps the
# neglected factors multiply, so first-order MAML drifts further; chapter 4 compares both on the
# same tasks.
#
# ## 4. Meta-training, one meta-batch at a time
#
# `meta_train` repeats: take a meta-batch of tasks, compute the mean query loss after adaptation
# and its meta-gradient (`maml_step`), and take an Adam step on $\theta$. The code of `maml_step`
# is the loop you would write: for each task, adapt, take the query loss, backpropagate. With a
# network this small the loop spends its time on Python and per-operation overhead, not on
# arithmetic, so by default `maml_step` (and `reptile_step`, `evaluate_adaptation`) runs the same
# mathematics for the whole meta-batch at once when the tasks can be stacked
# (`metalearn_edu.meta.vectorized`): one copy of $\theta$ per task as a broadcast view, the tasks'
# losses summed (they do not interact, so the gradient of the sum with respect to each copy is
# that task's own gradient), and one `autograd.grad` for all tasks.
#
# For a plain MLP like ours the library goes one step further and writes the inner gradient out
# by hand: backpropagation for all $B$ tasks at once. With $\delta_b = \partial L_b / \partial
# (\text{a layer's output})$ of task $b$, a linear layer with input $h_b$ has the gradients
# $\nabla_{W} L_b = \delta_b^\top h_b$ (one batched matrix product, `torch.bmm`) and
# $\nabla_{b} L_b = \sum_m \delta_{b,m}$, and it passes $\delta_b W$ down to the layer below; a ReLU
# multiplies $\delta_b$ by $\mathbb{1}[z > 0]$. These are ordinary tensor operations, so for second-order
# MAML the outer backward differentiates through them, exactly as through the backward graph
# autograd would have recorded, but without the bookkeeping of ``create_graph=True``; and at
# $\theta$, where all tasks still share the weights, the forward pass is one matrix product over
# all $B \cdot M$ points. Same numbers, first:

# %%
meta_batches = [SinusoidTasks(seed=7).batch(25 * i, 25, k_shot=10, k_query=10) for i in range(4)]
for batch in meta_batches:
    loss_loop, grads_loop = maml_step(loss_fn, params, batch, inner_lr=0.01, inner_steps=1, vectorize=False)
    loss_batched, grads_batched = maml_step(loss_fn, params, batch, inner_lr=0.01, inner_steps=1)   # default: batched
    assert abs(float(loss_loop) - float(loss_batched)) < 1e-5
    assert all(torch.allclose(grads_loop[n], grads_batched[n], atol=1e-5, rtol=1e-4) for n in params)
print(f"{len(meta_batches)} meta-batches of 25 tasks: the loop and the batched computation give the same meta-loss "
      "and meta-gradients (to 1e-5)")

# %% [markdown]
# And the speed, in meta-steps per second of each (a timing: it depends on your machine):

# %%
# NBVAL_IGNORE_OUTPUT
def steps_per_second(vectorize, seconds=1.5):
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        maml_step(loss_fn, params, meta_batches[n % len(meta_batches)], 0.01, 1, vectorize=vectorize)
        n += 1
    return n / (time.perf_counter() - start)


loop_rate, batched_rate = steps_per_second(False), steps_per_second(None)
print(f"loop: {loop_rate:.0f} meta-steps/s; batched: {batched_rate:.0f} meta-steps/s ({batched_rate / loop_rate:.1f}×)")

# %% [markdown]
# (`benchmarks/maml_speed.py` measures this carefully, and shows where batching does *not* pay:
# text episodes through a transformer are already large matrix products.)
#
# A live run, then. Finn et al. meta-trained for 70,000 outer steps; the preset caps the run at
# `preset.meta_steps` steps or `preset.meta_budget_s` seconds, whichever comes first (the `cpu`
# preset runs until one of the two; the `ci` preset takes a few thousand steps and no time limit,
# so that this notebook is quick and its numbers are the same on every run). The run uses one CPU
# thread (`cpu_threads(1)`): every operation here touches a few thousand numbers, and splitting
# that across cores can cost more than it saves. The next cell measures it on your machine (a
# timing, so it varies from run to run):

# %%
# NBVAL_IGNORE_OUTPUT
def meta_steps_per_second(threads, seconds=1.0):
    net = sinusoid_mlp(seed=1)
    with cpu_threads(threads):
        start = time.perf_counter()
        history = meta_train(net, functional_loss(net, "mse"), lambda i: tasks.episode(i, k_shot=10, k_query=10),
                             steps=None, time_budget=seconds, meta_batch_size=10, inner_lr=0.01, inner_steps=1,
                             log_every=1)
        return history.steps[-1] / (time.perf_counter() - start)


one, two = meta_steps_per_second(1), meta_steps_per_second(2)
print(f"meta-steps per second: {one:.0f} on 1 thread, {two:.0f} on 2 threads ({one / two:.2f}× as many on one)")

# %%
for p in PRESETS.values():
    print(f"{p.name:>4}: at most {p.meta_steps:,} meta-steps" + (f" or {p.meta_budget_s:g} s" if p.meta_budget_s else ""))
print(f"this run: the '{preset.name}' preset")

# %% [markdown]
# Is a short run worth anything? The fair yardstick is not a random network but the **pretrained
# baseline** of Finn et al.: the same network trained by ordinary regression on the same tasks
# (all 20 points of each, pooled), for the same number of steps with the same number of tasks per
# step, and then fine-tuned on the support set like MAML. We train both:

# %%
# NBVAL_IGNORE_OUTPUT
live = sinusoid_mlp(seed=1)
live_loss = functional_loss(live, "mse")
train_tasks = SinusoidTasks(seed=100)
train_episode = lambda i: train_tasks.episode(i, k_shot=10, k_query=10)   # noqa: E731
with cpu_threads(1):
    history = meta_train(live, live_loss, train_episode, steps=preset.meta_steps, time_budget=preset.meta_budget_s,
                         meta_batch_size=10, inner_lr=0.01, inner_steps=1, outer_lr=3e-3, seed=0, progress=True)
    baseline = sinusoid_mlp(seed=1)       # the same initial weights, the same tasks, as many steps
    baseline_history = multitask_pretrain(baseline, functional_loss(baseline, "mse"), train_episode,
                                          steps=history.steps[-1], time_budget=preset.meta_budget_s,
                                          tasks_per_step=10, lr=3e-3, seed=0, progress=True)

# %%
test_tasks = SinusoidTasks(seed=10_000)          # tasks no training run has seen
test_episodes = [test_tasks.episode(i, k_shot=5, k_query=100) for i in range(100)]
after = evaluate_adaptation(live_loss, dict(live.named_parameters()), test_episodes, 0.01, 10, on_divergence="record")
joint = evaluate_adaptation(functional_loss(baseline, "mse"), dict(baseline.named_parameters()), test_episodes, 0.01,
                            10, on_divergence="record")
print(f"MAML: {history.steps[-1]:,} outer steps, baseline: {baseline_history.steps[-1]:,} steps, of 10 tasks each; "
      "5-shot MSE on 100 test tasks after 1 / 5 / 10 steps:")
print(f"  MAML:                  " + " / ".join(after.format(k, 2) for k in (1, 5, 10)))
print(f"  pretrained baseline:   " + " / ".join(joint.format(k, 2) for k in (1, 5, 10)))
for k in (1, 10):
    diff, half = after.difference(joint, k)        # paired: the same 100 tasks
    print(f"  MAML − baseline after {k:>2} step(s): {diff:+.2f} ± {half:.2f}")
    assert diff + half < 0, "a few thousand MAML steps already beat the baseline trained as long, on the same tasks"

# %% [markdown]
# A few seconds of meta-training already put MAML far ahead of the baseline that saw the same
# tasks for the same number of steps (the paired differences above are over the same 100 test
# tasks, so the intervals are tight). The baseline learned the *average* wave, which is close to
# zero everywhere because the phases cancel, and a few gradient steps from there cannot recover an
# amplitude and a phase; MAML learned a starting point from which one step can. What a short run
# cannot show is how far MAML gets with Finn et al.'s 70,000 steps: the next section loads networks
# trained that long.
#
# %% [markdown]
# ## 5. Adaptation curves against the paper
#
# The course ships networks trained by `benchmarks/sinusoid.py`: MAML, first-order MAML, Reptile
# (chapter 4) and a "pretrained on all tasks" baseline (ordinary regression on many tasks, then
# fine-tuned), each for Finn et al.'s 70,000 outer steps of 25 tasks. The study trained every method
# with **three seeds** (a seed fixes the initial weights and the training tasks) and tested every
# network on the same 600 test tasks. The table below is its summary: for each method, the mean over
# seeds of the 5-shot query MSE after 1, 5 and 10 steps, with a 95% interval over the seeds (so it
# covers the luck of training as well as the luck of the test tasks), next to Finn et al.'s Table 2:

# %%
PAPER = {"maml": {1: 0.67, 5: 0.38, 10: 0.35}, "pretrained": {1: 2.41, 5: 2.23, 10: 2.19}}   # Finn et al., Table 2
study = json.loads((DATA_DIR.parent / "benchmarks" / "results" / "sinusoid.json").read_text())
table = studies.sinusoid_table(study)
seeds = table["maml"][1]["seeds"]
print(f"{len(seeds)} training seeds {seeds}; {study['settings']['eval_tasks']} test tasks; "
      f"{study['settings']['max_steps']:,} outer steps of {study['settings']['meta_batch']} tasks\n")
print(f"{'method':>37} | {'Finn et al. 1 / 5 / 10':>22} | study, mean over seeds ± 95% CI: 1 / 5 / 10 steps")
for method in ("maml", "fomaml", "pretrained"):
    paper = " / ".join(f"{PAPER[method][k]:.2f}" for k in (1, 5, 10)) if method in PAPER else "—"
    cells = " / ".join(format_ci(table[method][k]["mean"], table[method][k]["half"], 2) for k in (1, 5, 10))
    diverged = sum(table[method][10]["diverged"])
    print(f"{studies.SINUSOID_NAMES[method]:>37} | {paper:>22} | {cells}"
          + (f"  ({diverged} of {len(seeds) * study['settings']['eval_tasks']} task-runs diverged)" if diverged else ""))

# %% [markdown]
# The files in `data/checkpoints/sinusoid/` are the networks of **seed 0** (each file records its
# seed); this chapter, its playground and chapter 4 load them. Here are their adaptation curves on the first 100 of the test tasks, with
# the network you meta-trained live in section 4 as the last row (for as many steps as your preset
# and machine allowed):

# %%
folder = DATA_DIR / "checkpoints" / "sinusoid"
models = load_sinusoid_models(folder)
curves = {}
for method, (model, lr) in models.items():
    curves[method] = evaluate_adaptation(functional_loss(model, "mse"), dict(model.named_parameters()), test_episodes,
                                         lr, 10, on_divergence="record")
print(f"{'network':>18} | outer steps | 5-shot MSE on 100 test tasks after 1 / 5 / 10 steps")
for method, curve in curves.items():
    here = " / ".join(curve.format(k, 2) for k in (1, 5, 10))
    here += f" ({curve.n_diverged[-1]} diverged)" if curve.n_diverged[-1] else ""
    seed = load_checkpoint(folder / f"{method}.pt")["extra"]["seed"]   # which training seed this file holds
    print(f"{f'{method}, seed {seed}':>18} | {study['runs'][f'{method}/seed={seed}']['train_steps']:>11,} | {here}")
here = " / ".join(after.format(k, 2) for k in (1, 5, 10))   # the network meta-trained live in section 4
here += f" ({after.n_diverged[-1]} diverged)" if after.n_diverged[-1] else ""
print(f"{'maml, live':>18} | {history.steps[-1]:>11,} | {here}")
fig = viz.plot_adaptation({m: c.to_dict() for m, c in curves.items()}, metric_name="MSE", log_y=True,
                          reference={"MAML (Finn et al.)": PAPER["maml"], "pretrained (Finn et al.)": PAPER["pretrained"]},
                          title="5-shot sine regression on 100 test tasks, the shipped networks (95% CI)")
fig

# %% [markdown]
# What the table and the curves say, each reading checked against the study's JSON by the next cell:
#
# * MAML after one step is already far better than the pretrained baseline after ten, on every seed.
#   The baseline learned the *average* wave (close to zero everywhere, because the phases cancel),
#   and a few steps from there cannot recover an amplitude and a phase. Both come out close to Finn
#   et al.'s numbers after one step.
# * After five and ten steps MAML's mean over seeds has a very wide interval: one of the three
#   networks (seed 0, the one shipped) has a much higher error after five steps than the other two,
#   pulled up by a few high-amplitude tasks on which repeated steps overshoot (the finding below).
#   With one seed we would have reported that network's curve as "MAML's"; with three we can see it
#   is one run's behaviour.
# * First-order MAML, trained as long on the same tasks, cannot be told apart from MAML with three
#   seeds (the interval of the paired difference contains zero after one and after ten steps).
#   Chapter 4 compares the methods, Reptile included, with more care.

# %%
maml1, base1 = table["maml"][1], table["pretrained"][1]
print(f"baseline − MAML after 1 step, per seed: {[round(v, 2) for v in base1['per_seed_diff']]}")
assert all(d > 1.0 for d in base1["per_seed_diff"]), "MAML beats the baseline by more than 1 on every seed"
assert abs(maml1["mean"] - PAPER["maml"][1]) < 0.1 and abs(base1["mean"] - PAPER["pretrained"][1]) < 0.2
five = table["maml"][5]["per_seed"]
print(f"MAML after 5 steps, per seed: {[round(v, 2) for v in five]}; diverged tasks after 10 steps, per seed: "
      f"{table['maml'][10]['diverged']}")
assert max(five) > 2 * sorted(five)[1], "one seed's network is much worse after five steps than the others"
for k in (1, 10):
    c = table["fomaml"][k]
    print(f"first-order MAML − MAML after {k:>2} step(s): {c['diff']:+.2f} ± {c['diff_half']:.2f}")
    assert c["diff"] - c["diff_half"] < 0 < c["diff"] + c["diff_half"], "no measurable difference with 3 seeds"

# %% [markdown]
# **A finding: MAML's initialisation is sharp.** The study counts the test tasks on which the
# inner loop diverged (`evaluate_adaptation(..., on_divergence="record")` stops such a task at the
# step where its loss exploded, counts it in `n_diverged` and leaves it out of the later means;
# the table prints the counts). Which tasks are they? All of the study's test tasks, through the
# shipped (seed-0) MAML network:

# %%
all_test = [test_tasks.episode(i, k_shot=5, k_query=100) for i in range(study["settings"]["eval_tasks"])]
maml_net, maml_lr = models["maml"]
full = evaluate_adaptation(functional_loss(maml_net, "mse"), dict(maml_net.named_parameters()), all_test, maml_lr, 10,
                           on_divergence="record")
blown = [i for i, row in enumerate(full.per_episode) if not math.isfinite(row[-1])]
print(f"MAML, {len(all_test)} test tasks, 10 steps of α = {maml_lr:g}: {full.n_diverged[-1]} diverged")
for i in blown:
    row, info = full.per_episode[i], all_test[i].info
    ok_steps = sum(math.isfinite(v) for v in row) - 1
    print(f"  task {i}: amplitude {info['amplitude']:.2f}, phase {info['phase']:.2f}; query MSE "
          + " → ".join(f"{v:.2g}" for v in row[:ok_steps + 1]) + f", then the loss exploded at step {ok_steps + 1}")
amplitudes = sorted(ep.info["amplitude"] for ep in all_test)
print(f"amplitudes of the test tasks: {amplitudes[0]:.2f} to {amplitudes[-1]:.2f}")
assert full.n_diverged[-1] <= len(all_test) // 100, "divergence should be rare"
half = evaluate_adaptation(functional_loss(maml_net, "mse"), dict(maml_net.named_parameters()), all_test, maml_lr / 2,
                           10, on_divergence="record")
print(f"with half the step size (α = {maml_lr / 2:g}): {half.n_diverged[-1]} diverged; MSE after 1 / 5 / 10 steps "
      f"{half.format(1, 2)} / {half.format(5, 2)} / {half.format(10, 2)} (at α = {maml_lr:g}: "
      f"{full.format(1, 2)} / {full.format(5, 2)} / {full.format(10, 2)}, diverged tasks left out)")

# %% [markdown]
# MAML was trained to take **one** step of size $\alpha = 0.01$; it is free to put $\theta$ where
# the loss is steep, as long as that one step lands well, and after 70,000 outer steps it does:
# on each diverging task the first step or two take the error down as it should, and from there
# further steps of the same size overshoot, by more and more (the trajectories are printed
# above) — the signature of gradient descent whose step exceeds $2/\lambda$ along some direction
# of curvature $\lambda$. Ten steps at the training step size are a different algorithm from the
# one MAML was trained for, and on a rare task with a large amplitude they fail. Halving the test
# step avoids it on all these tasks, at the price of a worse error after one step; training with
# the number of steps used at test time would be the principled fix. And it is not every MAML
# network that is this sharp: the networks of the other two seeds diverged on none of the 600 tasks
# (the per-seed counts printed under the table). Had the study trained one seed, this run's
# behaviour would have passed for MAML's.
#
# And what adaptation looks like on one test task (`Trajectory.outputs` evaluates the network at
# chosen points of the inner loop's trajectory):

# %%
if "pretrained" in models:
    panels = []
    ep = test_tasks.episode(3, k_shot=5, k_query=10)
    for method in ("maml", "pretrained"):
        model, lr = models[method]
        trajectory = finetune(functional_loss(model, "mse"), dict(model.named_parameters()), ep, lr, 10)
        predictions = {k: y.squeeze(1) for k, y in trajectory.outputs(model, grid, steps=(0, 1, 10)).items()}
        panels.append(dict(x_grid=grid.squeeze(1), true_y=test_tasks.true_curve(ep, grid).squeeze(1),
                           support_x=ep.support_x, support_y=ep.support_y, predictions=predictions, title=method))
    fig = viz.plot_sinusoid_panels(panels, title="Before (0) and after 1 and 10 steps on 5 points")
else:
    fig = render_sinusoid(models, "maml", k_shot=5, inner_lr=0.01, inner_steps=10, task=3)
fig

# %% [markdown]
# ## Try the sliders
#
# Change $K$, the inner learning rate, the number of inner steps and the algorithm, and watch the
# prediction move (the panel adapts the shipped seed-0 networks of section 5; its title gives the
# error on the 10 query points and on the whole curve, which can differ a lot where no query point
# falls). Things to try: what happens to MAML with 0 inner steps? With a learning rate
# ten times larger than the one it was trained with? (The static picture comes first, for
# readers without a live kernel.)

# %%
fig = render_sinusoid(models, "maml", k_shot=5, inner_lr=0.01, inner_steps=1, task=0)
fig

# %%
# NBVAL_IGNORE_OUTPUT
sinusoid_playground(models)

# %% [markdown]
# ## Summary
#
# * A task comes with a support set (to adapt on) and a query set (to judge the adaptation).
# * MAML learns an initialisation $\theta$ such that one or a few gradient steps on the support
#   set give low query loss: $\min_\theta \sum_{\mathcal T} \mathcal L^{\text{query}}_{\mathcal T}(\theta - \alpha\nabla\mathcal L^{\text{sup}}_{\mathcal T}(\theta))$.
# * Its gradient through $K$ inner steps is $\prod_{k=0}^{K-1}(I - \alpha H_k)\,\nabla_\phi\mathcal L^{\text{query}}(\phi_K)$;
#   autograd computes the Hessian–vector products when the inner steps are built with
#   `create_graph=True`. Ours equals `higher`'s to $10^{-5}$, and the product formula equals
#   `maml_step`.
# * First-order MAML replaces every factor $(I - \alpha H_k)$ by $I$. Here the two gradients point
#   almost the same way but differ in size by far more than $\alpha = 0.01$ suggests: the term is
#   $\alpha$ times the curvature along the gradient, and this network's loss is steep there.
# * A meta-batch can run as one batched computation (same meta-gradients, an order of magnitude
#   faster for small networks; for an MLP the inner gradient is backpropagation written out by
#   hand, which second-order MAML differentiates through); `maml_step(..., vectorize=False)` is
#   the loop to read.
# * On 5-shot sine regression a MAML initialisation adapts in one step to an error the
#   pretrained-on-all-tasks baseline does not reach in ten; trained for one step, it is sharp
#   enough that ten steps at the same size diverge on a rare task.
#
# ## Exercises
#
# **3.1 ★ The second-order factor by hand.** Take 1-D quadratic losses
# $\mathcal L^{\text{sup}}(\theta) = \tfrac a2(\theta-s)^2$ and $\mathcal L^{\text{query}}(\theta) = \tfrac b2(\theta-q)^2$.
# Write `meta_gradient(theta, a, s, b, q, alpha)` $= \frac{d}{d\theta}\mathcal L^{\text{query}}(\phi(\theta))$
# after one inner step.

# %% tags=["solution"] jupyter={"source_hidden": true}
from metalearn_edu.exercises import check_first_order_step, check_meta_sgd_lr_gradient, check_quadratic_meta_gradient


def meta_gradient(theta, a, s, b, q, alpha):
    ### HINT: φ = θ − α·a·(θ − s); the chain rule multiplies the query gradient at φ by dφ/dθ
    ### BEGIN SOLUTION
    phi = theta - alpha * a * (theta - s)           # one inner step
    return b * (phi - q) * (1 - alpha * a)          # dL_q/dφ · dφ/dθ
    ### END SOLUTION


check_quadratic_meta_gradient(meta_gradient)

# %% [markdown]
# **3.2 ★★ First-order MAML by hand.** Write `first_order_grads(loss_fn, params, episodes, inner_lr)`
# for one inner step: adapt without `create_graph`, then take the query gradient with respect to
# the adapted weights, averaged over the episodes (a dict name → gradient). The check compares
# with `maml_step(..., first_order=True)` on a network and tasks of its own.

# %% tags=["solution"] jupyter={"source_hidden": true}
def first_order_grads(loss_fn, params, episodes, inner_lr):
    ### HINT: detach φ = θ − α∇L_support(θ) and make it a leaf, then differentiate the query loss at φ
    ### BEGIN SOLUTION
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    for ep in episodes:
        g = torch.autograd.grad(loss_fn(params, ep.support), list(params.values()))   # no create_graph
        phi = {n: (p - inner_lr * gi).detach().requires_grad_() for (n, p), gi in zip(params.items(), g)}
        gq = torch.autograd.grad(loss_fn(phi, ep.query), list(phi.values()))          # ∇φ L_query(φ)
        for n, gi in zip(params, gq):
            total[n] += gi / len(episodes)
    return total
    ### END SOLUTION


check_first_order_step(first_order_grads)

# %% [markdown]
# **3.3 ★★★ Meta-SGD: learning the learning rates.** Li et al. (2017) meta-learn the inner
# learning rate too, one per parameter (or per weight): $\phi_n = \theta_n - \alpha_n \nabla_n\mathcal L^{\text{sup}}(\theta)$,
# and $\alpha$ gets a meta-gradient like $\theta$ does. `metalearn_edu.meta.learnable_inner_lrs(params)`
# makes such rates (one scalar tensor per parameter tensor, requiring grad); passed as `inner_lr`
# to `maml_step` or `meta_train`, they are trained with $\theta$. Derive
# $\partial\mathcal L^{\text{query}}(\phi)/\partial\alpha_n$ for one inner step and write
# `meta_sgd_lr_grads(loss_fn, params, episode, inner_lrs)` returning it for every name $n$ (a
# dict name → scalar). The check compares with the `"inner_lr.<name>"` entries of `maml_step`'s
# meta-gradient (`tests/test_exercise_checks.py` also checks the formula against a finite
# difference).

# %% tags=["solution"] jupyter={"source_hidden": true}
def meta_sgd_lr_grads(loss_fn, params, episode, inner_lrs):
    ### HINT: dφ_n/dα_n = −∇_n L_support(θ), so dL_query/dα_n = −⟨∇_(φ_n) L_query(φ), ∇_(θ_n) L_support(θ)⟩
    ### BEGIN SOLUTION
    g_support = torch.autograd.grad(loss_fn(params, episode.support), list(params.values()))
    phi = {n: (p - inner_lrs[n].detach() * g).detach().requires_grad_() for (n, p), g in zip(params.items(), g_support)}
    g_query = torch.autograd.grad(loss_fn(phi, episode.query), list(phi.values()))
    return {n: -(gq * gs).sum() for n, gq, gs in zip(params, g_query, g_support)}
    ### END SOLUTION


check_meta_sgd_lr_gradient(meta_sgd_lr_grads)

# %% [markdown]
# The formula says a rate grows when the support gradient and the query gradient after the step
# agree (a longer step would have helped) and shrinks when they disagree (the step overshot), for
# each parameter tensor separately.
#
# **3.4 (discussion)** Ten steps take the pretrained baseline's error down only a little (the
# table of section 5), yet it stays far above MAML's error after a *single* step. Using the
# picture of its predictions, explain why more steps at the same learning rate cannot close the
# gap, and what MAML's initialisation must encode instead.
#
# ## References
#
# * Finn, Abbeel, Levine 2017, *Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks* (§5.1, Table 2).
# * Nichol, Achiam, Schulman 2018, *On First-Order Meta-Learning Algorithms*.
# * Li, Zhou, Chen, Li 2017, *Meta-SGD: Learning to Learn Quickly for Few-Shot Learning*.
# * Grefenstette et al. 2019, *Generalized Inner Loop Meta-Learning* (the `higher` library).
