"""The exercise checks of chapters 0–4 (`metalearn_edu.exercises`).

For every check: the reference solution (the notebook's, copied here) passes and prints its ✓
line; a wrong solution raises `ExerciseFailed` with a message that names the input and gives a
hint; the student stub (``raise NotImplementedError(hint)``, what the student build puts in place
of a solution) raises `ExerciseNotDone` that carries the hint; and where an exercise replaces a
library function, a "solution" that calls it raises `ExerciseNotDone`.
"""

from __future__ import annotations

import math

import pytest
import torch

from metalearn_edu import exercises as ex
from metalearn_edu.exercises import ExerciseFailed, ExerciseNotDone
from helpers import UNDER_MUTMUT, one_percent_off


def _stub(hint: str):
    def stub(*args, **kwargs):
        raise NotImplementedError(hint)
    return stub


def _passes(check, *args, capsys) -> None:
    check(*args)
    assert capsys.readouterr().out.startswith("✓ ")


def _fails(check, *args, match: str) -> str:
    with pytest.raises(ExerciseFailed, match=match) as info:
        check(*args)
    message = str(info.value)
    assert len(message) > 40 and ("Hint: " in message or "expected" in message or "return" in message), message
    return message


def _not_done(check, fn, *args, match: str = "") -> None:
    if match == "library" and UNDER_MUTMUT:
        return  # see helpers.UNDER_MUTMUT
    with pytest.raises(ExerciseNotDone, match=match):
        check(fn, *args)


# ---------------------------------------------------------------------------------------
# Chapter 0
# ---------------------------------------------------------------------------------------
def longest_topic(lengths):
    return max(lengths, key=lambda k: sum(lengths[k]) / len(lengths[k]))


def pack(docs, seq_len, cls_id, sep_id):
    stream = [i for doc in docs for i in doc + [sep_id]]
    body = seq_len - 2
    return torch.tensor([[cls_id] + stream[s:s + body] + [sep_id] for s in range(0, len(stream) - body + 1, body)])


def test_chapter0_longest_topic(capsys):
    _passes(ex.check_longest_topic, longest_topic, capsys=capsys)
    _passes(ex.check_longest_topic, longest_topic, {"a": [1, 2], "b": [5]}, capsys=capsys)
    message = _fails(ex.check_longest_topic, lambda d: max(d, key=lambda k: sum(d[k])), match="Hint: compare the means")
    assert "expected" in message
    _fails(ex.check_longest_topic, lambda d: max(d, key=lambda k: max(d[k])), match="made-up lengths")
    _not_done(ex.check_longest_topic, _stub("average each topic"), match="Hint: average each topic")


def test_chapter0_pack_blocks(capsys):
    from metalearn_edu.pretrain import pack_blocks

    _passes(ex.check_pack_blocks, pack, capsys=capsys)

    def no_doc_separator(docs, seq_len, cls_id, sep_id):
        stream = [i for doc in docs for i in doc]
        body = seq_len - 2
        return torch.tensor([[cls_id] + stream[s:s + body] + [sep_id]
                             for s in range(0, len(stream) - body + 1, body)])

    def swapped(docs, seq_len, cls_id, sep_id):
        return pack(docs, seq_len, sep_id, cls_id)

    def keeps_tail(docs, seq_len, cls_id, sep_id):
        stream = [i for doc in docs for i in doc + [sep_id]] + [0] * (seq_len - 2)
        return pack([stream[:-1]], seq_len, cls_id, stream[-1])

    _fails(ex.check_pack_blocks, no_doc_separator, match="seq_len=")
    _fails(ex.check_pack_blocks, swapped, match="block 0, position 0")
    _fails(ex.check_pack_blocks, keeps_tail, match="drop the tail")
    _fails(ex.check_pack_blocks, lambda *a: pack(*a).tolist(), match="return a \\(N, seq_len\\) tensor")
    _not_done(ex.check_pack_blocks, _stub("join, then cut"), match="join, then cut")

    class Ids:
        cls_token_id, sep_token_id = 2, 3

        def __call__(self, texts, **kwargs):
            return {"input_ids": texts}

    _not_done(ex.check_pack_blocks, lambda docs, n, c, s: pack_blocks(docs, Ids(), n), match="library")


