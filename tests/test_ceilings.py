"""Full-data ceilings: the probe, TF-IDF, the pooled features, the study tables and the plot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metalearn_edu import studies, viz
from metalearn_edu.ceilings import (balanced_accuracy, cross_validated, paired_bootstrap, pooled_features, probe_accuracy,
                                    tfidf_accuracy)
from metalearn_edu.meta.losses import EncoderFeatures

pytest.importorskip("sklearn.linear_model")  # imported once at collection (~2 s), not inside the first test


def blobs(seed: int, n: int, shift: float = 2.0, d: int = 8, n_way: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """n points per class; class c is a Gaussian shifted by `shift` along axis c."""
    g = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_way), n)
    x = g.normal(size=(len(y), d))
    x[np.arange(len(y)), y] += shift
    return x, y


def test_probe_finds_a_linear_signal_and_reports_its_choice():
    result = probe_accuracy(blobs(0, 60), blobs(1, 20), blobs(2, 40))
    assert result["accuracy"] > 1 / 3 + 0.4 and result["balanced_accuracy"] > 1 / 3 + 0.4
    assert result["c"] in (0.01, 0.1, 1.0, 10.0, 100.0) and set(result["val"]) == {"0.01", "0.1", "1.0", "10.0", "100.0"}
    assert (result["n_train"], result["n_val"], result["n_test"]) == (180, 60, 120)
    assert 0 < result["balanced_accuracy_ci"] < 0.15


def test_probe_stays_near_chance_without_signal():
    g = np.random.default_rng(3)
    noise = [(g.normal(size=(n, 8)), g.integers(0, 2, n)) for n in (200, 100, 400)]
    result = probe_accuracy(*noise)
    assert abs(result["balanced_accuracy"] - 0.5) < 0.1


def test_balanced_accuracy_is_chance_for_the_majority_guess():
    y = [0] * 9 + [1]
    assert balanced_accuracy(y, [0] * 10) == 0.5
    # plain accuracy of the same guess is 0.9: the reason the ceiling is reported as balanced accuracy
    assert probe_accuracy((np.eye(2)[[0, 1] * 5], [0, 1] * 5), (np.eye(2)[[0, 1]], [0, 1]),
                          (np.eye(2)[[0] * 9 + [1]], y))["majority"] == 0.9


@pytest.mark.parametrize("kwargs, name", [({"cs": []}, "cs"), ({"cs": [0.1, -1]}, "cs"),
                                          ({"select_by": "f1"}, "select_by")])
def test_probe_rejects_bad_arguments_by_name(kwargs, name):
    with pytest.raises(ValueError, match=name):
        probe_accuracy(blobs(0, 5), blobs(1, 5), blobs(2, 5), **kwargs)


def test_probe_names_a_malformed_split():
    x, y = blobs(1, 5)
    with pytest.raises(ValueError, match="val"):
        probe_accuracy(blobs(0, 5), (x, y[:-1]), blobs(2, 5))
    with pytest.raises(ValueError, match="train has a single class"):
        probe_accuracy((x, np.zeros_like(y)), blobs(1, 5), blobs(2, 5))


def test_tfidf_reads_words_and_characters():
    pos, neg = ["a good film", "good and fun", "really good"], ["a bad film", "bad and dull", "really bad"]
    split = (pos + neg, [1, 1, 1, 0, 0, 0])
    assert tfidf_accuracy(split, split, (["good fun", "dull bad"], [1, 0]))["accuracy"] == 1.0
    zh = (["很好用", "非常好", "好看", "很差劲", "非常差", "差评"], [1, 1, 1, 0, 0, 0])
    result = tfidf_accuracy(zh, zh, (["真好", "太差"], [1, 0]), analyzer="char")
    assert result["accuracy"] == 1.0 and result["analyzer"] == "char"
    with pytest.raises(ValueError, match="analyzer"):
        tfidf_accuracy(split, split, split, analyzer="bigram")


class WordTokenizer:
    """A minimal tokenizer: [CLS]=1, words hashed to 3..59, [SEP]=2, [PAD]=0."""

    pad_token_id = 0

    def __call__(self, texts, truncation=True, max_length=16):
        rows = [[1] + [3 + sum(map(ord, w)) % 57 for w in t.split()][:max_length - 2] + [2] for t in texts]
        return {"input_ids": rows}


def test_pooled_features_match_one_text_at_a_time(tiny_encoder):
    model = tiny_encoder(0)
    texts = ["one", "two words here and more", "three words", "a b c d e f g h i j k l m n o p q", "x y"]
    batched = pooled_features(model, WordTokenizer(), texts, max_len=16, batch_size=2)
    assert batched.shape == (5, model.cfg.d_model)
    features = EncoderFeatures(model, "mean")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for i, row in enumerate(WordTokenizer()(texts)["input_ids"]):
            alone = features(params, torch.tensor([row]), torch.ones(1, len(row), dtype=torch.long))[0]
            assert torch.allclose(batched[i], alone, atol=1e-5), i  # padding and the length sort change nothing


@pytest.mark.parametrize("kwargs, name", [({"batch_size": 0}, "batch_size"), ({"max_len": 2}, "max_len"),
                                          ({"texts": []}, "texts")])
def test_pooled_features_reject_bad_arguments_by_name(tiny_encoder, kwargs, name):
    args = {"texts": ["a b"], **kwargs}
    with pytest.raises(ValueError, match=name):
        pooled_features(tiny_encoder(0), WordTokenizer(), **args)


def made_up_ceilings() -> dict:
    def row(bal, acc=None):
        return {"balanced_accuracy": bal, "balanced_accuracy_ci": 0.02, "accuracy": acc or bal, "accuracy_ci": 0.02,
                "c": 1.0, "majority": 0.58}
    return {"settings": {}, "suites": {"movies": {"classes": ["negative", "positive"], "chance": 0.5, "n_train": 1000,
                                                  "n_val": 100, "n_test": 100, "tfidf": row(0.77),
                                                  "encoders": {"mlm": row(0.62, 0.65), "random": row(0.58)}}}}


def made_up_cross_domain() -> dict:
    def curve(values):  # two seeds' blocks of two episodes; step 0 and the last step
        return {"per_episode": [[0.5, v] for v in values], "first_episode": 0}
    debates = {"debates_k1": curve([0.3] * 4), "debates_k5": curve([0.35] * 4)}
    models = {"mlm": {"eval": {"movies_k1": curve([0.5, 0.5, 0.52, 0.52]), "movies_k5": curve([0.5, 0.52, 0.5, 0.52]),
                               **debates}},
              "bow": {"eval": {"movies_k1": curve([0.5] * 4), "movies_k5": curve([0.54] * 4), **debates}}}
    kshot = {"64": {"done": True, "mlm_protocol": [0.55, 0.57], "tfidf": [0.58, 0.6], "finetune_all": [0.5, 0.5]}}
    return {"settings": {"episodes": 2, "seeds": [0, 1]}, "models": models, "kshot": kshot}


def test_ceilings_table_reads_balanced_or_plain_accuracy():
    table = studies.ceilings_table(made_up_ceilings())
    movies = table["movies"]
    assert (movies["chance"], movies["majority"], movies["n_train"], movies["n_test"]) == (0.5, 0.58, 1000, 100)
    assert movies["rows"]["mlm"]["mean"] == 0.62 and movies["rows"]["tfidf"]["mean"] == 0.77
    assert studies.ceilings_table(made_up_ceilings(), metric="accuracy")["movies"]["rows"]["mlm"]["mean"] == 0.65
    with pytest.raises(ValueError, match="metric"):
        studies.ceilings_table(made_up_ceilings(), metric="f1")
    with pytest.raises(ValueError, match="study"):
        studies.ceilings_table({"models": {}})


def test_ceiling_comparison_puts_k_shot_next_to_the_ceiling():
    comparison = studies.ceiling_comparison(made_up_ceilings(), cross_domain=made_up_cross_domain())
    mlm = comparison["movies"]["rows"]["mlm"]
    assert mlm["k"] == [1, 5, 64] and mlm["ceiling"] == 0.62
    assert mlm["mean"] == pytest.approx([0.51, 0.51, 0.56])
    tfidf = comparison["movies"]["rows"]["tfidf"]  # K-shot: the studies' bag of words, then K = 64 TF-IDF
    assert tfidf["k"] == [1, 5, 64] and tfidf["mean"] == pytest.approx([0.5, 0.54, 0.59])
    assert comparison["movies"]["rows"]["random"]["k"] == []  # not in the made-up study: only its ceiling
    with pytest.raises(ValueError, match="cross_domain"):
        studies.ceiling_comparison(made_up_ceilings(), cross_domain={"suites": {}})


def test_plot_ceilings_draws_each_ceiling_and_chance():
    comparison = studies.ceiling_comparison(made_up_ceilings(), cross_domain=made_up_cross_domain())
    fig = viz.plot_ceilings(comparison, names=studies.CEILING_NAMES)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log"
    chance = [line for line in ax.lines if list(line.get_ydata()) == [0.5, 0.5]]
    assert len(chance) == 1
    squares = sorted(float(line.get_ydata()[0]) for line in ax.lines if line.get_marker() == "s")
    assert squares == pytest.approx([0.58, 0.62, 0.77])
    assert ax.get_xticklabels()[-1].get_text().startswith("all")
    with pytest.raises(ValueError, match="suites"):
        viz.plot_ceilings(comparison, suites=["debates"])
    with pytest.raises(ValueError, match="comparison"):
        viz.plot_ceilings({})


def test_cross_validation_tests_every_item_once_and_finds_the_signal():
    x, y = blobs(4, 30, shift=3.0)
    result = cross_validated(probe_accuracy, x, y, folds=5)
    assert result["n"] == 90 and len(result["c"]) == 5
    assert result["balanced_accuracy"] > 1 / 3 + 0.4
    texts = ["good fun"] * 6 + ["bad dull"] * 6
    assert cross_validated(tfidf_accuracy, texts, [1] * 6 + [0] * 6, folds=3)["accuracy"] == 1.0
    with pytest.raises(ValueError, match="folds"):
        cross_validated(probe_accuracy, x, y, folds=2)
    with pytest.raises(ValueError, match="folds"):
        two_each = [0, 1, 30, 31, 60, 61]  # two items per class cannot fill five folds
        cross_validated(probe_accuracy, x[two_each], y[two_each], folds=5)


def test_a_cross_validated_suite_takes_its_ceiling_from_the_cross_validation():
    study = made_up_ceilings()
    cv_row = {"balanced_accuracy": 0.7, "balanced_accuracy_ci": 0.05, "accuracy": 0.72, "accuracy_ci": 0.05, "n": 500}
    study["suites"]["movies"]["cv"] = {"folds": 5, "encoders": {"mlm": cv_row}, "tfidf": cv_row}
    table = studies.ceilings_table(study)["movies"]
    assert table["cv"]["mlm"]["mean"] == 0.7 and (table["cv_folds"], table["n_cv"]) == (5, 500)
    with_cv = studies.ceiling_comparison(study)["movies"]
    assert with_cv["ceiling_from"] == "5-fold CV, n = 500" and with_cv["rows"]["mlm"]["ceiling"] == 0.7
    assert with_cv["per_class"] == pytest.approx(3 / 5 * 500 / 2)  # three of five folds train each probe
    test_split = studies.ceiling_comparison(study, use_cv=False)["movies"]
    assert test_split["ceiling_from"] == "test split, n = 100" and test_split["rows"]["mlm"]["ceiling"] == 0.62


def test_paired_bootstrap_cancels_what_both_get_right():
    g = np.random.default_rng(5)
    y = g.integers(0, 2, 400)
    a = np.where(g.random(400) < 0.8, y, 1 - y)  # right 80 % of the time
    b = a.copy()
    b[:20] = 1 - b[:20]  # the same predictions but for 20 items
    diff, half = paired_bootstrap(y, a, b)
    assert diff == pytest.approx(balanced_accuracy(y, a) - balanced_accuracy(y, b))
    assert half < 0.03  # far tighter than either accuracy's own interval (about ± 0.04 at n = 400)
    with pytest.raises(ValueError, match="pred_b"):
        paired_bootstrap(y, a, b[:-1])
    with pytest.raises(ValueError, match="metric"):
        paired_bootstrap(y, a, b, metric="f1")


def test_paired_ceiling_reads_the_stored_predictions():
    study = made_up_ceilings()
    movies = study["suites"]["movies"]
    movies["test_labels"] = [0, 0, 1, 1]
    movies["encoders"]["mlm"]["predictions"] = [0, 0, 1, 1]
    movies["encoders"]["random"]["predictions"] = [0, 0, 0, 0]
    result = studies.paired_ceiling(study, "movies", "mlm", "random")
    assert result["diff"] == pytest.approx(0.5) and result["from"] == "test split" and result["n"] == 4
    with pytest.raises(ValueError, match="b='minilm'"):
        studies.paired_ceiling(study, "movies", "mlm", "minilm")
    with pytest.raises(ValueError, match="b='tfidf' has no stored predictions"):
        studies.paired_ceiling(study, "movies", "mlm", "tfidf")
    with pytest.raises(ValueError, match="suite"):
        studies.paired_ceiling(study, "bbc", "mlm", "random")


def test_stored_ceilings_support_the_readme_reading():
    """The README's reading of the full-data ceilings, claim by claim, against the stored studies."""
    try:
        ceilings = studies.load_study("ceilings")
        few = {name: studies.load_study(name) for name in ("few_shot_text", "cross_domain", "chinese")}
    except FileNotFoundError as err:
        pytest.skip(str(err))
    assert not ceilings["partial"]
    c = studies.ceiling_comparison(ceilings, **few)
    top = {s: {m: r["ceiling"] for m, r in e["rows"].items()} for s, e in c.items()}
    k5 = {s: {m: r["mean"][r["k"].index(5)] for m, r in e["rows"].items() if 5 in r["k"]} for s, e in c.items()}
    # news: five shots of the MLM start within ten points of its ceiling
    assert top["bbc"]["mlm"] > 0.9 and 0 < top["bbc"]["mlm"] - k5["bbc"]["mlm"] < 0.1
    # movies: the MLM start's features carry little sentiment, no more measurably than random features ...
    paired = studies.paired_ceiling(ceilings, "movies", "mlm", "random")
    assert top["movies"]["mlm"] < 0.62 and paired["diff"] - paired["half"] < 0
    # ... while MiniLM's reach TF-IDF's and five shots do not
    assert abs(top["movies"]["minilm"] - top["movies"]["tfidf"]) < 0.01 and top["movies"]["minilm"] > 0.75
    assert k5["movies"]["minilm"] < 0.57
    # the retrained meta-learners: not measurably different from the MLM start on any English suite
    for suite in ("bbc", "movies", "debates"):
        for m in ceilings.get("meta_learners", {}):
            d = studies.paired_ceiling(ceilings, suite, m, "mlm")
            assert d["diff"] - d["half"] < 0 < d["diff"] + d["half"], (suite, m)
    # debates (cross-validated ceilings): every probe ≥ 20 points above chance, five shots at most 0.47
    assert c["debates"]["ceiling_from"].startswith("5-fold CV")
    assert min(top["debates"].values()) >= 0.25 + 0.2 and max(k5["debates"].values()) <= 0.47
    # Chinese: the three encoders' probes about 0.67, pretrained no better than random; characters 0.84
    encoders = ("random", "mlm", "smlmt_fomaml")
    assert all(0.65 < top["zh_sentiment"][m] < 0.69 for m in encoders) and top["zh_sentiment"]["tfidf"] > 0.84
    for m in ("mlm", "smlmt_fomaml"):
        d = studies.paired_ceiling(ceilings, "zh_sentiment", m, "random")
        assert d["diff"] - d["half"] < 0 < d["diff"] + d["half"], m
    assert all(max(r["mean"]) < 0.55 for r in c["zh_sentiment"]["rows"].values())


