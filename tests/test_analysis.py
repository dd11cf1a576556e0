"""Tests for `metalearn_edu.analysis`: attention statistics, unigram baseline, confidence intervals."""

from __future__ import annotations

import math

import pytest
import torch

from metalearn_edu.analysis import (
    attention_pattern_stats,
    count_tokens,
    find_heads,
    format_ci,
    mean_ci,
    paired_ci,
    punctuation_ids,
    seed_ci,
    unigram_log_probs,
    unigram_loss,
)

PAD, CLS, SEP, DOT = 0, 2, 3, 9
SPECIAL = {"cls": CLS, "sep": SEP}


def pattern(kind: str, lengths: list[int], T: int) -> torch.Tensor:
    """A (B, T, T) attention pattern over the first ``lengths[b]`` (real) keys of each row."""
    B = len(lengths)
    a = torch.zeros(B, T, T)
    for b, n in enumerate(lengths):
        for q in range(T):
            if kind == "prev":  # position 0 has no previous token: it attends to itself
                a[b, q, max(q - 1, 0) if q < n else 0] = 1.0
            elif kind == "next":  # the last real token attends to itself
                a[b, q, min(q + 1, n - 1) if q < n else 0] = 1.0
            elif kind == "self":
                a[b, q, min(q, n - 1)] = 1.0
            elif kind == "uniform":
                a[b, q, :n] = 1.0 / n
            elif kind == "cls":
                a[b, q, 0] = 1.0
            elif kind == "sep":
                a[b, q, n - 1] = 1.0
    return a


