"""Checkers for the notebooks' exercises.

Each ``check_...`` function takes the student's answer, compares it with the library's
behaviour on fresh random inputs, and either prints a short confirmation or raises an
`AssertionError` whose message says what is wrong (never just "wrong").
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .config import ModelConfig
from .model import BertEncoder, explicit_attention


def _ok(message: str) -> None:
    print(f"✓ {message}")


def check_causal_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple]) -> None:
    """Exercise 1.1: `fn(q, k, v)` → (out, weights), where query i may only attend to keys j ≤ i.

    Shapes: q, k, v (B, H, T, Dh); out (B, H, T, Dh); weights (B, H, T, T).
    """
    gen = torch.Generator().manual_seed(11)
    q, k, v = (torch.randn(2, 3, 6, 4, generator=gen) for _ in range(3))
    result = fn(q, k, v)
    assert isinstance(result, tuple) and len(result) == 2, "return a pair (output, weights)"
    out, weights = result
    assert weights.shape == (2, 3, 6, 6), f"weights should have shape (B, H, T, T) = (2, 3, 6, 6), got {tuple(weights.shape)}"
    future = torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    assert weights[..., future].abs().max() < 1e-6, "some query attends to a later key: mask j > i before the softmax"
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 6), msg="each row of weights must sum to 1")
    scores = (q @ k.transpose(-2, -1)) / q.shape[-1] ** 0.5
    expected = scores.masked_fill(future, float("-inf")).softmax(-1)
    torch.testing.assert_close(weights, expected, msg="weights differ from softmax(QKᵀ/√d) with the causal mask")
    torch.testing.assert_close(out, expected @ v, msg="the output should be weights @ v")
    _ok("causal attention is right: no query sees the future, rows sum to 1")


def check_parameter_count(fn: Callable[[ModelConfig], int]) -> None:
    """Exercise 1.2: `fn(cfg)` → the number of parameters of `BertEncoder(cfg)` (tied embedding once)."""
    configs = [ModelConfig(vocab_size=100, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_len=16),
               ModelConfig(vocab_size=8000, d_model=128, n_layers=4, n_heads=4, d_ff=512, max_len=128, n_labels=5),
               ModelConfig(vocab_size=500, d_model=48, n_layers=3, n_heads=3, d_ff=96, max_len=64, pre_ln=True)]
    for cfg in configs:
        want, got = BertEncoder(cfg).num_parameters(), fn(cfg)
        assert got == want, (f"for {cfg.n_layers} layers, d_model={cfg.d_model}, d_ff={cfg.d_ff}, "
                             f"vocab={cfg.vocab_size}, pre_ln={cfg.pre_ln}: expected {want:,}, got {got:,} "
                             f"(off by {got - want:+,})")
    _ok("your formula matches the model's parameter count on 3 configs")


def check_head_choice(answer: tuple[int, int], stats: dict, key: str) -> None:
    """Exercise 1.3: (layer, head) of the head with the highest mean `key` statistic."""
    values = stats[key]
    layer, head = divmod(int(values.argmax()), values.shape[1])
    assert tuple(answer) == (layer, head), (
        f"({answer[0]}, {answer[1]}) has mean {key} attention {float(values[answer[0], answer[1]]):.3f}; "
        f"another head scores higher — look at the '{key}' panel of the summary plot")
    _ok(f"layer {layer}, head {head} attends most to '{key}' ({float(values[layer, head]):.2f} on average)")


def check_attention_matches_library(fn: Callable, atol: float = 1e-6) -> None:
    """`fn(q, k, v, key_mask)` → (out, weights) must match the library's explicit attention."""
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 2, 5, 8, generator=gen) for _ in range(3))
    key_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    out, weights = fn(q, k, v, key_mask)
    ref_out, ref_weights = explicit_attention(q, k, v, key_mask, torch.nn.Dropout(0.0))
    torch.testing.assert_close(weights, ref_weights, atol=atol, rtol=0)
    torch.testing.assert_close(out, ref_out, atol=atol, rtol=0)
    _ok("matches metalearn_edu.model.explicit_attention")


def check_perplexity_ratio(ratio: float, metrics: dict) -> None:
    """Exercise 2.1: how many times lower the model's perplexity is than the unigram baseline's."""
    want = math.exp(metrics["unigram_loss"]) / metrics["perplexity"]
    assert abs(ratio - want) <= 1e-6 * want, (
        f"{ratio:.4g} is not it: perplexity is exp(loss), so the ratio is exp(unigram_loss) / exp(loss)")
    _ok(f"perplexity is {want:.1f}× lower than the unigram baseline's")


def check_longest_topic(topic: str, lengths: dict[str, list[int]]) -> None:
    """Exercise 0.1: the topic whose articles are longest on average."""
    means = {k: sum(v) / len(v) for k, v in lengths.items()}
    want = max(means, key=means.get)
    assert topic == want, (f"'{topic}' averages {means.get(topic, float('nan')):.0f} tokens; "
                           f"one topic averages more — compare sum(lengths[k]) / len(lengths[k]) across topics")
    _ok(f"'{want}' articles are longest: {means[want]:.0f} tokens on average")