def test_plot_ceilings_gives_an_encoder_the_same_colour_in_every_figure():
    comparison = studies.ceiling_comparison(made_up_ceilings(), cross_domain=made_up_cross_domain())
    only_mlm = {"movies": {**comparison["movies"], "rows": {"mlm": comparison["movies"]["rows"]["mlm"]}}}

    def mlm_colour(fig):
        (ax,) = fig.axes
        return next(line.get_color() for line in ax.lines if line.get_marker() == "s" and line.get_ydata()[0] == 0.62)
    assert mlm_colour(viz.plot_ceilings(comparison)) == mlm_colour(viz.plot_ceilings(only_mlm))


def test_plot_ceilings_draws_only_the_chosen_rows():
    comparison = studies.ceiling_comparison(made_up_ceilings(), cross_domain=made_up_cross_domain())
    (ax,) = viz.plot_ceilings(comparison, rows=["mlm", "tfidf"]).axes
    assert sorted(float(line.get_ydata()[0]) for line in ax.lines if line.get_marker() == "s") == pytest.approx([0.62, 0.77])
    with pytest.raises(ValueError, match="rows"):
        viz.plot_ceilings(comparison, rows=["maml"])


# ---------------------------------------------------------------------------------------
# The token-level (NER) ceiling
# ---------------------------------------------------------------------------------------
class Tagged:
    def __init__(self, text, tags):
        self.text, self.tags = text, tuple(tags)