def make_ids(lengths: list[int], T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """[CLS] 10 11 ... [SEP] [PAD]...; with a '.' (id 9) at position 2 when it is not the last real token."""
    ids = torch.full((len(lengths), T), PAD)
    mask = torch.zeros(len(lengths), T, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.arange(10, 10 + n)
        ids[b, 0], ids[b, n - 1] = CLS, SEP
        if n > 3:
            ids[b, 2] = DOT
        mask[b, :n] = 1
    return ids, mask


def stats_for(heads: list[str], lengths: list[int], T: int = 8, n_layers: int = 1) -> dict[str, torch.Tensor]:
    per_head = torch.stack([pattern(kind, lengths, T) for kind in heads], dim=1)  # (B, H, T, T)
    ids, mask = make_ids(lengths, T)
    return attention_pattern_stats([per_head] * n_layers, ids, mask, SPECIAL, punct_ids=[DOT])


def test_single_sequence_without_padding_known_values():
    n = 6
    stats = stats_for(["prev", "next", "self", "uniform", "cls", "sep"], [n], T=n)
    assert set(stats) == {"cls", "sep", "punct", "self", "prev", "next", "entropy"}
    for value in stats.values():
        assert value.shape == (1, 6) and value.dtype == torch.float32
    prev, nxt, self_, uniform, cls, sep = range(6)
    # the previous-token head: every query t >= 1 puts all weight on t - 1
    assert stats["prev"][0, prev] == 1.0
    assert stats["self"][0, prev] == pytest.approx(1 / n)  # only query 0 attends to itself
    assert stats["entropy"][0, prev] == 0.0
    assert stats["next"][0, nxt] == 1.0 and stats["prev"][0, nxt] == 0.0
    assert stats["self"][0, self_] == 1.0 and stats["prev"][0, self_] == 0.0 and stats["next"][0, self_] == 0.0
    assert stats["entropy"][0, uniform] == pytest.approx(math.log(n))
    assert stats["cls"][0, uniform] == pytest.approx(1 / n) and stats["sep"][0, uniform] == pytest.approx(1 / n)
    assert stats["punct"][0, uniform] == pytest.approx(1 / n)
    assert stats["prev"][0, uniform] == pytest.approx(1 / n)
    assert stats["cls"][0, cls] == 1.0 and stats["sep"][0, cls] == 0.0
    assert stats["sep"][0, sep] == 1.0 and stats["cls"][0, sep] == 0.0


def test_padding_is_excluded():
    lengths, T = [5, 3, 8], 8
    stats = stats_for(["prev", "uniform", "cls"], lengths, T=T)
    assert stats["prev"][0, 0] == 1.0  # queries t >= 1 with a real previous token only
    assert stats["self"][0, 0] == pytest.approx(3 / sum(lengths))  # query 0 of each sequence
    expected_entropy = sum(n * math.log(n) for n in lengths) / sum(lengths)
    assert stats["entropy"][0, 1] == pytest.approx(expected_entropy)
    assert stats["cls"][0, 2] == 1.0
    # padded queries that attend somewhere odd must not change anything
    per_head = torch.stack([pattern(k, lengths, T) for k in ["prev", "uniform", "cls"]], dim=1)
    ids, mask = make_ids(lengths, T)
    noisy = per_head.clone()
    noisy[mask[:, None, :].expand_as(noisy[..., 0]) == 0] = torch.softmax(torch.randn(T), 0)
    again = attention_pattern_stats([noisy], ids, mask, SPECIAL, [DOT])
    for key in stats:
        assert torch.allclose(stats[key], again[key])


def test_without_mask_all_positions_count_and_layers_stack():
    n = 5
    ids, _ = make_ids([n], n)
    layer0 = pattern("prev", [n], n)[:, None]  # (1, 1, n, n)
    layer1 = pattern("uniform", [n], n)[:, None]
    stats = attention_pattern_stats([layer0, layer1], ids, special_ids=SPECIAL)
    assert stats["prev"].shape == (2, 1)
    assert stats["prev"][:, 0].tolist() == pytest.approx([1.0, 1 / n])
    assert stats["entropy"][:, 0].tolist() == pytest.approx([0.0, math.log(n)])
    assert stats["punct"].abs().sum() == 0  # no punct_ids given


def test_special_ids_are_optional():
    n = 4
    ids, mask = make_ids([n], n)
    stats = attention_pattern_stats([pattern("uniform", [n], n)[:, None]], ids, mask)
    assert set(stats) == {"punct", "self", "prev", "next", "entropy"}
    stats = attention_pattern_stats([pattern("uniform", [n], n)[:, None]], ids, mask, {"sep": SEP})
    assert "sep" in stats and "cls" not in stats


def test_matches_a_real_bert_attention_output():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=32, attn_implementation="eager")
    torch.manual_seed(0)
    model = transformers.BertModel(config).eval()
    ids, mask = make_ids([7, 4], 7)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
    stats = attention_pattern_stats(out.attentions, ids, mask, SPECIAL, [DOT])
    for key, value in stats.items():
        assert value.shape == (2, 4) and torch.isfinite(value).all(), key
    # entropy bounded by log(number of real keys); shares of attention lie in [0, 1]
    assert (stats["entropy"] >= 0).all() and (stats["entropy"] <= math.log(7) + 1e-5).all()
    for key in ("cls", "sep", "punct", "self", "prev", "next"):
        assert (stats[key] >= 0).all() and (stats[key] <= 1 + 1e-6).all()
    # the reference value for one head, computed with a loop
    a = out.attentions[1][:, 3]  # (B, T, T)
    values = [a[b, q, q - 1].item() for b, n in enumerate([7, 4]) for q in range(1, n)]
    assert stats["prev"][1, 3].item() == pytest.approx(sum(values) / len(values), rel=1e-5)


def test_shape_errors():
    ids, mask = make_ids([4], 4)
    with pytest.raises(ValueError, match="attentions"):
        attention_pattern_stats([], ids, mask)
    with pytest.raises(ValueError, match=r"attentions\[0\]"):
        attention_pattern_stats([torch.zeros(1, 2, 5, 5)], ids, mask)
    with pytest.raises(ValueError, match="special_ids"):
        attention_pattern_stats([torch.zeros(1, 2, 4, 4)], ids, mask, {"pad": 0})
    with pytest.raises(ValueError, match="no real token"):
        attention_pattern_stats([torch.zeros(1, 2, 4, 4)], ids, torch.zeros_like(mask))


def test_find_heads_orders_by_value():
    stats = {"prev": torch.tensor([[0.1, 0.62, 0.5], [0.95, 0.2, 0.7]]), "next": torch.zeros(2, 3)}
    assert find_heads(stats) == [(1, 0), (1, 2), (0, 1)]  # 0.5 itself is not "above"
    assert find_heads(stats, threshold=0.05) == [(1, 0), (1, 2), (0, 1), (0, 2), (1, 1), (0, 0)]
    assert find_heads(stats, key="next") == []
    with pytest.raises(ValueError, match="key='sep'"):
        find_heads(stats, key="sep")


def test_find_heads_on_computed_stats():
    stats = stats_for(["uniform", "prev", "next"], [6, 6], T=6, n_layers=2)
    assert find_heads(stats, "prev") == [(0, 1), (1, 1)]
    assert find_heads(stats, "next") == [(0, 2), (1, 2)]


def test_punctuation_ids_with_a_wordpiece_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", ".", ",", "!", "...", "##s", "a-b"]
    (tmp_path / "vocab.txt").write_text("\n".join(tokens) + "\n")
    tok = transformers.BertTokenizerFast.from_pretrained(str(tmp_path))
    assert punctuation_ids(tok) == [6, 7, 9]
    assert punctuation_ids(tok, chars=None) == [6, 7, 8, 9]


def test_count_tokens_tensor_and_iterable():
    ids = torch.tensor([[1, 2, 2, -100], [3, 3, 3, -100]])
    assert count_tokens(ids, 5).tolist() == [0, 1, 2, 3, 0]
    batches = [torch.tensor([0, 1]), [1, 4], torch.tensor([[4, 4]])]
    assert count_tokens(batches, 5).tolist() == [1, 2, 0, 0, 3]
    assert count_tokens(batches, 5, ignore_ids=[4]).tolist() == [1, 2, 0, 0, 0]
    with pytest.raises(ValueError, match="vocab_size"):
        count_tokens(torch.tensor([5]), 5)


def test_unigram_loss_matches_hand_computation():
    counts = torch.tensor([3.0, 1.0, 0.0, 4.0])
    log_probs = unigram_log_probs(counts, smoothing=1.0)  # (4, 2, 1, 5) / 12
    assert torch.logsumexp(log_probs, 0).item() == pytest.approx(0.0, abs=1e-6)
    assert log_probs.exp().tolist() == pytest.approx([4 / 12, 2 / 12, 1 / 12, 5 / 12])
    targets = torch.tensor([[0, 3, -100], [-100, 2, 3]])
    expected = -(math.log(4 / 12) + math.log(5 / 12) + math.log(1 / 12) + math.log(5 / 12)) / 4
    assert unigram_loss(log_probs, targets) == pytest.approx(expected, rel=1e-6)
    unsmoothed = unigram_log_probs(counts, smoothing=0.0)
    assert unsmoothed[2] == float("-inf")
    assert unigram_loss(unsmoothed, torch.tensor([0, 1])) == pytest.approx(-(math.log(3 / 8) + math.log(1 / 8)) / 2)


def test_unigram_loss_uniform_counts_is_log_vocab():
    V = 1000
    log_probs = unigram_log_probs(torch.full((V,), 7), smoothing=0.5)
    targets = torch.randint(0, V, (64, 32), generator=torch.Generator().manual_seed(0))
    assert unigram_loss(log_probs, targets) == pytest.approx(math.log(V), rel=1e-6)


def test_unigram_errors():
    with pytest.raises(ValueError, match="smoothing"):
        unigram_log_probs(torch.ones(3), smoothing=-1)
    with pytest.raises(ValueError, match="smoothing"):
        unigram_log_probs(torch.zeros(3), smoothing=0)
    with pytest.raises(ValueError, match="-100"):
        unigram_loss(unigram_log_probs(torch.ones(3)), torch.tensor([-100, -100]))


def test_mean_ci_known_values_and_scipy():
    mean, half = mean_ci([1, 2, 3, 4, 5])
    assert mean == 3.0
    assert half == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-5)
    stats = pytest.importorskip("scipy.stats")
    values = [0.61, 0.64, 0.58, 0.66, 0.6, 0.63, 0.59]
    for confidence in (0.9, 0.95, 0.99):
        low, high = stats.t.interval(confidence, len(values) - 1, loc=stats.tmean(values), scale=stats.sem(values))
        mean, half = mean_ci(torch.tensor(values), confidence)
        assert mean == pytest.approx((low + high) / 2) and half == pytest.approx((high - low) / 2)