# ---------------------------------------------------------------------------------------
# Chapter 1
# ---------------------------------------------------------------------------------------
def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    weights = scores.masked_fill(future, float("-inf")).softmax(-1)
    return weights @ v, weights


def count_parameters(cfg):
    D, F_, V = cfg.d_model, cfg.d_ff, cfg.vocab_size
    ln = 2 * D
    embeddings = (V + cfg.max_len + cfg.n_segments) * D + ln
    block = (3 * D * D + 3 * D) + (D * D + D) + (D * F_ + F_) + (F_ * D + D) + 2 * ln
    final_ln = ln if cfg.pre_ln else 0
    mlm_head = (D * D + D) + ln + V
    cls_head = (D * D + D) + (D * cfg.n_labels + cfg.n_labels)
    return embeddings + cfg.n_layers * block + final_ln + mlm_head + cls_head


def strongest_head(stats, key):
    values = stats[key]
    return divmod(int(values.argmax()), values.shape[1])


def cls_attention(attentions, input_ids, attention_mask, cls_id):
    is_cls = (input_ids == cls_id).float()
    real = attention_mask.float()
    return torch.stack([torch.einsum("bhqk,bk->bhq", a, is_cls).mul(real[:, None]).sum((0, 2)) / real.sum()
                        for a in attentions])


def test_chapter1_causal_attention(capsys):
    _passes(ex.check_causal_attention, causal_attention, capsys=capsys)

    def unscaled(q, k, v):
        return causal_attention(q * q.shape[-1] ** 0.5, k, v)

    def no_mask(q, k, v):
        w = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1)
        return w @ v, w

    def mask_after_softmax(q, k, v):
        T = q.shape[-2]
        w = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1) * torch.tril(torch.ones(T, T))
        return w @ v, w

    _fails(ex.check_causal_attention, unscaled, match="without the 1/√d")
    _fails(ex.check_causal_attention, no_mask, match="later key")
    _fails(ex.check_causal_attention, mask_after_softmax, match="do not sum to 1")
    _not_done(ex.check_causal_attention, _stub("mask j > i"), match="mask j > i")


def test_chapter1_parameter_count(capsys):
    from metalearn_edu.model import BertEncoder

    _passes(ex.check_parameter_count, count_parameters, capsys=capsys)
    _fails(ex.check_parameter_count, lambda cfg: count_parameters(cfg) + cfg.vocab_size * cfg.d_model,
           match="tied to the token embedding")
    _fails(ex.check_parameter_count, lambda cfg: count_parameters(cfg) - (2 * cfg.d_model if cfg.pre_ln else 0),
           match="pre_ln=True")
    _not_done(ex.check_parameter_count, _stub("embeddings + blocks + heads"), match="embeddings")
    _not_done(ex.check_parameter_count, lambda cfg: BertEncoder(cfg).num_parameters(), match="library")


def test_chapter1_strongest_head(capsys):
    gen = torch.Generator().manual_seed(0)
    stats = {"cls": torch.rand(6, 12, generator=gen), "sep": torch.rand(6, 12, generator=gen)}
    _passes(ex.check_strongest_head, strongest_head, stats, "cls", capsys=capsys)
    _fails(ex.check_strongest_head, lambda s, k: divmod(int(s[k].argmax()), s[k].shape[0]), stats, "cls",
           match="divmod")
    _not_done(ex.check_strongest_head, _stub("argmax, then divmod"), stats, "cls", match="argmax")


def test_chapter1_cls_attention(capsys):
    from metalearn_edu.analysis import attention_pattern_stats

    _passes(ex.check_cls_attention, cls_attention, capsys=capsys)

    def every_query(attentions, input_ids, attention_mask, cls_id):
        return torch.stack([torch.einsum("bhqk,bk->bhq", a, (input_ids == cls_id).float()).mean((0, 2))
                            for a in attentions])

    def first_key(attentions, input_ids, attention_mask, cls_id):
        real = attention_mask.float()
        return torch.stack([(a[..., 0] * real[:, None]).sum((0, 2)) / real.sum() for a in attentions])

    _fails(ex.check_cls_attention, every_query, match="padding queries")
    _fails(ex.check_cls_attention, first_key, match="position 0")
    _not_done(ex.check_cls_attention, _stub("einsum over the keys"), match="einsum")
    _not_done(ex.check_cls_attention, lambda a, i, m, c: attention_pattern_stats(a, i, m, {"cls": c})["cls"],
              match="library")


