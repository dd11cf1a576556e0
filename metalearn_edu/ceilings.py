"""Full-data ceilings: what a linear classifier gets from an encoder's features with *all* the labels.

Chapters 7 and 8 find every encoder near chance few-shot on movie reviews, debate speakers and
Chinese reviews. Two different stories give that null:

* the frozen features do not carry the signal at all — then a linear probe trained on thousands of
  labelled texts is near chance too;
* the signal is there but five examples per class cannot find it — then the probe is far above
  chance while K-shot accuracy is not.

`probe_accuracy` is that probe (scikit-learn's `LogisticRegression` on standardised features, its
inverse regularisation C chosen on the validation split from a small grid, refitted on the training
split, scored once on the test split); `tfidf_accuracy` is the same recipe on TF-IDF features of the
texts, the no-neural-network reference. `pooled_features` computes an encoder's frozen features the
way the few-shot protocol does (`metalearn_edu.meta.losses.EncoderFeatures`, mean pooling over real
tokens) and `ceiling_splits` gives each suite's texts exactly as its episodes encode them
(`lead_text`, truncated to 64 tokens). ``benchmarks/ceilings.py`` runs every encoder on every suite.

Few-shot episodes are class-balanced, so their chance level is 1/N; the full test splits are not
(e.g. 58 % of the movie test reviews are positive). Each result therefore carries both the accuracy
and the *balanced* accuracy (mean recall over classes, chance 1/N); the balanced one is what
compares with K-shot accuracy.

Example:
    >>> import numpy as np
    >>> g = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> x = g.normal(size=(100, 3)) + 3.0 * y[:, None]
    >>> r = probe_accuracy((x, y), (x, y), (x, y))
    >>> r["accuracy"] > 0.9, r["c"] in C_GRID
    (True, True)
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from .runtime import eval_mode

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
SUITES = ("bbc", "movies", "debates", "zh_sentiment")
SUITE_TITLES = {"bbc": "BBC topics (5-way)", "movies": "movie-review sentiment (2-way)",
                "debates": "debate speakers (4-way, meta-test speakers)",
                "zh_sentiment": "Chinese review sentiment (2-way)"}

Split = tuple[Any, Sequence[int]]  # (features or texts, labels)


def ceiling_splits(suite: str, max_len: int = 64) -> dict[str, Any]:
    """The train / val / test texts and labels of one suite, as its few-shot episodes encode them.

    * ``"bbc"``: `metalearn_edu.data.bbc_splits` (5 topics);
    * ``"movies"``: `metalearn_edu.data.domains.movie_review_splits` (positive / negative);
    * ``"debates"``: the document-level `metalearn_edu.data.domains.debate_splits` restricted to the
      four meta-test speakers of `debate_speaker_split` (Cooper, Kaine, Trump, Wallace), so train and
      test hold disjoint statements of the same four speakers. (The few-shot suite draws its episodes
      from *all* of these speakers' statements, `debate_novel_class_splits`'s ``"test"`` side.)
    * ``"zh_sentiment"``: `metalearn_edu.data.chinese.chinese_sentiment_splits`.

    Texts are ``lead_text(doc, max_words=max_len)``, the default of `TextClassificationEpisodes`.

    Returns:
        ``{"classes": [names], "train" | "val" | "test": (texts, labels)}`` with labels indices into
        ``classes`` (sorted class names).

    Raises:
        ValueError: for an unknown `suite`.
    """
    from .data import bbc_splits
    from .data.sentences import lead_text

    if suite == "bbc":
        splits = bbc_splits()
    elif suite == "movies":
        from .data.domains import movie_review_splits
        splits = movie_review_splits()
    elif suite == "debates":
        from .data.domains import debate_speaker_split, debate_splits
        speakers = set(debate_speaker_split()[1])
        splits = {name: [d for d in docs if d.label in speakers] for name, docs in debate_splits().items()}
    elif suite == "zh_sentiment":
        from .data.chinese import chinese_sentiment_splits
        splits = chinese_sentiment_splits()
    else:
        raise ValueError(f"suite={suite!r} is not allowed; choose one of {SUITES}")
    classes = sorted({str(d.label) for docs in splits.values() for d in docs if d.label is not None})
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, Any] = {"classes": classes}
    for name in ("train", "val", "test"):
        docs = [d for d in splits[name] if d.label is not None]
        out[name] = ([lead_text(d, max_words=max_len) for d in docs], [index[str(d.label)] for d in docs])
    return out


@torch.no_grad()
def pooled_features(model: Any, tokenizer: Any, texts: Sequence[str], max_len: int = 64, batch_size: int = 64,
                    pooling: str = "mean", progress: bool = False, desc: str = "features") -> Tensor:
    """Frozen pooled features of `texts` (`EncoderFeatures`, as the few-shot protocol computes them).

    Texts are tokenised with truncation to `max_len` tokens (specials included), sorted by length so
    that a batch carries little padding, run through the encoder in eval mode in batches of
    `batch_size`, and returned in the original order.

    Shapes:
        result: (len(texts), D), float32.

    Raises:
        ValueError: for an empty `texts`, or a `batch_size` / `max_len` that is not a positive integer.
    """
    from .meta.losses import EncoderFeatures

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not allowed; give a positive integer")
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 3:
        raise ValueError(f"max_len={max_len!r} is not allowed; give an integer ≥ 3 ([CLS], [SEP] and a token)")
    if len(texts) == 0:
        raise ValueError("texts is empty; give at least one text")
    rows = tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
    features = EncoderFeatures(model, pooling)
    params = dict(model.named_parameters())
    out = torch.empty(len(rows), model.cfg.d_model)
    with eval_mode(model):
        for chosen, ids, mask in _padded_batches(rows, tokenizer.pad_token_id, batch_size, progress, desc):
            out[chosen] = features(params, ids, mask).float()
    return out


def _padded_batches(rows: Sequence[Sequence[int]], pad: int, batch_size: int, progress: bool = False,
                    desc: str = "batches") -> Any:
    """Yield ``(indices, ids, mask)``: the rows sorted by length (little padding), `batch_size` at a time,
    padded with `pad`; ids and mask are (B, longest row in the batch)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    starts: Any = range(0, len(order), batch_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc=desc, unit="batch", mininterval=2.0)
    for first in starts:
        chosen = order[first:first + batch_size]
        width = max(len(rows[i]) for i in chosen)
        ids = torch.full((len(chosen), width), pad, dtype=torch.long)
        mask = torch.zeros((len(chosen), width), dtype=torch.long)
        for r, i in enumerate(chosen):
            ids[r, :len(rows[i])] = torch.tensor(rows[i])
            mask[r, :len(rows[i])] = 1
        yield chosen, ids, mask