def test_mean_ci_uses_the_t_quantile_for_three_seeds():
    # three seeds: t_{0.975, 2} = 4.303, not the normal 1.96 that would make the interval 2.2x too narrow
    mean, half = mean_ci([0.1, 0.2, 0.3])
    assert mean == pytest.approx(0.2) and half == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-5)


def test_mean_ci_errors_and_format():
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci([1.0])
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1.0, 2.0], confidence=1.0)
    assert mean_ci([2.0, 2.0]) == (2.0, 0.0)
    assert format_ci(0.61234, 0.0209) == "0.612 ± 0.021"
    assert format_ci(12.3456, 0.5, digits=1) == "12.3 ± 0.5"


# ---------------------------------------------------------------------------------------
# Intervals pinned against an independent computation (numpy and scipy's t.interval), with
# unequal values and unequal numbers of episodes, so that a wrong mean, a wrong degrees of
# freedom or a normal quantile cannot pass.
def _t_interval_half(values, confidence=0.95):
    np = pytest.importorskip("numpy")
    stats = pytest.importorskip("scipy.stats")
    values = np.asarray(values, dtype=float)
    low, high = stats.t.interval(confidence, len(values) - 1, loc=values.mean(),
                                 scale=values.std(ddof=1) / math.sqrt(len(values)))
    return (low + high) / 2, (high - low) / 2