def test_chapter1_attention_matches_library(capsys):
    def attention(q, k, v, key_mask=None):
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        return weights @ v, weights

    _passes(ex.check_attention_matches_library, attention, capsys=capsys)
    _fails(ex.check_attention_matches_library, lambda q, k, v, m: attention(q, k, v), match="padding keys")


# ---------------------------------------------------------------------------------------
# Chapter 2
# ---------------------------------------------------------------------------------------
def perplexity_ratio(loss, unigram_loss):
    return math.exp(unigram_loss - loss)


def unigram_baseline(counts, labels):
    probs = (counts.double() + 1) / (counts.sum() + len(counts))
    targets = labels[labels != -100]
    return float(-probs[targets].log().mean())


def bert_mask(input_ids, vocab, generator):
    special = torch.isin(input_ids, torch.tensor(vocab.special_ids))
    selected = ~special & (torch.rand(input_ids.shape, generator=generator) < 0.15)
    action = torch.rand(input_ids.shape, generator=generator)
    to_mask, to_random = selected & (action < 0.8), selected & (action >= 0.8) & (action < 0.9)
    random_ids = vocab.random_ids[torch.randint(len(vocab.random_ids), input_ids.shape, generator=generator)]
    corrupted = torch.where(to_mask, vocab.mask_id, input_ids)
    corrupted = torch.where(to_random, random_ids, corrupted)
    labels = torch.where(selected, input_ids, -100)
    return corrupted, labels


def test_chapter2_perplexity_ratio(capsys):
    _passes(ex.check_perplexity_ratio, perplexity_ratio, capsys=capsys)
    _passes(ex.check_perplexity_ratio, perplexity_ratio, {"loss": 4.45, "unigram_loss": 6.97}, capsys=capsys)
    _fails(ex.check_perplexity_ratio, lambda loss, uni: uni / loss, match="ratio of the losses")
    _fails(ex.check_perplexity_ratio, lambda loss, uni: math.exp(loss - uni), match="inverse")
    _not_done(ex.check_perplexity_ratio, _stub("perplexity = exp(loss)"), match="exp")


def test_chapter2_unigram_loss(capsys):
    from metalearn_edu.analysis import unigram_log_probs, unigram_loss

    _passes(ex.check_unigram_loss, unigram_baseline, capsys=capsys)

    def everywhere(counts, labels):
        probs = (counts.double() + 1) / (counts.sum() + len(counts))
        return float(-probs[labels.clamp(min=0)].log().mean())

    def unsmoothed(counts, labels):
        return float(-(counts.double() / counts.sum())[labels[labels != -100]].log().mean())

    _fails(ex.check_unigram_loss, everywhere, match="skip those whose label is −100")
    _fails(ex.check_unigram_loss, unsmoothed, match="add 1 to every count")
    _not_done(ex.check_unigram_loss, _stub("add one to every count"), match="add one")
    _not_done(ex.check_unigram_loss, lambda c, l: unigram_loss(unigram_log_probs(c), l), match="library")