def check_quadratic_meta_gradient(fn: Callable[..., float]) -> None:
    """Exercise 3.1: d/dθ of the query loss after one inner step, for 1-D quadratic losses.

    Support loss ½·a·(θ − s)², query loss ½·b·(θ − q)², one inner step of size α:
    `fn(theta, a, s, b, q, alpha)` must return d L_query(φ(θ)) / dθ.
    """
    gen = torch.Generator().manual_seed(5)
    for _ in range(5):
        theta, a, s, b, q = (torch.rand(5, generator=gen) * 4 - 1).tolist()
        a, b, alpha = abs(a) + 0.1, abs(b) + 0.1, 0.3
        t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
        phi = t - alpha * a * (t - s)
        (grad,) = torch.autograd.grad(0.5 * b * (phi - q) ** 2, t)
        got = float(fn(theta, a, s, b, q, alpha))
        first_order = b * (phi.detach().item() - q)
        assert abs(got - float(grad)) < 1e-6, (
            f"for θ={theta:.2f}, a={a:.2f}, s={s:.2f}, b={b:.2f}, q={q:.2f}, α={alpha}: expected {float(grad):.4f}, "
            f"got {got:.4f}" + (" — that is the first-order answer; you dropped the factor (1 − α·a)"
                                if abs(got - first_order) < 1e-6 else ""))
    _ok("your meta-gradient includes the second-order factor (1 − α·a)")


def check_first_order_step(fn: Callable, loss_fn: Callable, params: dict, episodes: list, inner_lr: float) -> None:
    """Exercise 3.2: `fn(loss_fn, params, episodes, inner_lr)` → dict of first-order MAML gradients (1 inner step)."""
    from .meta import maml_step

    _, want = maml_step(loss_fn, params, episodes, inner_lr, 1, first_order=True)
    got = fn(loss_fn, params, episodes, inner_lr)
    for name, value in want.items():
        assert name in got, f"no gradient for {name!r}"
        torch.testing.assert_close(got[name], value, atol=1e-5, rtol=1e-4,
                                   msg=f"{name}: your first-order gradient differs from maml_step(first_order=True)")
    _ok("your first-order MAML gradient equals the library's")


def check_reptile_update(fn: Callable, loss_fn: Callable, tasks: list) -> None:
    """Exercise 4.1: `fn(loss_fn, params, tasks, inner_lr, inner_steps, eps)` → θ after one Reptile step."""
    from .meta import reptile_step

    class _Episode:
        def __init__(self, task):
            self.support = self.query = task

    for inner_steps, eps in ((1, 0.5), (3, 0.1)):
        start = {"theta": torch.tensor([1.5, -0.5])}
        want = {"theta": start["theta"].clone()}
        reptile_step(loss_fn, want, [_Episode(t) for t in tasks], 0.3, inner_steps, eps)
        got = fn(loss_fn, {"theta": start["theta"].clone()}, tasks, 0.3, inner_steps, eps)
        torch.testing.assert_close(got["theta"].detach(), want["theta"], atol=1e-5, rtol=1e-5,
                                   msg=f"with {inner_steps} inner step(s) and ε={eps}: θ + ε·(mean φ − θ) differs")
    _ok("your Reptile step matches reptile_step for 1 and 3 inner steps")


def check_proto_head(fn: Callable[[torch.Tensor, torch.Tensor, int], tuple]) -> None:
    """Exercise 5.1: `fn(features, labels, n_way)` → (W, b) of the prototype-initialised head.

    Shapes: features (M, D), labels (M,), W (N, D), b (N,). With W_k = 2c_k and b_k = −‖c_k‖²
    the logits W f + b rank classes exactly like −‖f − c_k‖².
    """
    from .meta import prototypes, squared_distances

    gen = torch.Generator().manual_seed(7)
    features = torch.randn(12, 6, generator=gen)
    labels = torch.arange(3).repeat(4)
    weight, bias = fn(features, labels, 3)
    assert tuple(weight.shape) == (3, 6) and tuple(bias.shape) == (3,), (
        f"W should be (N, D) = (3, 6) and b (N,) = (3,); got {tuple(weight.shape)} and {tuple(bias.shape)}")
    c = prototypes(features, labels, 3)
    torch.testing.assert_close(weight, 2 * c, msg="W_k should be twice the mean feature of class k")
    torch.testing.assert_close(bias, -(c * c).sum(-1), msg="b_k should be −‖c_k‖², minus the squared norm")
    queries = torch.randn(5, 6, generator=gen)
    logits = queries @ weight.T + bias
    assert torch.equal(logits.argmax(-1), (-squared_distances(queries, c)).argmax(-1))
    _ok("your head classifies exactly like the nearest prototype")


def check_mask_word(fn: Callable[[str, str], str]) -> None:
    """Exercise 6.1: `fn(sentence, word)` → the SMLMT input: every whole-word occurrence of `word` → [MASK]."""
    from .episodes import mask_word

    cases = [("Shares rose; shares fell. Shareholders left.", "shares"),
             ("The Bank said the bank would act.", "bank"),
             ("Nothing to hide here.", "film"),
             ("Film-makers love film festivals.", "film")]
    for sentence, word in cases:
        want, got = mask_word(sentence, word), fn(sentence, word)
        assert got == want, (f"for ({sentence!r}, {word!r}) expected {want!r}, got {got!r} — match whole words "
                             "in any case, and leave longer words that merely contain it alone")
    _ok("your masking builds the same SMLMT inputs as the library")
