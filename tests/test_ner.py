"""Token-level primitives: BIO spans, entity-level F1, label alignment, Few-NERD-style episodes."""

import pytest
import torch

from metalearn_edu.data.chinese import load_chinese_tokenizer, peoples_daily_sentences
from metalearn_edu.ner import (
    IGNORE_INDEX,
    NEREpisodes,
    align_labels,
    bio_to_spans,
    span_f1,
    tag_sequences,
)


@pytest.fixture(scope="module")
def tok():
    return load_chinese_tokenizer()


@pytest.fixture(scope="module")
def val_sentences():
    return peoples_daily_sentences("val")


# ---------------------------------------------------------------------------------------
# bio_to_spans
# ---------------------------------------------------------------------------------------
def test_bio_to_spans_well_formed():
    assert bio_to_spans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]) == [
        (0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC")]
    assert bio_to_spans(["O", "O"]) == []
    assert bio_to_spans([]) == []
    assert bio_to_spans(("B-ORG",)) == [(0, 1, "ORG")]


def test_bio_to_spans_ill_formed_follows_seqeval_default():
    assert bio_to_spans(["I-PER", "I-PER", "O"]) == [(0, 2, "PER")]  # I at the start begins an entity
    assert bio_to_spans(["O", "I-LOC"]) == [(1, 2, "LOC")]  # I after O begins an entity
    assert bio_to_spans(["B-PER", "I-LOC", "I-LOC"]) == [(0, 1, "PER"), (1, 3, "LOC")]  # type change
    with pytest.raises(ValueError, match=r"'E-PER' at position 1"):
        bio_to_spans(["O", "E-PER"])
    with pytest.raises(ValueError, match="not BIO"):
        bio_to_spans(["B-"])


# ---------------------------------------------------------------------------------------
# span_f1
# ---------------------------------------------------------------------------------------
def test_span_f1_exact_match():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    assert span_f1(gold, gold) == {"precision": 1.0, "recall": 1.0, "f1": 1.0,
                                   "n_gold": 3, "n_pred": 3, "n_correct": 3}


def test_span_f1_wrong_type_partial_overlap_extra_and_missed():
    gold = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "O", "O"]]
    wrong_type = [["B-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "O", "O"]]
    r = span_f1(gold, wrong_type)
    assert (r["n_correct"], r["n_pred"], r["n_gold"]) == (1, 2, 2) and r["f1"] == 0.5
    partial = [["B-PER", "I-PER", "O", "O", "B-LOC", "O", "O"]]  # PER cut short: wrong, not half right
    r = span_f1(gold, partial)
    assert (r["n_correct"], r["precision"], r["recall"]) == (1, 0.5, 0.5)
    longer = [["B-PER", "I-PER", "I-PER", "I-PER", "B-LOC", "O", "O"]]  # PER overlapping but one too long
    r = span_f1(gold, longer)
    assert (r["n_correct"], r["n_pred"]) == (1, 2)  # only LOC is right
    extra = [["B-PER", "I-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"]]
    r = span_f1(gold, extra)
    assert (r["precision"], r["recall"]) == (2 / 3, 1.0) and r["f1"] == pytest.approx(0.8)
    missed = [["B-PER", "I-PER", "I-PER", "O", "O", "O", "O"]]
    r = span_f1(gold, missed)
    assert (r["precision"], r["recall"]) == (1.0, 0.5) and r["f1"] == pytest.approx(2 / 3)


def test_span_f1_counts_per_sentence_and_per_type():
    gold = [["B-PER", "O"], ["O", "B-PER"]]
    shifted = [["O", "B-PER"], ["B-PER", "O"]]  # right types, wrong sentences' positions
    assert span_f1(gold, shifted)["n_correct"] == 0
    r = span_f1([["B-PER", "B-LOC"]], [["B-PER", "B-ORG"]], per_type=True)
    assert r["per_type"]["PER"]["f1"] == 1.0
    assert r["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "n_gold": 1, "n_pred": 0,
                                    "n_correct": 0}
    assert r["per_type"]["ORG"]["precision"] == 0.0 and r["per_type"]["ORG"]["recall"] == 0.0


def test_span_f1_empty_cases():
    perfect = {"precision": 1.0, "recall": 1.0, "f1": 1.0, "n_gold": 0, "n_pred": 0, "n_correct": 0}
    assert span_f1([], []) == perfect
    assert span_f1([[]], [[]]) == perfect
    assert span_f1([["O", "O"]], [["O", "O"]]) == perfect
    nothing_found = span_f1([["B-PER", "O"]], [["O", "O"]])
    assert (nothing_found["precision"], nothing_found["recall"], nothing_found["f1"]) == (0.0, 0.0, 0.0)
    nothing_there = span_f1([["O", "O"]], [["B-PER", "O"]])
    assert (nothing_there["precision"], nothing_there["recall"], nothing_there["f1"]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        span_f1([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="2 gold sentences but 1"):
        span_f1([["O"], ["O"]], [["O"]])
    with pytest.raises(TypeError):
        span_f1(["B-PER"], ["B-PER"])


def test_tag_sequences_drops_ignored_positions():
    y = torch.tensor([[IGNORE_INDEX, 1, 2, 0, IGNORE_INDEX], [IGNORE_INDEX, 0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    p = torch.tensor([[4, 1, 0, 0, 3], [0, 1, 0, 0, 0]])
    gold, pred = tag_sequences(y, p, ["O", "B-PER", "I-PER"])
    assert gold == [["B-PER", "I-PER", "O"], ["O"]]
    assert pred == [["B-PER", "O", "O"], ["B-PER"]]
    assert span_f1(gold, pred)["n_correct"] == 0


# ---------------------------------------------------------------------------------------
# align_labels
# ---------------------------------------------------------------------------------------
def test_align_labels_hand_made(tok):
    text = "李鹏在windows上"  # 李 鹏 在 windows 上: one token covers seven characters
    tags = ["B-PER", "I-PER", "O"] + ["B-ORG"] + ["I-ORG"] * 6 + ["O"]
    label_map = {"O": 0, "B-PER": 1, "I-PER": 2, "B-ORG": 3, "I-ORG": 4}
    ids, labels = align_labels(tok, text, tags, max_len=16, label_map=label_map)
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "李", "鹏", "在", "windows", "上", "[SEP]"]
    assert labels == [IGNORE_INDEX, 1, 2, 0, 3, 0, IGNORE_INDEX]
    # a token takes its first character's tag: "windows" starting on an O character is O
    _, labels = align_labels(tok, text, ["O"] * 4 + ["B-ORG"] + ["I-ORG"] * 5 + ["O"], 16, label_map)
    assert labels[4] == 0
    # truncation to max_len tokens, specials included
    ids, labels = align_labels(tok, text, [label_map[t] for t in tags], max_len=4)
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "李", "鹏", "[SEP]"] and labels == [IGNORE_INDEX, 1, 2, IGNORE_INDEX]


def test_align_labels_wordpieces_and_errors(tok):
    text = "xyzzyq"
    ids, labels = align_labels(tok, text, [1] + [2] * 5, max_len=16)
    pieces = tok.convert_ids_to_tokens(ids)[1:-1]
    assert len(pieces) > 1 and pieces[1].startswith("##")
    assert labels[1:-1] == [1] + [2] * (len(pieces) - 1)  # every piece labelled, the first one B
    with pytest.raises(ValueError, match="one tag per character"):
        align_labels(tok, "李鹏", [0], max_len=8)
    with pytest.raises(ValueError, match="label_map"):
        align_labels(tok, "李鹏", ["B-PER", "I-PER"], max_len=8)
    with pytest.raises(ValueError, match=r"\['B-LOC'\] are not in label_map"):
        align_labels(tok, "李鹏", ["B-LOC", "I-LOC"][:1] + ["O"], max_len=8, label_map={"O": 0})
    with pytest.raises(ValueError, match="max_len=2"):
        align_labels(tok, "李鹏", [0, 0], max_len=2)


# ---------------------------------------------------------------------------------------
# NEREpisodes
# ---------------------------------------------------------------------------------------
def _mention_counts(y: torch.Tensor, classes: list[str]) -> dict[str, int]:
    gold, _ = tag_sequences(y, y, classes)
    counts: dict[str, int] = {}
    for tags in gold:
        for _, _, t in bio_to_spans(tags):
            counts[t] = counts.get(t, 0) + 1
    return counts


def test_episode_counts_disjointness_and_layout(tok, val_sentences):
    k, q = 3, 4
    sampler = NEREpisodes(val_sentences, tok, n_way=2, k_shot=k, q_query=q, max_len=64, seed=0)
    assert sampler.types == ["LOC", "ORG", "PER"]
    orders = set()
    for index in range(6):
        ep = sampler.episode(index)
        types = ep.info["types"]
        assert len(types) == 2 and len(set(types)) == 2
        assert ep.classes == ["O", f"B-{types[0]}", f"I-{types[0]}", f"B-{types[1]}", f"I-{types[1]}"]
        orders.add(tuple(types))
        s_counts, q_counts = _mention_counts(ep.support_y, ep.classes), _mention_counts(ep.query_y, ep.classes)
        assert s_counts == ep.info["support_counts"] and q_counts == ep.info["query_counts"]
        assert all(k <= s_counts[t] <= 2 * k for t in types), s_counts
        assert all(q <= q_counts[t] <= 2 * q for t in types), q_counts
        assert not set(ep.info["support_ids"]) & set(ep.info["query_ids"])
        for x, y, mask, ids in ((ep.support_x, ep.support_y, ep.support_mask, ep.info["support_ids"]),
                                (ep.query_x, ep.query_y, ep.query_mask, ep.info["query_ids"])):
            assert x.shape == y.shape == mask.shape and x.shape[0] == len(ids) and x.shape[1] <= 64
            assert y.dtype == torch.int64 and x.dtype == torch.int64
            assert bool((y[mask == 0] == IGNORE_INDEX).all()) and bool((x[mask == 0] == 0).all())
            assert bool((y[:, 0] == IGNORE_INDEX).all()) and bool((x[:, 0] == 2).all())  # [CLS]
            assert int(y.max()) <= 4 and int(y[y != IGNORE_INDEX].min()) >= 0
    assert len(orders) > 1  # the label order changes between episodes


def test_episode_label_remapping_matches_align_labels(tok, val_sentences):
    sampler = NEREpisodes(val_sentences, tok, n_way=1, k_shot=2, q_query=2, max_len=48, seed=3)
    ep = sampler.episode(5)
    (kind,) = ep.info["types"]
    label_map = {"O": 0, f"B-{kind}": 1, f"I-{kind}": 2}
    for row, i in enumerate(ep.info["support_ids"]):
        s = val_sentences[i]
        assert s.text == ep.info["support_texts"][row]
        tags = [t if t[2:] == kind else "O" for t in s.tags]  # the other types become O
        ids, labels = align_labels(tok, s.text, tags, max_len=48, label_map=label_map)
        n = len(ids)
        assert ep.support_x[row, :n].tolist() == ids and ep.support_y[row, :n].tolist() == labels
        assert int(ep.support_mask[row].sum()) == n


def test_episodes_are_replayable(tok, val_sentences):
    a = NEREpisodes(val_sentences, tok, 3, 2, 2, max_len=32, seed=7)
    b = NEREpisodes(val_sentences, tok, 3, 2, 2, max_len=32, seed=7)
    b.episode(0)  # b has seen other episodes first
    for index in (2, 9):
        ea, eb = a.episode(index), b.episode(index)
        for name in ("support_x", "support_y", "support_mask", "query_x", "query_y", "query_mask"):
            assert torch.equal(getattr(ea, name), getattr(eb, name)), name
        assert ea.classes == eb.classes and ea.info == eb.info
    assert a.episode(2).info["support_ids"] != a.episode(3).info["support_ids"]
    other_seed = NEREpisodes(val_sentences, tok, 3, 2, 2, max_len=32, seed=8)
    assert other_seed.episode(2).info["support_ids"] != a.episode(2).info["support_ids"]


def test_pairs_are_accepted_and_other_types_become_o(tok):
    sentences = [("李鹏在北京", ("B-PER", "I-PER", "O", "B-LOC", "I-LOC")),
                 ("江泽民在上海", ("B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC")),
                 ("朱镕基说", ("B-PER", "I-PER", "I-PER", "O")),
                 ("乔石说", ("B-PER", "I-PER", "O"))]
    sampler = NEREpisodes(sentences, tok, n_way=1, k_shot=1, q_query=1, types=["PER"])
    ep = sampler.episode(0)
    assert ep.classes == ["O", "B-PER", "I-PER"]
    assert ep.info["support_counts"] == {"PER": 1} and ep.info["query_counts"] == {"PER": 1}
    assert set(ep.support_y.flatten().tolist()) <= {IGNORE_INDEX, 0, 1, 2}


def test_impossible_requests_raise_clear_errors(tok, val_sentences):
    with pytest.raises(ValueError, match=r"n_way=4 but the sentences have only 3 entity types"):
        NEREpisodes(val_sentences, tok, n_way=4, k_shot=1, q_query=1)
    with pytest.raises(ValueError, match=r"type 'ORG' has only 336 mentions"):
        NEREpisodes(val_sentences, tok, n_way=2, k_shot=200, q_query=200)
    with pytest.raises(ValueError, match=r"types \['MISC'\] have no mentions"):
        NEREpisodes(val_sentences, tok, 1, 1, 1, types=["MISC"])
    with pytest.raises(ValueError, match="n_way=0"):
        NEREpisodes(val_sentences, tok, 0, 1, 1)
    # every sentence has three PER mentions: with K = 1 (at most 2K = 2) none can be added
    crowded = [("李鹏乔石朱德", ("B-PER", "I-PER", "B-PER", "I-PER", "B-PER", "I-PER"))] * 4
    sampler = NEREpisodes(crowded, tok, n_way=1, k_shot=1, q_query=1)
    with pytest.raises(ValueError, match=r"episode 0: the support set reached only 0 mentions of type 'PER' "
                                         r"\(needs K = 1, at most 2K = 2"):
        sampler.episode(0)
    with pytest.raises(TypeError, match="sentences\\[0\\]"):
        NEREpisodes(["just text"], tok, 1, 1, 1)
