"""Helpers shared by several test modules (fixtures live in conftest.py).

Imported as ``from helpers import ...``: pytest puts tests/ on ``sys.path`` (rootdir-relative
"prepend" import mode, no ``__init__.py`` here).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from metalearn_edu.config import ModelConfig
from metalearn_edu.episodes import Episode, SinusoidTasks

REPO = Path(__file__).resolve().parents[1]

# True inside a mutation-testing run (`bash scripts/course.sh mutation`): mutmut replaces every
# function of the mutated modules by a trampoline, which the exercise checks' `without` cannot
# switch off, so the refusal of a "solution" that calls the library's own function is only
# checked in the ordinary suite.
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ

# The tiny encoder of the meta-learning tests (built by the `tiny_encoder` fixture).
TINY_CONFIG = ModelConfig(vocab_size=60, d_model=32, n_layers=2, n_heads=2, d_ff=64, max_len=16, dropout=0.0,
                          attn_dropout=0.0, n_labels=3)

# The BBC corpus: documents per topic.
BBC_TOPIC_COUNTS = {"business": 510, "entertainment": 386, "politics": 417, "sports": 511, "tech": 401}


# ---------------------------------------------------------------------------------------
# Model state
# ---------------------------------------------------------------------------------------
def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.state_dict().items()}


def unchanged(model: nn.Module, before: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(p, before[n]) for n, p in model.state_dict().items())


# ---------------------------------------------------------------------------------------
# Episodes
# ---------------------------------------------------------------------------------------
def text_episode(seed: int = 0, n_way: int = 3, k: int = 2, q: int = 2, T: int = 10) -> Episode:
    """Random token sequences of `TINY_CONFIG`'s vocabulary with some padding, labels grouped by class."""
    g = torch.Generator().manual_seed(seed)

    def side(m):
        x = torch.randint(5, TINY_CONFIG.vocab_size, (n_way * m, T), generator=g)
        x[:, 0] = 2
        mask = torch.ones_like(x)
        lengths = torch.randint(4, T + 1, (n_way * m,), generator=g)
        for i, n in enumerate(lengths.tolist()):
            mask[i, n:] = 0
            x[i, n:] = 0
        return x, torch.arange(n_way).repeat_interleave(m), mask

    sx, sy, sm = side(k)
    qx, qy, qm = side(q)
    return Episode(sx, sy, qx, qy, sm, qm, classes=[f"c{i}" for i in range(n_way)])


def sine_setup():
    """(net, its MSE loss, its parameters, the sinusoid tasks): the set-up of the divergence tests."""
    from metalearn_edu.meta import functional_loss, sinusoid_mlp

    net = sinusoid_mlp(seed=0)
    return net, functional_loss(net, "mse"), dict(net.named_parameters()), SinusoidTasks(seed=0)


# ---------------------------------------------------------------------------------------
# Linear regression, where MAML's and Reptile's updates have closed forms
# ---------------------------------------------------------------------------------------
def linreg_episode(seed: int, n: int = 6, d: int = 3) -> Episode:
    g = torch.Generator().manual_seed(seed)
    xs, xq = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(d, 1, generator=g, dtype=torch.float64)
    return Episode(xs, xs @ w + 0.5, xq, xq @ w + 0.5)


def linear(d: int = 3) -> nn.Linear:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Linear(d, 1).double()


def augment(x):
    return torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)  # (n, d+1): weights then bias


def grad_and_hessian(theta, x, y):
    """MSE L = mean((Xa θ − y)²): ∇L = 2 Xaᵀ(Xa θ − y)/n, ∇²L = 2 XaᵀXa/n."""
    xa = augment(x)
    return 2 * xa.T @ (xa @ theta - y) / len(x), 2 * xa.T @ xa / len(x)


def flat(params):
    return torch.cat([params["weight"].reshape(-1, 1), params["bias"].reshape(-1, 1)])


# ---------------------------------------------------------------------------------------
# Exercise checks
# ---------------------------------------------------------------------------------------
def one_percent_off(fn, factor: float = 1.01):
    """`fn` whose answer has every float in it (numbers, floating tensors, inside tuples, lists and
    dicts) multiplied by `factor`: the near miss that every exercise check must refuse."""
    def scale(x):
        if isinstance(x, torch.Tensor) and x.is_floating_point() or isinstance(x, float):
            return x * factor
        if isinstance(x, (tuple, list)):
            return type(x)(scale(v) for v in x)
        if isinstance(x, dict):
            return {k: scale(v) for k, v in x.items()}
        return x

    return lambda *args, **kwargs: scale(fn(*args, **kwargs))


# ---------------------------------------------------------------------------------------
# Scripts
# ---------------------------------------------------------------------------------------
def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` imported as a module (its main() is not run)."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