def test_token_features_keep_each_labelled_token_of_a_sentence_run_alone():
    from metalearn_edu.ceilings import NER_TAGS, token_features
    from metalearn_edu.data.chinese import load_chinese_tokenizer
    from metalearn_edu.ner import align_labels

    from metalearn_edu.pretrained import load_pretrained

    tokenizer = load_chinese_tokenizer()
    model = load_pretrained("zh-mlm-micro", with_tokenizer=False)[0]
    sentences = [Tagged("李鹏在北京", ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]), Tagged("好", ["O"]),
                 Tagged("新华社记者报道", ["B-ORG", "I-ORG", "I-ORG", "O", "O", "O", "O"])]
    feats, labels, lengths = token_features(model, tokenizer, sentences, max_len=16, batch_size=2)
    assert lengths == [5, 1, 7] and feats.shape == (13, model.cfg.d_model)
    assert [NER_TAGS[y] for y in labels] == [t for s in sentences for t in s.tags]
    first = 0
    with torch.no_grad():
        for s, n in zip(sentences, lengths):
            ids, row = align_labels(tokenizer, s.text, s.tags, 16, {t: i for i, t in enumerate(NER_TAGS)})
            alone = model(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).hidden_states[0]
            assert torch.allclose(feats[first:first + n], alone[1:-1], atol=1e-5)  # [CLS] and [SEP] left out
            first += n