def test_chapter2_bert_masking(capsys):
    from metalearn_edu.masking import MaskingConfig, mask_tokens

    _passes(ex.check_bert_masking, bert_mask, capsys=capsys)

    def selects_specials(input_ids, vocab, generator):
        selected = torch.rand(input_ids.shape, generator=generator) < 0.15
        return torch.where(selected, vocab.mask_id, input_ids), torch.where(selected, input_ids, -100)

    def split_of_all_tokens(input_ids, vocab, generator):  # 80% of *all* eligible tokens become [MASK]
        special = torch.isin(input_ids, torch.tensor(vocab.special_ids))
        selected = ~special & (torch.rand(input_ids.shape, generator=generator) < 0.15)
        to_mask = selected & (torch.rand(input_ids.shape, generator=generator) < 0.5)
        return torch.where(to_mask, vocab.mask_id, input_ids), torch.where(selected, input_ids, -100)

    def global_rng(input_ids, vocab, generator):
        return bert_mask(input_ids, vocab, torch.Generator().manual_seed(int(torch.randint(1000, (1,)))))

    def in_place(input_ids, vocab, generator):
        corrupted, labels = bert_mask(input_ids, vocab, generator)
        input_ids.copy_(corrupted)
        return corrupted, labels

    def too_many(input_ids, vocab, generator):
        special = torch.isin(input_ids, torch.tensor(vocab.special_ids))
        selected = ~special & (torch.rand(input_ids.shape, generator=generator) < 0.3)
        return torch.where(selected, vocab.mask_id, input_ids), torch.where(selected, input_ids, -100)

    _fails(ex.check_bert_masking, selects_specials, match="special id")
    _fails(ex.check_bert_masking, split_of_all_tokens, match="split of the selected tokens")
    _fails(ex.check_bert_masking, global_rng, match="same seed")
    _fails(ex.check_bert_masking, in_place, match="in place")
    _fails(ex.check_bert_masking, too_many, match="independently with probability 0.15")
    _not_done(ex.check_bert_masking, _stub("select 15%, then split 80/10/10"), match="80/10/10")

    def library(input_ids, vocab, generator):
        out = mask_tokens(input_ids, vocab, MaskingConfig(), generator)
        return out.input_ids, out.labels

    _not_done(ex.check_bert_masking, library, match="library")


# ---------------------------------------------------------------------------------------
# Chapter 3
# ---------------------------------------------------------------------------------------
def meta_gradient(theta, a, s, b, q, alpha):
    phi = theta - alpha * a * (theta - s)
    return b * (phi - q) * (1 - alpha * a)


def first_order_grads(loss_fn, params, episodes, inner_lr):
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    for ep in episodes:
        g = torch.autograd.grad(loss_fn(params, ep.support), list(params.values()))
        phi = {n: (p - inner_lr * gi).detach().requires_grad_() for (n, p), gi in zip(params.items(), g)}
        gq = torch.autograd.grad(loss_fn(phi, ep.query), list(phi.values()))
        for n, gi in zip(params, gq):
            total[n] += gi / len(episodes)
    return total


def meta_sgd_lr_grads(loss_fn, params, episode, inner_lrs):
    g_support = torch.autograd.grad(loss_fn(params, episode.support), list(params.values()))
    phi = {n: (p - inner_lrs[n].detach() * g).detach().requires_grad_()
           for (n, p), g in zip(params.items(), g_support)}
    g_query = torch.autograd.grad(loss_fn(phi, episode.query), list(phi.values()))
    return {n: -(gq * gs).sum() for n, gq, gs in zip(params, g_query, g_support)}


def test_chapter3_quadratic_meta_gradient(capsys):
    _passes(ex.check_quadratic_meta_gradient, meta_gradient, capsys=capsys)
    _fails(ex.check_quadratic_meta_gradient, lambda t, a, s, b, q, al: b * (t - al * a * (t - s) - q),
           match="first-order answer")
    _fails(ex.check_quadratic_meta_gradient, lambda t, a, s, b, q, al: b * (t - q), match="chain rule")
    _not_done(ex.check_quadratic_meta_gradient, _stub("chain rule"), match="chain rule")


def test_chapter3_first_order_step(capsys):
    from metalearn_edu.meta import maml_step

    _passes(ex.check_first_order_step, first_order_grads, capsys=capsys)

    def at_theta(loss_fn, params, episodes, inner_lr):
        return {n: sum(torch.autograd.grad(loss_fn(params, ep.query), [p])[0] for ep in episodes) / len(episodes)
                for n, p in params.items()}

    _fails(ex.check_first_order_step, _second_order, match="second-order meta-gradient")
    _fails(ex.check_first_order_step, at_theta, match="query gradient at θ")
    _not_done(ex.check_first_order_step, _stub("detach the inner gradient"), match="detach")
    _not_done(ex.check_first_order_step, lambda l, p, e, a: maml_step(l, p, e, a, 1, first_order=True)[1],
              match="library")


