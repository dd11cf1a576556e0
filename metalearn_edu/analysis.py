"""Analysis helpers: attention-head statistics, a unigram baseline, confidence intervals.

* `attention_pattern_stats` and `find_heads` follow Clark et al. 2019, "What Does
  BERT Look At?": for every layer and head, how much attention a token pays on
  average to ``[CLS]``, ``[SEP]``, punctuation, itself, the previous and the next
  token, and how spread out its attention is (entropy). A head whose mean attention
  to the previous (next) token exceeds 0.5 is a previous-token (next-token) head.
* `count_tokens`, `unigram_log_probs`, `unigram_loss`: the loss of a model that
  ignores the context and predicts every masked token from its training-set
  frequency. An MLM that does not beat it has learnt nothing about context.
* `mean_ci`, `paired_ci`, `seed_ci`, `format_ci`: mean ± t-based confidence half-width over
  episodes (of one method, or of the differences between two scored on the same items) and over
  training seeds (each tested on its own episodes).

Shape letters: L layers, B batch, H heads, T sequence length, V vocabulary size.
"""

from __future__ import annotations

import math
import statistics
import string
from typing import Any, Iterable, Mapping, Sequence

import torch

from .runtime import eval_mode

IGNORE_INDEX = -100  # label value ignored by the MLM loss

STAT_KEYS = ("cls", "sep", "punct", "self", "prev", "next", "entropy")


def attention_pattern_stats(
    attentions: Sequence[torch.Tensor],
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    special_ids: Mapping[str, int] | None = None,
    punct_ids: Sequence[int] = (),
) -> dict[str, torch.Tensor]:
    """Per-head attention statistics in the style of Clark et al. (2019).

    Each statistic is averaged over every real (non-padding) query position of
    the batch:

    * ``cls``, ``sep``, ``punct``: total attention to keys that are ``[CLS]``,
      ``[SEP]``, or one of ``punct_ids``;
    * ``self``: attention to the query's own position;
    * ``prev`` / ``next``: attention to the position just before / after, over the
      queries that have a real previous / next token;
    * ``entropy``: ``-Σ_k a_k log a_k`` of the query's attention row, in nats
      (0 for one-hot attention, ``log n`` for uniform attention over n keys).

    Args:
        attentions: one tensor per layer, each row a distribution over keys (e.g.
            ``model(..., output_attentions=True).attentions``).
        input_ids: the token ids of the batch.
        attention_mask: 1 for real tokens, 0 for padding; None means no padding.
        special_ids: ``{"cls": id, "sep": id}``; a key left out (or None) omits
            that statistic from the result.
        punct_ids: ids of punctuation tokens (Clark et al. use "." and ","; see
            `punctuation_ids`). Empty gives ``punct == 0``.

    Returns:
        ``{name: (L, H) float32 CPU tensor}`` for ``"cls"``, ``"sep"`` (when their ids
        are given), ``"punct"``, ``"self"``, ``"prev"``, ``"next"`` and ``"entropy"``.

    Shapes:
        attentions[l]: (B, H, T, T), indexed [batch, head, query, key];
        input_ids, attention_mask: (B, T)

    Example:
        >>> prev = torch.zeros(1, 1, 3, 3); prev[0, 0, 0, 0] = 1; prev[0, 0, 1, 0] = 1; prev[0, 0, 2, 1] = 1
        >>> stats = attention_pattern_stats([prev], torch.tensor([[2, 7, 3]]), special_ids={"cls": 2, "sep": 3})
        >>> stats["prev"].tolist(), stats["cls"].tolist()
        ([[1.0]], [[0.6666666865348816]])
    """
    if len(attentions) == 0:
        raise ValueError("attentions is empty; pass one (B, H, T, T) tensor per layer")
    real = _check_attention_inputs(attentions, input_ids, attention_mask)  # (B, T) bool
    device = attentions[0].device
    real = real.to(device)
    input_ids = input_ids.to(device)
    if int(real.sum()) == 0:
        raise ValueError("attention_mask marks no real token; there is nothing to average over")

    key_sets = {name: input_ids == int(token_id) for name, token_id in (special_ids or {}).items() if token_id is not None}
    unknown = set(key_sets) - {"cls", "sep"}
    if unknown:
        raise ValueError(f"special_ids has keys {sorted(unknown)}; allowed keys are 'cls' and 'sep'")
    punct = torch.tensor(list(punct_ids), dtype=input_ids.dtype, device=device)
    key_sets["punct"] = torch.isin(input_ids, punct)  # (B, T)

    prev_ok = real[:, 1:] & real[:, :-1]  # (B, T-1) query t+1 has a real token t before it
    per_layer: dict[str, list[torch.Tensor]] = {}
    for layer_attention in attentions:
        a = layer_attention.float()  # (B, H, T, T)
        layer = {name: _mean_over(_attention_to(a, keys), real) for name, keys in key_sets.items()}
        layer["self"] = _mean_over(a.diagonal(dim1=-2, dim2=-1), real)  # a[b, h, t, t]
        layer["prev"] = _mean_over(a.diagonal(offset=-1, dim1=-2, dim2=-1), prev_ok)  # a[b, h, t+1, t]
        layer["next"] = _mean_over(a.diagonal(offset=1, dim1=-2, dim2=-1), prev_ok)  # a[b, h, t, t+1]
        layer["entropy"] = _mean_over(torch.special.entr(a).sum(-1), real)  # (B, H, T) -> (H,)
        for name, value in layer.items():
            per_layer.setdefault(name, []).append(value)
    order = [k for k in STAT_KEYS if k in per_layer]
    return {name: torch.stack(per_layer[name]).cpu() for name in order}  # each (L, H)