def _check_split(name: str, split: Any) -> tuple[Any, np.ndarray]:
    if not isinstance(split, (tuple, list)) or len(split) != 2:
        raise ValueError(f"{name} must be a pair (features, labels); got {type(split).__name__}")
    x, y = split
    y = np.asarray(y)
    if y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"{name} has {x.shape[0]} rows of features but labels of shape {tuple(y.shape)}; "
                         "give one label per row")
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    return x, y


def balanced_accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Mean over the classes present in `y_true` of the fraction of that class predicted right (chance 1/N).

    Example:
        >>> balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
        0.5
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([(y_pred[y_true == c] == c).mean() for c in np.unique(y_true)]))


def _recalls_mean(correct: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Balanced accuracy of each row of (R, M) correctness / labels; a class absent from a row is left out."""
    recalls = []
    for c in classes:
        members = (labels == c).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            recalls.append(np.where(members > 0, (correct & (labels == c)).sum(1) / members, np.nan))
    return np.nanmean(np.stack(recalls), axis=0)


def paired_bootstrap(y_true: Sequence[int], pred_a: Sequence[int], pred_b: Sequence[int],
                     metric: str = "balanced_accuracy", n: int = 1000, seed: int = 0) -> tuple[float, float]:
    """The difference a − b in `metric` on the same test items, and its 95 % paired bootstrap half-width.

    Both predictors are resampled with the same items, so what the two get right together cancels.

    Example:
        >>> paired_bootstrap([0, 1, 0, 1], [0, 1, 0, 1], [0, 0, 0, 0], metric="accuracy")[0]
        0.5

    Raises:
        ValueError: for an unknown `metric`, or predictions of another length than `y_true`.
    """
    if metric not in ("balanced_accuracy", "accuracy"):
        raise ValueError(f"metric={metric!r} is not allowed; choose 'balanced_accuracy' or 'accuracy'")
    y, a, b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not len(y) == len(a) == len(b) or len(y) == 0:
        raise ValueError(f"y_true, pred_a and pred_b have {len(y)}, {len(a)} and {len(b)} items; give the same "
                         "non-empty test items to both")
    idx = np.random.default_rng(seed).integers(0, len(y), (n, len(y)))
    if metric == "accuracy":
        diffs = (y == a)[idx].mean(1) - (y == b)[idx].mean(1)
        diff = float((y == a).mean() - (y == b).mean())
    else:
        classes = np.unique(y)
        diffs = _recalls_mean((y == a)[idx], y[idx], classes) - _recalls_mean((y == b)[idx], y[idx], classes)
        diff = balanced_accuracy(y, a) - balanced_accuracy(y, b)
    return diff, float((np.percentile(diffs, 97.5) - np.percentile(diffs, 2.5)) / 2)


def _bootstrap(y_true: np.ndarray, y_pred: np.ndarray, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """95 % percentile bootstrap half-widths of accuracy and balanced accuracy over the test items."""
    g = np.random.default_rng(seed)
    idx = g.integers(0, len(y_true), (n, len(y_true)))  # (n resamples, M items)
    correct, labels = (y_true == y_pred)[idx], y_true[idx]
    bal = _recalls_mean(correct, labels, np.unique(y_true))  # a class missing from a resample is left out
    half = lambda v: float((np.percentile(v, 97.5) - np.percentile(v, 2.5)) / 2)  # noqa: E731
    return {"accuracy_ci": half(correct.mean(1)), "balanced_accuracy_ci": half(bal)}


def probe_accuracy(train: Split, val: Split, test: Split, cs: Sequence[float] = C_GRID, scale: bool = True,
                   select_by: str = "balanced_accuracy", return_predictions: bool = False) -> dict[str, Any]:
    """A logistic-regression probe: C chosen on `val` from `cs`, refitted on `train`, scored on `test`.

    For each C in `cs` a `LogisticRegression` (L2, lbfgs) is fitted on `train` and scored on `val`
    by `select_by`; the best C (the smaller on a tie) is refitted on `train` and tested once on
    `test`. With `scale`, features are standardised with the training split's mean and standard
    deviation first (dense inputs only; sparse TF-IDF is left as is).

    Args:
        train, val, test: ``(x, y)`` pairs, x an (M, D) array (dense, or a SciPy sparse matrix) and y
            M integer labels.
        cs: the grid of inverse regularisation strengths (positive).
        scale: standardise dense features.
        select_by: ``"balanced_accuracy"`` or ``"accuracy"`` on the validation split.
        return_predictions: also return the test predictions (``"predictions"``, a list).

    Returns:
        ``{"c", "val": {C: score}, "accuracy", "balanced_accuracy", "accuracy_ci",
        "balanced_accuracy_ci" (95 % bootstrap half-widths over test items), "majority"
        (the test split's largest class share), "n_train", "n_val", "n_test"}``.

    Raises:
        ValueError: naming the argument, for a malformed split, an empty or non-positive `cs`, an
            unknown `select_by`, or a training split with a single class.
    """
    from sklearn.linear_model import LogisticRegression

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (_check_split(n, s) for n, s in
                                                 (("train", train), ("val", val), ("test", test)))
    cs = list(cs)
    if not cs or any(isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0 for c in cs):
        raise ValueError(f"cs={cs!r} is not allowed; give a non-empty list of positive numbers")
    if select_by not in ("balanced_accuracy", "accuracy"):
        raise ValueError(f"select_by={select_by!r} is not allowed; choose 'balanced_accuracy' or 'accuracy'")
    if len(np.unique(y_tr)) < 2:
        raise ValueError("train has a single class; a classifier needs at least two")
    if scale and not hasattr(x_tr, "tocsr"):
        x_tr, x_va, x_te = (np.asarray(x, dtype=np.float64) for x in (x_tr, x_va, x_te))
        mean, std = x_tr.mean(0), x_tr.std(0) + 1e-8
        x_tr, x_va, x_te = ((x - mean) / std for x in (x_tr, x_va, x_te))
    score = balanced_accuracy if select_by == "balanced_accuracy" else (lambda t, p: float((np.asarray(t) == p).mean()))
    val_scores = {}
    for c in sorted(cs):
        model = LogisticRegression(C=c, max_iter=3000).fit(x_tr, y_tr)
        val_scores[float(c)] = score(y_va, model.predict(x_va))
    best = max(val_scores, key=lambda c: (val_scores[c], -c))
    predictions = LogisticRegression(C=best, max_iter=3000).fit(x_tr, y_tr).predict(x_te)
    extra = {"predictions": predictions.tolist()} if return_predictions else {}
    return {**extra, "c": best, "val": {str(c): v for c, v in val_scores.items()}, "select_by": select_by,
            "accuracy": float((predictions == y_te).mean()), "balanced_accuracy": balanced_accuracy(y_te, predictions),
            **_bootstrap(y_te, predictions), "majority": float(np.bincount(y_te).max() / len(y_te)),
            "n_train": int(len(y_tr)), "n_val": int(len(y_va)), "n_test": int(len(y_te))}


def tfidf_accuracy(train: Split, val: Split, test: Split, analyzer: str = "word", cs: Sequence[float] = C_GRID,
                   select_by: str = "balanced_accuracy", return_predictions: bool = False) -> dict[str, Any]:
    """`probe_accuracy` on TF-IDF features of the texts (fitted on the training texts).

    Args:
        train, val, test: ``(texts, labels)`` pairs.
        analyzer: ``"word"`` (lower-cased word unigrams, for English) or ``"char"`` (characters and
            character pairs, for Chinese, which has no spaces between words).

    Returns:
        `probe_accuracy`'s dict plus ``"analyzer"`` and ``"n_features"``.

    Raises:
        ValueError: for an unknown `analyzer`, or as `probe_accuracy`.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if analyzer not in ("word", "char"):
        raise ValueError(f"analyzer={analyzer!r} is not allowed; choose 'word' or 'char'")
    grams = {"analyzer": "char", "ngram_range": (1, 2)} if analyzer == "char" else {}
    vectorizer = TfidfVectorizer(lowercase=True, sublinear_tf=True, **grams)
    x_tr = vectorizer.fit_transform(list(train[0]))
    result = probe_accuracy((x_tr, train[1]), (vectorizer.transform(list(val[0])), val[1]),
                            (vectorizer.transform(list(test[0])), test[1]), cs=cs, scale=False, select_by=select_by,
                            return_predictions=return_predictions)
    return {**result, "analyzer": analyzer, "n_features": int(x_tr.shape[1])}


def cross_validated(evaluate: Any, x: Any, y: Sequence[int], folds: int = 5, seed: int = 0, **kwargs: Any
                    ) -> dict[str, Any]:
    """`probe_accuracy` or `tfidf_accuracy` by stratified k-fold cross-validation: every item tested once.

    For a split too small for one held-out test set to say much (the debates' four meta-test speakers
    have 41 test statements, two of them Cooper's): the items are dealt into `folds` stratified folds;
    fold f is the test set, fold f + 1 the validation set that picks C, the rest the training set; the
    out-of-fold predictions of all items are then scored together.

    Args:
        evaluate: `probe_accuracy` or `tfidf_accuracy` (called with ``return_predictions=True``).
        x: (M, D) features, or M texts; y: M labels.
        folds: number of folds (≥ 3: one test, one validation and at least one training fold).
        seed: the shuffle of the folds.
        kwargs: passed to `evaluate` (e.g. ``analyzer="char"``, ``cs``).

    Returns:
        ``{"accuracy", "balanced_accuracy", "accuracy_ci", "balanced_accuracy_ci", "majority", "c"
        (the C picked in each fold), "folds", "n", "predictions"}`` (the out-of-fold prediction of
        every item, in the order of `y`).

    Raises:
        ValueError: for `folds` < 3 or a class with fewer than `folds` items.
    """
    from sklearn.model_selection import StratifiedKFold

    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 3:
        raise ValueError(f"folds={folds!r} is not allowed; give an integer ≥ 3 (test, validation and training folds)")
    y = np.asarray(y)
    if len(y) != (x.shape[0] if hasattr(x, "shape") else len(x)):
        raise ValueError(f"x has {x.shape[0] if hasattr(x, 'shape') else len(x)} items but y {len(y)} labels")
    smallest = int(np.bincount(y).min()) if len(y) else 0
    if smallest < folds:
        raise ValueError(f"folds={folds} but a class has only {smallest} items; lower folds")
    take = (lambda idx: x[idx]) if hasattr(x, "shape") else (lambda idx: [x[i] for i in idx])
    parts = [test for _, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)]
    predictions, chosen = np.empty(len(y), dtype=y.dtype), []
    for f in range(folds):
        test, val = parts[f], parts[(f + 1) % folds]
        train = np.concatenate([parts[g] for g in range(folds) if g not in (f, (f + 1) % folds)])
        r = evaluate((take(train), y[train]), (take(val), y[val]), (take(test), y[test]), return_predictions=True,
                     **kwargs)
        predictions[test] = r["predictions"]
        chosen.append(r["c"])
    return {"accuracy": float((predictions == y).mean()), "balanced_accuracy": balanced_accuracy(y, predictions),
            **_bootstrap(y, predictions), "majority": float(np.bincount(y).max() / len(y)), "c": chosen,
            "folds": folds, "n": int(len(y)), "predictions": predictions.tolist()}


# ---------------------------------------------------------------------------------------
# A token-level ceiling: named entities (chapter 8)
# ---------------------------------------------------------------------------------------
NER_TAGS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG")


@torch.no_grad()
def token_features(model: Any, tokenizer: Any, sentences: Sequence[Any], max_len: int = 64, batch_size: int = 64,
                   progress: bool = False, desc: str = "token features") -> tuple[Tensor, np.ndarray, list[int]]:
    """Frozen last-layer features of every labelled token, as the few-shot tagger sees them.

    Each sentence (``.text`` and one BIO tag per character, e.g. `peoples_daily_sentences`) is
    encoded with `metalearn_edu.ner.align_labels` (truncated to `max_len` tokens, each token with the
    tag of its first character) and run through the encoder in eval mode; the hidden states of its
    real tokens ([CLS] and [SEP] left out) are kept in sentence order.

    Shapes:
        features: (T, D) float32, T the labelled tokens of all sentences; labels: (T,) indices into
        `NER_TAGS`; lengths: the number of labelled tokens of each sentence (they sum to T).

    Raises:
        ValueError: for an empty `sentences`, a tag outside `NER_TAGS`, or a bad `batch_size`.
    """
    from .ner import IGNORE_INDEX, align_labels

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} is not allowed; give a positive integer")
    if len(sentences) == 0:
        raise ValueError("sentences is empty; give at least one tagged sentence")
    label_map = {t: i for i, t in enumerate(NER_TAGS)}
    rows = [align_labels(tokenizer, s.text, s.tags, max_len, label_map) for s in sentences]
    kept: list[Tensor | None] = [None] * len(rows)
    with eval_mode(model):
        token_rows = [row_ids for row_ids, _ in rows]
        for chosen, ids, mask in _padded_batches(token_rows, tokenizer.pad_token_id, batch_size, progress, desc):
            hidden = model(ids, attention_mask=mask).hidden_states.float()
            for r, i in enumerate(chosen):
                padding = [False] * (ids.shape[1] - len(rows[i][1]))
                labelled = torch.tensor([y != IGNORE_INDEX for y in rows[i][1]] + padding)
                kept[i] = hidden[r][labelled]
    labels = np.array([y for _, row_labels in rows for y in row_labels if y != IGNORE_INDEX], dtype=np.int64)
    lengths = [sum(y != IGNORE_INDEX for y in row_labels) for _, row_labels in rows]
    return torch.cat(kept), labels, lengths  # type: ignore[arg-type]


def window_features(sentences: Sequence[Any], max_len: int = 64, window: int = 2) -> tuple[list[dict], np.ndarray, list[int]]:
    """Lexical features of every character, the NER counterpart of TF-IDF: no encoder, only the text.

    Character ``i`` of a sentence gets the indicator features ``c[j]=x`` for each offset j in
    −`window` … `window` (x the character there, or a boundary mark) and the character pairs
    ``b[j]=xy`` at offsets −1 and 0. The first ``max_len − 2`` characters of each sentence are kept,
    about what the encoders see.

    Returns:
        ``(features, labels, lengths)``: one feature dict per character (for a `DictVectorizer`), its
        index into `NER_TAGS`, and the characters kept per sentence.
    """
    label_map = {t: i for i, t in enumerate(NER_TAGS)}
    features, labels, lengths = [], [], []
    for s in sentences:
        text = s.text[:max_len - 2]
        padded = "^" * window + text + "$" * window
        for i in range(len(text)):
            row = {f"c[{j}]={padded[i + window + j]}": 1.0 for j in range(-window, window + 1)}
            row.update({f"b[{j}]={padded[i + window + j]}{padded[i + window + j + 1]}": 1.0 for j in (-1, 0)})
            features.append(row)
            labels.append(label_map[s.tags[i]])
        lengths.append(len(text))
    return features, np.array(labels, dtype=np.int64), lengths


def _tag_sequences(labels: np.ndarray, lengths: Sequence[int]) -> list[list[str]]:
    out, first = [], 0
    for n in lengths:
        out.append([NER_TAGS[y] for y in labels[first:first + n]])
        first += n
    return out


def _span_counts(gold: list[list[str]], pred: list[list[str]]) -> np.ndarray:
    """(sentences, 3): correct, gold and predicted entities per sentence (exact spans)."""
    from .ner import bio_to_spans

    rows = []
    for g, p in zip(gold, pred):
        gs, ps = set(bio_to_spans(g)), set(bio_to_spans(p))
        rows.append((len(gs & ps), len(gs), len(ps)))
    return np.array(rows, dtype=np.float64)


def _micro_f1(counts: np.ndarray) -> np.ndarray:
    """Micro F1 of summed (correct, gold, predicted) counts, along the last axis: 2·correct / (gold + predicted),
    and 1 when there is nothing to find and nothing found (`metalearn_edu.ner.span_f1`'s convention)."""
    correct, gold, pred = counts[..., 0], counts[..., 1], counts[..., 2]
    return np.where(gold + pred > 0, 2 * correct / np.maximum(gold + pred, 1), 1.0)


def tagger_f1(train: tuple[Any, np.ndarray, Sequence[int]], val: tuple[Any, np.ndarray, Sequence[int]],
              test: tuple[Any, np.ndarray, Sequence[int]], cs: Sequence[float] = (0.1, 1.0, 10.0),
              scale: bool = True, n_boot: int = 1000, seed: int = 0, return_predictions: bool = False) -> dict[str, Any]:
    """A per-token logistic-regression tagger, scored by entity-level micro F1 on exact spans.

    The tagger predicts each token's BIO tag (`NER_TAGS`) from its features alone; the predicted
    tags of a sentence are read as entities by `metalearn_edu.ner.bio_to_spans` and scored like the
    few-shot tagger (`metalearn_edu.ner.span_f1`: 2·correct / (gold + predicted), summed over
    sentences). C is chosen on `val` by that F1, the tagger refitted on `train`, scored once on
    `test`; the half-width is a 95 % percentile bootstrap over test sentences.

    Args:
        train, val, test: ``(features, labels, lengths)`` from `token_features` (dense; standardised
            with `scale`) or `window_features` after a `DictVectorizer` (sparse).
        cs: the inverse regularisation strengths tried.
        return_predictions: also return ``"predictions"``, the predicted tag ids of the test tokens
            (for `f1_on_subsets`).

    Returns:
        ``{"f1", "f1_ci", "precision", "recall", "c", "val": {C: F1}, "n_train_tokens",
        "n_train_sentences", "n_test_sentences", "n_gold"}``.

    Raises:
        ValueError: when the lengths of a split do not add up to its labels, or `cs` is empty.
    """
    from sklearn.linear_model import LogisticRegression

    for name, (x, y, lengths) in (("train", train), ("val", val), ("test", test)):
        if x.shape[0] != len(y) or sum(lengths) != len(y):
            raise ValueError(f"{name}: {x.shape[0]} feature rows, {len(y)} labels and lengths summing to "
                             f"{sum(lengths)}; give one row and one label per token")
    if not list(cs):
        raise ValueError("cs is empty; give at least one positive C")
    (x_tr, y_tr, _), (x_va, y_va, l_va), (x_te, y_te, l_te) = train, val, test
    if scale and not hasattr(x_tr, "tocsr"):
        x_tr, x_va, x_te = (np.asarray(x, dtype=np.float64) for x in (x_tr, x_va, x_te))
        mean, std = x_tr.mean(0), x_tr.std(0) + 1e-8
        x_tr, x_va, x_te = ((x - mean) / std for x in (x_tr, x_va, x_te))
    gold_va, gold_te = _tag_sequences(y_va, l_va), _tag_sequences(y_te, l_te)
    val_scores = {}
    for c in sorted(cs):
        model = LogisticRegression(C=c, max_iter=500).fit(x_tr, y_tr)
        val_scores[float(c)] = float(_micro_f1(_span_counts(gold_va, _tag_sequences(model.predict(x_va), l_va)).sum(0)))
    best = max(val_scores, key=lambda c: (val_scores[c], -c))
    predicted = LogisticRegression(C=best, max_iter=500).fit(x_tr, y_tr).predict(x_te)
    counts = _span_counts(gold_te, _tag_sequences(predicted, l_te))
    total = counts.sum(0)
    idx = np.random.default_rng(seed).integers(0, len(counts), (n_boot, len(counts)))
    boot = _micro_f1(counts[idx].sum(1))
    extra = {"predictions": predicted.tolist()} if return_predictions else {}
    return {**extra, "f1": float(_micro_f1(total)), "f1_ci": float((np.percentile(boot, 97.5) - np.percentile(boot, 2.5)) / 2),
            "precision": float(total[0] / max(total[2], 1)), "recall": float(total[0] / max(total[1], 1)),
            "c": best, "val": {str(c): v for c, v in val_scores.items()}, "n_train_tokens": int(len(y_tr)),
            "n_train_sentences": len(train[2]), "n_test_sentences": len(l_te), "n_gold": int(total[1])}


def f1_on_subsets(labels: Sequence[int], predicted: Sequence[int], lengths: Sequence[int],
                  subsets: Sequence[Sequence[int]]) -> list[float]:
    """Entity micro F1 of a tagger's predictions on each subset of sentences (e.g. each few-shot
    episode's query sentences), so a full-data tagger is scored on exactly what the episodes score.

    Args:
        labels, predicted: tag ids (`NER_TAGS`) of every token of the test sentences, in order.
        lengths: tokens per sentence (they sum to ``len(labels)``).
        subsets: lists of sentence indices.

    Returns:
        One F1 per subset.

    Raises:
        ValueError: when the lengths do not add up to the tokens, or a subset names a sentence that
            does not exist.
    """
    if len(labels) != len(predicted) or sum(lengths) != len(labels):
        raise ValueError(f"{len(labels)} labels, {len(predicted)} predictions and lengths summing to {sum(lengths)}; "
                         "give one label and one prediction per token")
    counts = _span_counts(_tag_sequences(np.asarray(labels), lengths), _tag_sequences(np.asarray(predicted), lengths))
    out = []
    for subset in subsets:
        if any(not 0 <= i < len(lengths) for i in subset):
            raise ValueError(f"subsets name sentences outside 0..{len(lengths) - 1}")
        out.append(float(_micro_f1(counts[list(subset)].sum(0))))
    return out