def test_window_features_name_the_characters_around_each_position():
    from metalearn_edu.ceilings import NER_TAGS, window_features

    feats, labels, lengths = window_features([Tagged("李鹏到", ["B-PER", "I-PER", "O"]), Tagged("京城x", ["B-LOC", "I-LOC", "O"])],
                                             max_len=4, window=1)
    assert lengths == [2, 2] and [NER_TAGS[y] for y in labels] == ["B-PER", "I-PER", "B-LOC", "I-LOC"]  # 4 − 2 kept
    assert feats[0] == {"c[-1]=^": 1.0, "c[0]=李": 1.0, "c[1]=鹏": 1.0, "b[-1]=^李": 1.0, "b[0]=李鹏": 1.0}
    assert feats[3]["c[1]=$"] == 1.0 and feats[3]["b[0]=城$"] == 1.0  # the cut text ends at the boundary


def synthetic_tagging(seed: int, n_sentences: int, noise: float) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Sentences of 6 tokens; every token's tag is readable from its one-hot feature (plus noise)."""
    g = np.random.default_rng(seed)
    patterns = [[0, 1, 2, 0, 0, 0], [0, 0, 3, 4, 4, 0], [5, 6, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0]]
    tags = np.concatenate([patterns[i] for i in g.integers(0, len(patterns), n_sentences)])
    x = np.eye(7)[tags] * 3.0 + noise * g.normal(size=(len(tags), 7))
    return x, tags, [6] * n_sentences