def _attention_to(a: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Total attention from each query to the keys where ``keys`` is True: (B, H, T, T), (B, T) -> (B, H, T)."""
    return torch.einsum("bhqk,bk->bhq", a, keys.to(a.dtype))


def _mean_over(values: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Mean over batch and query positions where ``queries`` is True: (B, H, Tq), (B, Tq) -> (H,)."""
    weights = queries[:, None, :].to(values.dtype)  # (B, 1, Tq)
    count = weights.sum()
    if count == 0:  # e.g. prev/next when every sequence has a single token
        return torch.full(values.shape[1:2], float("nan"), device=values.device)
    return (values * weights).sum(dim=(0, 2)) / count


def _check_attention_inputs(
    attentions: Sequence[torch.Tensor], input_ids: torch.Tensor, attention_mask: torch.Tensor | None
) -> torch.Tensor:
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must be (B, T), got shape {tuple(input_ids.shape)}")
    B, T = input_ids.shape
    for i, a in enumerate(attentions):
        if a.dim() != 4 or a.shape[0] != B or a.shape[2:] != (T, T):
            raise ValueError(f"attentions[{i}] has shape {tuple(a.shape)}; expected (B={B}, H, T={T}, T={T})")
        if a.shape[1] != attentions[0].shape[1]:
            raise ValueError(f"attentions[{i}] has {a.shape[1]} heads but attentions[0] has {attentions[0].shape[1]}")
    if attention_mask is None:
        return torch.ones(B, T, dtype=torch.bool)
    if attention_mask.shape != (B, T):
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}; it must match input_ids {(B, T)}")
    return attention_mask != 0


def find_heads(stats: Mapping[str, torch.Tensor], key: str = "prev", threshold: float = 0.5) -> list[tuple[int, int]]:
    """Heads whose statistic exceeds a threshold, strongest first.

    Args:
        stats: output of `attention_pattern_stats`.
        key: which statistic, e.g. ``"prev"``, ``"next"``, ``"sep"``.
        threshold: keep heads with a value strictly above it (Clark et al. use 0.5).

    Returns:
        ``(layer, head)`` pairs (0-based) sorted by value, descending; ties in
        layer-then-head order.

    Example:
        >>> find_heads({"prev": torch.tensor([[0.1, 0.7], [0.9, 0.2]])})
        [(1, 0), (0, 1)]
    """
    if key not in stats:
        raise ValueError(f"key={key!r} is not in stats; choose one of {sorted(stats)}")
    values = stats[key]
    if values.dim() != 2:
        raise ValueError(f"stats[{key!r}] has shape {tuple(values.shape)}; expected (L, H)")
    layers, heads = torch.nonzero(values > threshold, as_tuple=True)
    found = [(int(l), int(h), float(values[l, h])) for l, h in zip(layers, heads)]
    found.sort(key=lambda item: (-item[2], item[0], item[1]))
    return [(layer, head) for layer, head, _ in found]


def punctuation_ids(tokenizer: Any, chars: str | None = ".,") -> list[int]:
    """Ids of tokens made only of punctuation.

    Args:
        tokenizer: any tokenizer with ``len()`` and ``convert_ids_to_tokens``.
        chars: the allowed characters; ``".,"`` (default) follows Clark et al.,
            None means all of `string.punctuation`. Special tokens such as
            ``[CLS]`` never qualify because they contain letters.

    Returns:
        Sorted ids whose token consists only of ``chars``.
    """
    allowed = set(string.punctuation if chars is None else chars)
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return [i for i, token in enumerate(tokens) if token and set(str(token)) <= allowed]