def test_paired_ci_half_width_against_scipy():
    a, b = [0.71, 0.64, 0.80, 0.58, 0.69], [0.60, 0.61, 0.70, 0.49, 0.66]
    mean, half = paired_ci(a, b, confidence=0.9)
    want_mean, want_half = _t_interval_half([x - y for x, y in zip(a, b)], 0.9)
    assert mean == pytest.approx(want_mean, rel=1e-12) and half == pytest.approx(want_half, rel=1e-9)
    assert paired_ci(b, a) == pytest.approx((-paired_ci(a, b)[0], paired_ci(a, b)[1]))  # a - b, not b - a
    with pytest.raises(ValueError, match="same items"):
        paired_ci([1.0, 2.0, 3.0], [1.0, 2.0])


def test_seed_ci_means_each_seed_over_its_own_episodes():
    # three seeds with 2, 3 and 4 episodes: each seed's number is the mean over its own episodes
    per_seed = [[0.6, 0.9], [0.5, 0.7, 0.6], [0.8, 0.8, 0.9, 0.7]]
    baseline = [[0.5, 0.6], [0.5, 0.5, 0.5], [0.6, 0.7, 0.7, 0.6]]
    mean, half, values = seed_ci(per_seed, baseline)
    want = [sum(a) / len(a) - sum(b) / len(b) for a, b in zip(per_seed, baseline)]
    assert values == pytest.approx(want, rel=1e-12)
    want_mean, want_half = _t_interval_half(want)  # 2 degrees of freedom: t = 4.30
    assert mean == pytest.approx(want_mean, rel=1e-12) and half == pytest.approx(want_half, rel=1e-9)
    mean, half, values = seed_ci(per_seed, confidence=0.8)
    assert values == pytest.approx([0.75, 0.6, 0.8], rel=1e-12)
    assert (mean, half) == pytest.approx(_t_interval_half([0.75, 0.6, 0.8], 0.8), rel=1e-9)
    with pytest.raises(ValueError, match="same seeds and episodes"):
        seed_ci(per_seed, [[0.5, 0.6], [0.5, 0.5, 0.5], [0.6, 0.7, 0.7]])


def test_mean_ci_confidence_bounds_and_tensor_shapes():
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1.0, 2.0], confidence=0.0)
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1.0, 2.0], confidence=-0.5)
    assert mean_ci([1.0, 2.0], confidence=1e-9)[1] == pytest.approx(0.0, abs=1e-6)  # just inside (0, 1)
    grid = torch.tensor([[0.2, 0.5, 0.9], [0.4, 0.1, 0.7]])  # any shape: every element is one value
    assert mean_ci(grid) == pytest.approx(_t_interval_half(grid.flatten().tolist()), rel=1e-6)


def test_format_ci_rounds_both_numbers_to_the_digits():
    assert format_ci(0.61234, 0.0209) == "0.612 ± 0.021"
    assert format_ci(0.6, 0.25, digits=2) == "0.60 ± 0.25"


def test_count_tokens_vocabulary_checks_and_dtype():
    assert count_tokens(torch.tensor([0, 0, -100]), 1).tolist() == [2]  # V = 1 is a vocabulary
    assert count_tokens(torch.tensor([1, 1, 0]), 2).dtype == torch.long
    assert count_tokens(torch.tensor(3), 5).tolist() == [0, 0, 0, 1, 0]  # a 0-d tensor is one id
    for bad in (0, -3, 2.0, "5"):
        with pytest.raises(ValueError, match="vocab_size"):
            count_tokens(torch.tensor([0]), bad)


