"""The checks of chapters 5 and 6: a right answer passes, the stub and the library shortcut are
refused as not done, and typical wrong answers fail with a message that says why."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from scipy.stats import t as student_t

from metalearn_edu.episodes import mask_word
from metalearn_edu.exercises import (ExerciseFailed, ExerciseNotDone, check_mask_word, check_proto_head,
                                     check_protonet_loss, check_seed_interval, check_smlmt_task)
from metalearn_edu.meta import prototypes
from helpers import UNDER_MUTMUT, one_percent_off


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# 5.1 ----------------------------------------------------------------------------------------
def proto_head(features, labels, n_way):
    c = torch.stack([features[labels == k].mean(0) for k in range(n_way)])
    return 2 * c, -(c * c).sum(-1)


def test_proto_head(capsys):
    check_proto_head(proto_head)
    assert capsys.readouterr().out.startswith("✓")
    with pytest.raises(ExerciseNotDone):
        check_proto_head(stub)
    if not UNDER_MUTMUT:  # see helpers.UNDER_MUTMUT
        with pytest.raises(ExerciseNotDone):
            check_proto_head(lambda f, y, n: (2 * prototypes(f, y, n), -(prototypes(f, y, n) ** 2).sum(-1)))
    with pytest.raises(ExerciseFailed, match="twice"):
        check_proto_head(lambda f, y, n: (proto_head(f, y, n)[0] / 2, proto_head(f, y, n)[1]))
    with pytest.raises(ExerciseFailed, match="sign"):
        check_proto_head(lambda f, y, n: (proto_head(f, y, n)[0], -proto_head(f, y, n)[1]))
    # class means taken as if labels came in blocks: wrong once labels are shuffled
    blocks = lambda f, y, n: proto_head(f, torch.arange(n).repeat_interleave(len(y) // n), n)  # noqa: E731
    with pytest.raises(ExerciseFailed):
        check_proto_head(blocks)


# 5.2 ----------------------------------------------------------------------------------------
def protonet_loss(s, sy, q, qy, n_way):
    c = torch.stack([s[sy == k].mean(0) for k in range(n_way)])
    return F.cross_entropy(-((q[:, None] - c[None]) ** 2).sum(-1), qy)


def test_protonet_loss(capsys):
    check_protonet_loss(protonet_loss)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone):
        check_protonet_loss(stub)
    with pytest.raises(ExerciseFailed, match="minus"):
        check_protonet_loss(lambda s, sy, q, qy, n: F.cross_entropy(
            ((q[:, None] - torch.stack([s[sy == k].mean(0) for k in range(n)])[None]) ** 2).sum(-1), qy))
    with pytest.raises(ExerciseFailed, match="gradient"):  # prototypes detached: no gradient into the support
        check_protonet_loss(lambda s, sy, q, qy, n: protonet_loss(s.detach(), sy, q, qy, n))
    with pytest.raises(ExerciseFailed, match="scalar"):
        check_protonet_loss(lambda *a: protonet_loss(*a).item())


# 5.3 ----------------------------------------------------------------------------------------
def seed_interval(model, baseline):
    diffs = [sum(a) / len(a) - sum(b) / len(b) for a, b in zip(model, baseline)]
    n = len(diffs)
    mean = sum(diffs) / n
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    return mean, student_t.ppf(0.975, n - 1) * sd / math.sqrt(n)


def test_seed_interval(capsys):
    check_seed_interval(seed_interval)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone):
        check_seed_interval(stub)

    def normal(model, baseline):
        mean, half = seed_interval(model, baseline)
        return mean, half / student_t.ppf(0.975, len(model) - 1) * 1.959964

    with pytest.raises(ExerciseFailed, match="Student's t"):
        check_seed_interval(normal)

    def pooled(model, baseline):  # every episode as if independent
        d = [a - b for ra, rb in zip(model, baseline) for a, b in zip(ra, rb)]
        mean = sum(d) / len(d)
        sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1))
        return mean, student_t.ppf(0.975, len(d) - 1) * sd / math.sqrt(len(d))

    with pytest.raises(ExerciseFailed, match="seed-to-seed"):
        check_seed_interval(pooled)


# 6.1 ----------------------------------------------------------------------------------------
def test_mask_word():
    def mine(sentence, word):
        return re.sub(r"\w+", lambda m: "[MASK]" if m.group().lower() == word else m.group(), sentence)

    check_mask_word(mine)
    with pytest.raises(ExerciseNotDone):
        check_mask_word(stub)
    if not UNDER_MUTMUT:  # see helpers.UNDER_MUTMUT
        with pytest.raises(ExerciseNotDone):
            check_mask_word(mask_word)
    with pytest.raises(ExerciseFailed, match="whole words"):
        check_mask_word(lambda s, w: s.replace(w, "[MASK]"))


# 6.2 ----------------------------------------------------------------------------------------
def smlmt_task(sentences, index, n_way, k_shot, q_query, generator):
    need = k_shot + q_query
    candidates = sorted(index)
    words, texts, labels, used = [], [], [], set()
    for i in torch.randperm(len(candidates), generator=generator).tolist():
        word = candidates[i]
        free = [s for s in index[word] if s not in used]
        if len(free) < need:
            continue
        pick = [free[j] for j in torch.randperm(len(free), generator=generator)[:need].tolist()]
        used.update(pick)
        texts += [mask_word(sentences[s], word) for s in pick]
        labels += [len(words)] * need
        words.append(word)
        if len(words) == n_way:
            return texts, labels, words
    raise ValueError("not enough words with K + Q free sentences")


def test_smlmt_task(capsys):
    check_smlmt_task(smlmt_task)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone):
        check_smlmt_task(stub)

    def no_masking(sentences, index, n_way, k, q, generator):
        texts, labels, words = smlmt_task(sentences, index, n_way, k, q, generator)
        return [t.replace("[MASK]", words[y]) for t, y in zip(texts, labels)], labels, words

    with pytest.raises(ExerciseFailed, match="mask"):
        check_smlmt_task(no_masking)

    def first_words(sentences, index, n_way, k, q, generator):  # not random
        return smlmt_task(sentences, index, n_way, k, q, torch.Generator().manual_seed(0))

    with pytest.raises(ExerciseFailed, match="random"):
        check_smlmt_task(first_words)

    def ignores_usage(sentences, index, n_way, k, q, generator):  # may take 'rare' or reuse a shared sentence
        candidates = sorted(index)
        words = [candidates[i] for i in torch.randperm(len(candidates), generator=generator)[:n_way].tolist()]
        texts, labels = [], []
        for j, w in enumerate(words):
            ids = (index[w] * 3)[: k + q]
            texts += [mask_word(sentences[s], w) for s in ids]
            labels += [j] * (k + q)
        return texts, labels, words

    with pytest.raises(ExerciseFailed):
        check_smlmt_task(ignores_usage)


# 7.1 ----------------------------------------------------------------------------------------
def class_split(labels, n_test, generator):
    classes = sorted(set(labels))
    if not 0 < n_test < len(classes):
        raise ValueError("each side needs a class")
    order = torch.randperm(len(classes), generator=generator).tolist()
    test = [classes[i] for i in order[:n_test]]
    return [c for c in classes if c not in test], test


def test_class_split(capsys):
    from metalearn_edu.episodes import split_classes
    from metalearn_edu.exercises import check_class_split

    check_class_split(class_split)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone):
        check_class_split(stub)
    if not UNDER_MUTMUT:  # see helpers.UNDER_MUTMUT
        with pytest.raises(ExerciseNotDone):
            check_class_split(lambda labels, n, g: split_classes(labels, n, seed=int(torch.randint(9, (), generator=g))))
    with pytest.raises(ExerciseFailed, match="both sides"):
        check_class_split(lambda labels, n, g: (sorted(set(labels)), class_split(labels, n, g)[1]))
    with pytest.raises(ExerciseFailed, match="random"):
        check_class_split(lambda labels, n, g: class_split(labels, n, torch.Generator().manual_seed(0)))
    def unchecked(labels, n_test, generator):  # random, but happily returns an empty side
        classes = sorted(set(labels))
        order = torch.randperm(len(classes), generator=generator).tolist()
        return [classes[i] for i in order[n_test:]], [classes[i] for i in order[:n_test]]

    with pytest.raises(ExerciseFailed, match="ValueError"):
        check_class_split(unchecked)


# 7.2 ----------------------------------------------------------------------------------------
def paired_power(effect, sd, n):
    from scipy.stats import nct, t

    t_c = t.ppf(0.975, n - 1)
    nc = effect * math.sqrt(n) / sd
    return float(nct.sf(t_c, n - 1, nc) + nct.cdf(-t_c, n - 1, nc))


def test_paired_power(capsys):
    from scipy.stats import nct, norm, t

    from metalearn_edu.exercises import check_paired_power

    check_paired_power(paired_power)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone):
        check_paired_power(stub)
    with pytest.raises(ExerciseNotDone):  # leaning on the library's own version
        from metalearn_edu.power import power_of_paired_test
        check_paired_power(power_of_paired_test)

    def one_tailed(effect, sd, n):
        return float(nct.sf(t.ppf(0.975, n - 1), n - 1, effect * math.sqrt(n) / sd))

    def normal(effect, sd, n):
        z = effect * math.sqrt(n) / sd
        return float(norm.sf(1.96 - z) + norm.cdf(-1.96 - z))

    def df_n(effect, sd, n):
        t_c, nc = t.ppf(0.975, n), effect * math.sqrt(n) / sd
        return float(nct.sf(t_c, n, nc) + nct.cdf(-t_c, n, nc))

    for wrong, why in ((one_tailed, "upper tail"), (normal, "normal"), (df_n, "n − 1")):
        with pytest.raises(ExerciseFailed, match=why):
            check_paired_power(wrong)
    with pytest.raises(ExerciseFailed):  # an answer 1% off is refused
        check_paired_power(lambda e, s, n: 1.01 * paired_power(e, s, n))
    with pytest.raises(ExerciseFailed, match="number"):
        check_paired_power(lambda e, s, n: None)


# 8.1, 8.2 -----------------------------------------------------------------------------------
def bio_spans(tags):
    spans, start, kind = [], None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        prefix, t = (tag[0], tag[2:]) if tag != "O" else ("O", None)
        if prefix == "I" and start is not None and t == kind:
            continue
        if start is not None:
            spans.append((start, i, kind))
            start = None
        if prefix in ("B", "I"):
            start, kind = i, t
    return spans


def test_bio_to_spans(capsys):
    from metalearn_edu.exercises import check_bio_to_spans
    from metalearn_edu.ner import bio_to_spans

    check_bio_to_spans(bio_spans)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone):
        check_bio_to_spans(stub)
    if not UNDER_MUTMUT:  # see helpers.UNDER_MUTMUT
        with pytest.raises(ExerciseNotDone):
            check_bio_to_spans(bio_to_spans)
    strict = lambda tags: [s for s in bio_spans(tags) if tags[s[0]].startswith("B-")]  # noqa: E731 - drops O I-X
    with pytest.raises(ExerciseFailed, match="starts a new entity"):
        check_bio_to_spans(strict)
    with pytest.raises(ExerciseFailed, match="exclusive"):
        check_bio_to_spans(lambda tags: [(s, e - 1, t) for s, e, t in bio_spans(tags)])


def f1(gold, pred):
    n_gold = n_pred = n_ok = 0
    for g, p in zip(gold, pred):
        gs, ps = set(bio_spans(g)), set(bio_spans(p))
        n_gold, n_pred, n_ok = n_gold + len(gs), n_pred + len(ps), n_ok + len(gs & ps)
    precision, recall = (n_ok / n_pred if n_pred else 0.0), (n_ok / n_gold if n_gold else 0.0)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def test_span_f1(capsys):
    from metalearn_edu.exercises import check_span_f1

    check_span_f1(f1)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(ExerciseNotDone):
        check_span_f1(stub)

    def macro(gold, pred):  # averages per sentence instead of counting over all of them
        return sum(f1([g], [p]) for g, p in zip(gold, pred)) / len(gold)

    with pytest.raises(ExerciseFailed, match="micro"):
        check_span_f1(macro)

    def overlap(gold, pred):  # half credit for touching spans: not the CoNLL measure
        return 1.0 if f1(gold, pred) > 0 or any("B-PER" in g for g in gold) else 0.0

    with pytest.raises(ExerciseFailed, match="overlapping"):
        check_span_f1(overlap)


# Near misses ---------------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [1.01, 0.99])
def test_every_numeric_check_refuses_an_answer_one_percent_off(factor, capsys):
    from metalearn_edu.exercises import check_paired_power, check_span_f1

    for check, solution in [(check_proto_head, proto_head), (check_protonet_loss, protonet_loss),
                            (check_seed_interval, seed_interval), (check_paired_power, paired_power),
                            (check_span_f1, f1)]:
        check(solution)
        assert "✓" in capsys.readouterr().out
        with pytest.raises(ExerciseFailed):
            check(one_percent_off(solution, factor))
    # the interval's half-width alone 1% off (the mean right): Student's t, not a rounded 4.3
    with pytest.raises(ExerciseFailed):
        check_seed_interval(lambda m, b: (seed_interval(m, b)[0], seed_interval(m, b)[1] * factor))