def count_tokens(
    input_ids: torch.Tensor | Iterable[torch.Tensor | Sequence[int]],
    vocab_size: int,
    ignore_ids: Sequence[int] = (),
) -> torch.Tensor:
    """How often each id occurs, e.g. over the training set.

    Negative ids (such as the -100 of MLM labels) are skipped, so labels can be
    counted directly.

    Args:
        input_ids: a tensor of any shape, or an iterable of tensors / id lists
            (e.g. a data loader's batches).
        vocab_size: V; every id must be below it.
        ignore_ids: ids whose count is set to 0 (e.g. ``[CLS]``, ``[SEP]``, ``[PAD]``,
            which are never MLM targets).

    Returns:
        Counts as an int64 tensor.

    Shapes:
        result: (V,)
    """
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size={vocab_size!r} is not allowed; it must be a positive integer")
    chunks = [input_ids] if isinstance(input_ids, torch.Tensor) else input_ids
    counts = torch.zeros(vocab_size, dtype=torch.long)
    for chunk in chunks:
        ids = torch.as_tensor(chunk).flatten().long().cpu()
        ids = ids[ids >= 0]
        if ids.numel() and int(ids.max()) >= vocab_size:
            raise ValueError(f"found id {int(ids.max())}; every id must lie in [0, vocab_size={vocab_size})")
        counts += torch.bincount(ids, minlength=vocab_size)
    if len(ignore_ids):
        counts[list(ignore_ids)] = 0
    return counts


def unigram_log_probs(token_counts: torch.Tensor, smoothing: float = 1.0) -> torch.Tensor:
    """Add-k smoothed unigram log-probabilities.

    ``log p(v) = log((count_v + k) / (N + k V))`` with N the total count.

    Args:
        token_counts: counts per id, e.g. from `count_tokens`.
        smoothing: k ≥ 0, added to every count (1 = Laplace). With 0, unseen ids
            get ``-inf``.

    Returns:
        Log-probabilities, float32; ``logsumexp == 0``.

    Shapes:
        token_counts, result: (V,)
    """
    if smoothing < 0:
        raise ValueError(f"smoothing={smoothing!r} is not allowed; it must be >= 0")
    counts = torch.as_tensor(token_counts, dtype=torch.float64).flatten()
    if (counts < 0).any():
        raise ValueError("token_counts must be non-negative")
    smoothed = counts + smoothing
    total = smoothed.sum()
    if total <= 0:
        raise ValueError("token_counts are all zero and smoothing=0; pass smoothing > 0 or count some tokens")
    return (smoothed.log() - total.log()).float()


def unigram_loss(log_probs: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean negative log-likelihood of ``targets`` under a unigram model, in nats.

    This is the cross-entropy an MLM would get by ignoring the context; compare
    it with the MLM's loss on the same (masked) targets.

    Args:
        log_probs: from `unigram_log_probs`.
        targets: target ids of any shape; positions equal to -100 are ignored.

    Returns:
        The mean NLL as a Python float.

    Shapes:
        log_probs: (V,); targets: any, e.g. (B, T) MLM labels

    Example:
        >>> round(unigram_loss(unigram_log_probs(torch.ones(4), smoothing=0), torch.tensor([0, 3, -100])), 4)
        1.3863
    """
    targets = torch.as_tensor(targets).flatten().long()
    targets = targets[targets != IGNORE_INDEX].to(log_probs.device)
    if targets.numel() == 0:
        raise ValueError("targets holds no id other than -100; there is nothing to score")
    if int(targets.min()) < 0 or int(targets.max()) >= log_probs.numel():
        raise ValueError(f"targets must lie in [0, V={log_probs.numel()}) apart from -100")
    return float(-log_probs.double()[targets].mean())


def _t_quantile(p: float, df: int) -> float:
    """Quantile of Student's t with `df` degrees of freedom (scipy; never the normal approximation,
    which is far too narrow for a handful of seeds: 1.96 instead of 4.30 for three)."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def mean_ci(values: Sequence[float] | torch.Tensor, confidence: float = 0.95) -> tuple[float, float]:
    """Mean and confidence half-width, ``t_{(1+c)/2, n-1} · s / √n``.

    Uses Student's t quantile (scipy), so small n gets the wide interval it deserves.

    Args:
        values: at least two numbers (e.g. one accuracy per seed or per episode).
        confidence: the confidence level, in (0, 1).

    Returns:
        ``(mean, half_width)``, so the interval is ``mean ± half_width``.

    Example:
        >>> mean, half = mean_ci([1, 2, 3, 4, 5])
        >>> mean, round(half, 3)
        (3.0, 1.963)
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} is not allowed; it must lie in (0, 1)")
    data = [float(v) for v in (values.flatten().tolist() if isinstance(values, torch.Tensor) else values)]
    n = len(data)
    if n < 2:
        raise ValueError(f"values has {n} element(s); a confidence interval needs at least 2")
    mean = math.fsum(data) / n
    std = statistics.stdev(data)  # sample standard deviation (n - 1)
    return mean, _t_quantile((1.0 + confidence) / 2.0, n - 1) * std / math.sqrt(n)


def paired_ci(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of the differences a_i − b_i, for two methods scored on the same items.

    When two models are measured on the same test episodes, the episode-to-episode variation
    (easy and hard episodes) is shared; the difference on each episode removes it, so this
    interval is usually much narrower than the two separate intervals suggest. It is the
    t-interval of `mean_ci` over the differences.

    Example:
        >>> mean, half = paired_ci([0.5, 0.7, 0.9], [0.4, 0.6, 0.7])
        >>> round(mean, 3), half > 0
        (0.133, True)
    """
    a, b = list(a), list(b)
    if len(a) != len(b):
        raise ValueError(f"paired values need the same items: a has {len(a)} values, b has {len(b)}")
    return mean_ci([x - y for x, y in zip(a, b)], confidence)