def test_unigram_log_probs_defaults_dtype_and_small_totals():
    log_probs = unigram_log_probs(torch.tensor([0, 2]))  # Laplace by default: (1, 3) / 4
    assert log_probs.dtype == torch.float32
    assert log_probs.exp().tolist() == pytest.approx([0.25, 0.75])
    # a total below 1 is fine: only a zero total is refused
    assert unigram_log_probs(torch.zeros(2), smoothing=0.25).exp().tolist() == pytest.approx([0.5, 0.5])
    # float64 inside: next to an unseen id, a token seen 2^24 times has a probability below 1
    # (float32 arithmetic would round 2^24 + 1 to 2^24 and give it log p = 0 exactly)
    assert unigram_log_probs(torch.tensor([2 ** 24, 0]))[0].item() == pytest.approx(-1 / (2 ** 24 + 2), rel=1e-3)
    with pytest.raises(ValueError, match="non-negative"):
        unigram_log_probs(torch.tensor([1.0, -1.0]))


def test_unigram_loss_refuses_every_id_outside_the_vocabulary():
    log_probs = unigram_log_probs(torch.ones(4))
    for bad in ([0, -5], [0, 4], [-5, 4], [7]):
        with pytest.raises(ValueError, match="targets must lie"):
            unigram_loss(log_probs, torch.tensor(bad))
    assert unigram_loss(log_probs, torch.tensor([3, -100])) == pytest.approx(math.log(4))


def test_find_heads_breaks_ties_by_layer_then_head():
    stats = {"prev": torch.tensor([[0.1, 0.7, 0.7], [0.7, 0.9, 0.1]])}
    assert find_heads(stats) == [(1, 1), (0, 1), (0, 2), (1, 0)]


def test_punctuation_ids_default_chars_and_exact_sets():
    class Vocab:
        tokens = ["[CLS]", ".", ",", ".,", "!", "a.", "", ",,", "X"]

        def __len__(self):
            return len(self.tokens)

        def convert_ids_to_tokens(self, ids):
            return [self.tokens[i] for i in ids]

    assert punctuation_ids(Vocab()) == [1, 2, 3, 7]
    assert punctuation_ids(Vocab(), chars=".") == [1]  # a token made of exactly the allowed set counts
    assert punctuation_ids(Vocab(), chars=None) == [1, 2, 3, 4, 7]


def test_a_statistic_with_a_single_query_is_that_query_and_none_is_nan():
    # one sequence of two tokens: the previous-token statistic has exactly one query (position 1)
    a = torch.tensor([[[[1.0, 0.0], [0.3, 0.7]]]])  # (B=1, H=1, T=2, T=2)
    ids = torch.tensor([[CLS, SEP]])
    stats = attention_pattern_stats([a], ids, torch.ones_like(ids))
    assert stats["prev"].item() == pytest.approx(0.3) and stats["next"].item() == pytest.approx(0.0)
    one = attention_pattern_stats([torch.ones(2, 3, 1, 1)], torch.tensor([[CLS], [CLS]]))
    assert one["prev"].shape == (1, 3) and torch.isnan(one["prev"]).all() and torch.isnan(one["next"]).all()
    assert one["self"].tolist() == [[1.0, 1.0, 1.0]]


def test_left_padding_counts_only_real_previous_tokens():
    # [PAD] [CLS] w [SEP]: query 1 has a padding "previous" token and must not count
    ids, mask = torch.tensor([[PAD, CLS, 10, SEP]]), torch.tensor([[0, 1, 1, 1]])
    a = torch.zeros(1, 1, 4, 4)
    a[0, 0, 1, 1] = 1.0
    a[0, 0, 2, 1] = a[0, 0, 3, 2] = 1.0  # queries 2 and 3 attend to their previous token
    a[0, 0, 0, 0] = 1.0
    stats = attention_pattern_stats([a], ids, mask)
    assert stats["prev"].item() == pytest.approx(1.0)  # queries 2 and 3 only
    assert stats["self"].item() == pytest.approx(1 / 3)


def test_shape_errors_name_batch_and_heads():
    ids, mask = make_ids([4, 4], 4)
    with pytest.raises(ValueError, match=r"attentions\[0\]"):
        attention_pattern_stats([torch.zeros(3, 2, 4, 4)], ids, mask)  # batch 3 for 2 sequences
    with pytest.raises(ValueError, match="heads"):
        attention_pattern_stats([torch.zeros(2, 2, 4, 4), torch.zeros(2, 3, 4, 4)], ids, mask)
    with pytest.raises(ValueError, match="input_ids"):
        attention_pattern_stats([torch.zeros(2, 2, 4, 4)], ids[0], mask)
    with pytest.raises(ValueError, match="attention_mask"):
        attention_pattern_stats([torch.zeros(2, 2, 4, 4)], ids, mask[:, :3])