def _second_order(loss_fn, params, episodes, inner_lr):
    total = {n: torch.zeros_like(p) for n, p in params.items()}
    for ep in episodes:
        g = torch.autograd.grad(loss_fn(params, ep.support), list(params.values()), create_graph=True)
        phi = {n: p - inner_lr * gi for (n, p), gi in zip(params.items(), g)}
        for n, gi in zip(params, torch.autograd.grad(loss_fn(phi, ep.query), list(params.values()))):
            total[n] += gi / len(episodes)
    return total


def test_chapter3_meta_sgd_lr_gradient(capsys):
    from metalearn_edu.meta import maml_step

    _passes(ex.check_meta_sgd_lr_gradient, meta_sgd_lr_grads, capsys=capsys)

    def flipped(*args):
        return {n: -g for n, g in meta_sgd_lr_grads(*args).items()}

    def summed(*args):
        grads = meta_sgd_lr_grads(*args)
        total = sum(grads.values())
        return {n: total for n in grads}

    _fails(ex.check_meta_sgd_lr_gradient, flipped, match="sign is flipped")
    _fails(ex.check_meta_sgd_lr_gradient, summed, match="learning-rate gradient")
    _not_done(ex.check_meta_sgd_lr_gradient, _stub("−⟨∇φ L_query, ∇θ L_support⟩"), match="L_query")
    _not_done(ex.check_meta_sgd_lr_gradient,
              lambda l, p, e, lrs: {n: g for n, g in maml_step(l, p, [e], lrs, 1)[1].items()}, match="library")


def test_meta_sgd_lr_gradient_is_a_finite_difference():
    """The quantity of exercise 3.3 is the derivative of the query loss in the learning rate."""
    from metalearn_edu.episodes import SinusoidTasks
    from metalearn_edu.meta import functional_loss, sinusoid_mlp

    net = sinusoid_mlp(seed=3).double()
    loss_fn = functional_loss(net, "mse")
    params = dict(net.named_parameters())
    episode = SinusoidTasks(seed=3).episode(0, k_shot=10)
    episode = type(episode)(*(t.double() if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                              for t in (episode.support_x, episode.support_y, episode.query_x, episode.query_y)))
    lrs = {n: torch.tensor(0.02, dtype=torch.float64) for n in params}
    grads = meta_sgd_lr_grads(loss_fn, params, episode, lrs)
    g_support = torch.autograd.grad(loss_fn(params, episode.support), list(params.values()))
    name, h = "2.weight", 1e-6

    def query_loss(rate):
        with torch.no_grad():
            phi = {n: p - (rate if n == name else lrs[n]) * g for (n, p), g in zip(params.items(), g_support)}
            return float(loss_fn(phi, episode.query))

    finite = (query_loss(0.02 + h) - query_loss(0.02 - h)) / (2 * h)
    assert abs(float(grads[name]) - finite) < 1e-6 * max(1.0, abs(finite))


# ---------------------------------------------------------------------------------------
# Chapter 4
# ---------------------------------------------------------------------------------------
def my_reptile_step(loss_fn, params, episodes, inner_lr, inner_steps, eps):
    from metalearn_edu.meta import adapt

    adapted = [adapt(loss_fn, params, ep.support, inner_lr, inner_steps).adapted for ep in episodes]
    return {n: p + eps * (sum(a[n] for a in adapted) / len(adapted) - p) for n, p in params.items()}


def line_meta_gradient(theta, task, inner_lr, inner_steps):
    A, c = task.curvature, task.centre
    phi = theta
    for _ in range(inner_steps):
        phi = phi - inner_lr * A @ (phi - c)
    grad = A @ (phi - c)
    for _ in range(inner_steps):
        grad = grad - inner_lr * A @ grad
    return grad