def seed_ci(per_seed: Sequence[Sequence[float]], baseline: Sequence[Sequence[float]] | None = None,
            confidence: float = 0.95) -> tuple[float, float, list[float]]:
    """Mean over training seeds, with an interval that covers both seed and test-episode variance.

    Seed s of a study is tested on its own block of episodes, and a baseline (when given) on the
    same block: ``per_seed[s]`` and ``baseline[s]`` are the per-episode values. Each seed gives one
    number (its mean over episodes, minus the baseline's mean over the same episodes: a paired
    difference). The seeds' numbers are independent draws of "train with a new seed, test on new
    episodes", so the t-interval over them (S − 1 degrees of freedom) accounts for both sources of
    variance. With 3 seeds it is wide (t = 4.30): that is what 3 seeds can tell.

    Returns:
        ``(mean, half_width, per_seed_values)``.

    Example:
        >>> mean, half, values = seed_ci([[0.6, 0.8], [0.7, 0.7], [0.8, 0.9]], [[0.5, 0.7], [0.6, 0.6], [0.7, 0.7]])
        >>> round(mean, 3), [round(v, 2) for v in values]
        (0.117, [0.1, 0.1, 0.15])
    """
    if baseline is not None and [len(b) for b in baseline] != [len(a) for a in per_seed]:
        raise ValueError("baseline must have the same seeds and episodes as per_seed (paired values)")
    values = [math.fsum(a) / len(a) - (0.0 if baseline is None else math.fsum(b) / len(b))
              for a, b in zip(per_seed, baseline if baseline is not None else per_seed)]
    mean, half = mean_ci(values, confidence)
    return mean, half, values


def format_ci(mean: float, half: float, digits: int = 3) -> str:
    """Format ``mean ± half`` with a fixed number of decimals, e.g. ``"0.612 ± 0.021"``.

    Example:
        >>> format_ci(0.61234, 0.0209)
        '0.612 ± 0.021'
    """
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


@torch.no_grad()
def model_attention_stats(model: Any, tokenizer: Any, texts: Sequence[str], max_len: int = 64,
                          batch_size: int = 32, punctuation: str | None = ".,") -> dict[str, torch.Tensor]:
    """`attention_pattern_stats` of a model over held-out texts, averaged over all of them.

    Args:
        model: a `metalearn_edu.model.BertEncoder` (anything whose forward takes
            ``return_attention=True`` and returns ``.attentions``).
        tokenizer: the model's tokenizer.
        texts: e.g. held-out sentences.
        max_len: texts are truncated to this many tokens.
        punctuation: the characters whose tokens count as punctuation (`punctuation_ids`);
            ``"，。"`` for Chinese text.

    Returns:
        Each statistic as an (L, H) tensor, weighted by the number of queries per batch.
    """
    if len(texts) == 0:
        raise ValueError("texts is empty; pass at least one sentence")
    special = {"cls": tokenizer.cls_token_id, "sep": tokenizer.sep_token_id}
    punct = punctuation_ids(tokenizer, punctuation)
    cfg = getattr(model, "cfg", None)
    if cfg is not None:
        max_len = min(max_len, cfg.max_len)  # never longer than the model's position table
    device = next(model.parameters()).device
    total: dict[str, torch.Tensor] = {}
    weight = 0
    with eval_mode(model):
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                            max_length=max_len, return_tensors="pt")
            ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
            out = model(ids, attention_mask=mask, return_attention=True)
            stats = attention_pattern_stats([a.float() for a in out.attentions], ids, mask, special, punct)
            n = int(mask.sum())
            for key, value in stats.items():
                total[key] = total.get(key, 0) + value * n
            weight += n
    return {key: value / weight for key, value in total.items()}