def test_tagger_f1_scores_entities_like_span_f1():
    from metalearn_edu.ceilings import NER_TAGS, _tag_sequences, tagger_f1
    from metalearn_edu.ner import span_f1

    clean = tagger_f1(synthetic_tagging(0, 60, 0.1), synthetic_tagging(1, 30, 0.1), synthetic_tagging(2, 40, 0.1))
    assert clean["f1"] == 1.0 and clean["f1_ci"] == 0.0 and clean["n_train_sentences"] == 60
    noisy_test = synthetic_tagging(2, 40, 1.2)
    noisy = tagger_f1(synthetic_tagging(0, 60, 1.2), synthetic_tagging(1, 30, 1.2), noisy_test, cs=(1.0,))
    assert 0.1 < noisy["f1"] < 0.95 and noisy["f1_ci"] > 0.01
    # the same number from the library's span F1, on the predictions of the same tagger
    from sklearn.linear_model import LogisticRegression
    x_tr, y_tr, _ = synthetic_tagging(0, 60, 1.2)
    mean, std = x_tr.mean(0), x_tr.std(0) + 1e-8
    predicted = LogisticRegression(C=1.0, max_iter=500).fit((x_tr - mean) / std, y_tr).predict((noisy_test[0] - mean) / std)
    reference = span_f1(_tag_sequences(noisy_test[1], noisy_test[2]), _tag_sequences(predicted, noisy_test[2]))
    assert noisy["f1"] == pytest.approx(reference["f1"]) and noisy["n_gold"] == reference["n_gold"]
    assert noisy["precision"] == pytest.approx(reference["precision"]) and NER_TAGS[0] == "O"