def test_chapter4_reptile_update(capsys):
    from metalearn_edu.meta import reptile_step

    _passes(ex.check_reptile_update, my_reptile_step, capsys=capsys)

    def away(loss_fn, params, episodes, inner_lr, inner_steps, eps):
        new = my_reptile_step(loss_fn, params, episodes, inner_lr, inner_steps, eps)
        return {n: 2 * params[n] - new[n] for n in params}

    def one_inner_step(loss_fn, params, episodes, inner_lr, inner_steps, eps):
        return my_reptile_step(loss_fn, params, episodes, inner_lr, 1, eps)

    def in_place(loss_fn, params, episodes, inner_lr, inner_steps, eps):
        new = my_reptile_step(loss_fn, params, episodes, inner_lr, inner_steps, eps)
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(new[n])
        return new

    _fails(ex.check_reptile_update, away, match="away from the adapted weights")
    _fails(ex.check_reptile_update, one_inner_step, match="you took one inner step")
    _fails(ex.check_reptile_update, in_place, match="in place")
    _not_done(ex.check_reptile_update, _stub("adapt, average, move"), match="adapt, average")

    def library(loss_fn, params, episodes, inner_lr, inner_steps, eps):
        reptile_step(loss_fn, params, episodes, inner_lr, inner_steps, eps)
        return params

    _not_done(ex.check_reptile_update, library, match="library")


def test_chapter4_line_meta_gradient(capsys):
    from metalearn_edu.meta.line_tasks import adaptation_matrix

    _passes(ex.check_line_meta_gradient, line_meta_gradient, capsys=capsys)

    def first_order(theta, task, inner_lr, inner_steps):
        return line_meta_gradient(theta, task, inner_lr, 0) * 0 + task.curvature @ _phi(theta, task, inner_lr,
                                                                                          inner_steps)

    def one_factor(theta, task, inner_lr, inner_steps):
        A = task.curvature
        g = A @ _phi(theta, task, inner_lr, inner_steps)
        return g - inner_lr * A @ g

    _fails(ex.check_line_meta_gradient, first_order, match="first-order answer")
    _fails(ex.check_line_meta_gradient, one_factor, match="one factor")
    _not_done(ex.check_line_meta_gradient, _stub("multiply by (I − αA) K times"), match="K times")

    def library(theta, task, inner_lr, inner_steps):
        B = adaptation_matrix(task, inner_lr, inner_steps).float()
        return B @ task.curvature @ B @ (theta - task.centre)

    _not_done(ex.check_line_meta_gradient, library, match="library")


def _phi(theta, task, inner_lr, inner_steps):
    """φ_K − c after K steps on a line task."""
    phi = theta
    for _ in range(inner_steps):
        phi = phi - inner_lr * task.curvature @ (phi - task.centre)
    return phi - task.centre


# ---------------------------------------------------------------------------------------
# Near misses: every check with a numeric answer refuses one 1% off (or off by one)
# ---------------------------------------------------------------------------------------
def attention_with_key_mask(q, k, v, key_mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if key_mask is not None:
        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ v, weights


NUMERIC_CHECKS = {
    "causal_attention": (ex.check_causal_attention, causal_attention),
    "cls_attention": (ex.check_cls_attention, cls_attention),
    "attention_matches_library": (ex.check_attention_matches_library, attention_with_key_mask),
    "perplexity_ratio": (ex.check_perplexity_ratio, perplexity_ratio),
    "unigram_loss": (ex.check_unigram_loss, unigram_baseline),
    "quadratic_meta_gradient": (ex.check_quadratic_meta_gradient, meta_gradient),
    "first_order_step": (ex.check_first_order_step, first_order_grads),
    "meta_sgd_lr_gradient": (ex.check_meta_sgd_lr_gradient, meta_sgd_lr_grads),
    "reptile_update": (ex.check_reptile_update, my_reptile_step),
    "line_meta_gradient": (ex.check_line_meta_gradient, line_meta_gradient),
}


@pytest.mark.parametrize("name", NUMERIC_CHECKS)
@pytest.mark.parametrize("factor", [1.01, 0.99])
def test_every_numeric_check_refuses_an_answer_one_percent_off(name, factor, capsys):
    check, solution = NUMERIC_CHECKS[name]
    _passes(check, solution, capsys=capsys)
    with pytest.raises(ExerciseFailed):
        check(one_percent_off(solution, factor))


def test_counting_checks_refuse_an_answer_off_by_one(capsys):
    _passes(ex.check_parameter_count, count_parameters, capsys=capsys)
    for off in (1, -1):
        with pytest.raises(ExerciseFailed):
            ex.check_parameter_count(lambda cfg: count_parameters(cfg) + off)