def test_tagger_f1_names_a_split_whose_lengths_do_not_add_up():
    from metalearn_edu.ceilings import tagger_f1

    x, y, lengths = synthetic_tagging(0, 10, 0.1)
    with pytest.raises(ValueError, match="val"):
        tagger_f1((x, y, lengths), (x, y, lengths[:-1]), (x, y, lengths))
    with pytest.raises(ValueError, match="cs"):
        tagger_f1((x, y, lengths), (x, y, lengths), (x, y, lengths), cs=())


def test_f1_on_subsets_scores_each_subset_of_sentences_alone():
    from metalearn_edu.ceilings import NER_TAGS, _tag_sequences, f1_on_subsets
    from metalearn_edu.ner import span_f1

    x, labels, lengths = synthetic_tagging(3, 8, 0.0)
    predicted = labels.copy()
    predicted[6:12] = 0  # sentence 1 loses its entities
    predicted[13] = 2    # sentence 2: B-PER I-PER becomes B-PER B-PER... (one wrong span, one extra)
    subsets = [[0], [1], [0, 1, 2], list(range(8))]
    got = f1_on_subsets(labels, predicted, lengths, subsets)
    gold, pred = _tag_sequences(labels, lengths), _tag_sequences(predicted, lengths)
    for subset, value in zip(subsets, got):
        assert value == pytest.approx(span_f1([gold[i] for i in subset], [pred[i] for i in subset])["f1"])
    assert len(set(round(v, 6) for v in got)) > 1 and NER_TAGS[2] == "I-PER"
    with pytest.raises(ValueError, match="subsets"):
        f1_on_subsets(labels, predicted, lengths, [[8]])
    with pytest.raises(ValueError, match="lengths"):
        f1_on_subsets(labels, predicted, lengths[:-1], [[0]])


def test_stored_ner_ceilings_support_the_readme_reading():
    """The README's reading of the token-level ceilings, claim by claim, against the stored studies."""
    try:
        ceilings, chinese = studies.load_study("ceilings"), studies.load_study("chinese")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    table = studies.ner_ceiling_table(ceilings)
    rows = studies.ner_ceiling_comparison(ceilings, chinese)["zh_ner"]["rows"]
    probe = {m: rows[m]["ceiling"] for m in ("random", "mlm", "smlmt_fomaml")}
    # the frozen features are the bottleneck: ~0.3 against ~0.76 for characters, and more data does not help
    assert 0.25 < probe["mlm"] < 0.35 and 0.72 < rows["tfidf"]["ceiling"] < 0.8
    quarter = min(table["learning"])
    assert quarter * 4 == table["train_sentences"] and abs(table["learning"][quarter]["f1"] - table["rows"]["mlm"]["f1"]) < 0.02
    # pretraining put it there; SMLMT meta-training did not change it
    assert probe["random"] < 0.1
    assert abs(probe["mlm"] - probe["smlmt_fomaml"]) < rows["mlm"]["ceiling_half"] + rows["smlmt_fomaml"]["ceiling_half"]
    # five shots from the start far below; the meta-learned prototypical tagger within its interval of the probe
    few = studies.chinese_table(chinese)
    assert few["mlm"]["ner_k5"]["mean"] < 0.12 and probe["mlm"] - few["mlm"]["ner_k5"]["mean"] > 0.15
    best = few["ner_protonet"]["ner_k5"]
    assert abs(best["mean"] - 0.28) < 0.005 and abs(best["half"] - 0.08) < 0.005 and abs(best["mean"] - probe["mlm"]) < best["half"]
