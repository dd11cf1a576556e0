"""Token-level tasks: BIO tags, entity-level F1, label alignment and few-shot NER episodes.

Named-entity recognition (NER) labels every token: ``O`` outside entities,
``B-X`` at the first token of an entity of type X, ``I-X`` inside it (the BIO or
IOB2 scheme). This module gives the pieces a few-shot NER chapter needs:

* `bio_to_spans` / `span_f1`: entities as ``(start, end, type)`` spans and the
  standard entity-level micro precision / recall / F1 (exact span *and* type);
* `align_labels`: character-level tags → one label per tokenizer token, via the
  fast tokenizer's offsets;
* `NEREpisodes`: N-way K-shot NER episodes sampled the way Few-NERD does
  (Ding et al., 2021), replayable like the samplers in `metalearn_edu.episodes`.

Sentences are anything with ``.text`` and ``.tags`` attributes (one BIO tag per
character), such as `metalearn_edu.data.chinese.TaggedSentence`, or
``(text, tags)`` pairs.

Example:
    >>> bio_to_spans(["B-PER", "I-PER", "O", "B-LOC"])
    [(0, 2, 'PER'), (3, 4, 'LOC')]
    >>> span_f1([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["f1"]
    0.0
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import Tensor

from .checks import check_int
from .episodes import Episode, episode_generator

IGNORE_INDEX = -100  # the label of special tokens and padding (PyTorch's cross-entropy default)


# ---------------------------------------------------------------------------------------
# Spans and entity-level F1
# ---------------------------------------------------------------------------------------
def _parse_tag(tag: Any, position: int) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    if isinstance(tag, str) and len(tag) > 2 and tag[:2] in ("B-", "I-"):
        return tag[0], tag[2:]
    raise ValueError(f"tag {tag!r} at position {position} is not BIO; use 'O', 'B-<type>' or 'I-<type>'")


def bio_to_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """The entities of a BIO tag sequence as ``(start, end, type)``, end exclusive.

    Rules (those of seqeval's default, lenient mode, for IOB2):

    * ``B-X`` starts an entity of type X (closing any open one);
    * ``I-X`` continues the open entity if it has type X; otherwise (after
      ``O``, at the start, or after an entity of another type) it *starts* a new
      entity of type X, so an ill-formed ``O I-X`` still counts as one entity;
    * ``O`` closes the open entity.

    Args:
        tags: e.g. ``["B-PER", "I-PER", "O"]``.

    Raises:
        ValueError: for a tag that is not ``O``, ``B-<type>`` or ``I-<type>`` (its position is named).

    Example:
        >>> bio_to_spans(["O", "I-LOC", "I-LOC", "B-LOC", "I-PER"])
        [(1, 3, 'LOC'), (3, 4, 'LOC'), (4, 5, 'PER')]
    """
    spans: list[tuple[int, int, str]] = []
    start, kind = None, ""
    for i, tag in enumerate(tags):
        prefix, t = _parse_tag(tag, i)
        if prefix == "I" and start is not None and t == kind:
            continue
        if start is not None:
            spans.append((start, i, kind))
            start = None
        if prefix != "O":
            start, kind = i, t
    if start is not None:
        spans.append((start, len(tags), kind))
    return spans


def _ratios(n_correct: int, n_gold: int, n_pred: int) -> dict[str, float | int]:
    if n_pred:
        precision = n_correct / n_pred
    else:
        precision = 1.0 if n_gold == 0 else 0.0
    if n_gold:
        recall = n_correct / n_gold
    else:
        recall = 1.0 if n_pred == 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1,
            "n_gold": n_gold, "n_pred": n_pred, "n_correct": n_correct}


def span_f1(gold_tag_seqs: Sequence[Sequence[str]], pred_tag_seqs: Sequence[Sequence[str]],
            per_type: bool = False) -> dict[str, Any]:
    """Entity-level micro precision, recall and F1 (the CoNLL / seqeval measure).

    Entities come from `bio_to_spans`. A predicted entity is correct only if a
    gold entity of the same sentence has exactly the same start, end *and*
    type: a partly overlapping or wrongly typed prediction counts once as a false
    positive and the gold entity once as missed. Counts are summed over all
    sentences (micro average).

    Empty cases: precision is n_correct / n_pred, recall n_correct / n_gold, F1
    their harmonic mean (0 when both are 0). With no predictions, precision is
    1 if there are also no gold entities, else 0; with no gold entities, recall
    is 1 if there are also no predictions, else 0. So nothing to find and
    nothing found scores 1.0 everywhere (seqeval reports 0.0 there), and an empty
    prediction on text with entities scores 0.0.

    Args:
        gold_tag_seqs, pred_tag_seqs: one BIO tag sequence per sentence, the two
            of each sentence of equal length.
        per_type: also return ``"per_type": {type: {...same keys...}}`` for every
            type seen in gold or predictions.

    Returns:
        ``{"precision", "recall", "f1", "n_gold", "n_pred", "n_correct"}``.

    Raises:
        ValueError: for different numbers of sentences, a length mismatch (the
            sentence is named) or a tag that is not BIO.

    Example:
        >>> gold = [["B-PER", "I-PER", "O", "B-LOC"]]
        >>> pred = [["B-PER", "I-PER", "O", "B-ORG"]]
        >>> r = span_f1(gold, pred)
        >>> r["n_correct"], r["precision"], r["recall"]
        (1, 0.5, 0.5)
    """
    if isinstance(gold_tag_seqs, str) or isinstance(pred_tag_seqs, str):
        raise TypeError("give lists of tag sequences (one per sentence), not a string")
    if len(gold_tag_seqs) != len(pred_tag_seqs):
        raise ValueError(f"{len(gold_tag_seqs)} gold sentences but {len(pred_tag_seqs)} predicted ones")
    gold_all: set[tuple[int, int, int, str]] = set()
    pred_all: set[tuple[int, int, int, str]] = set()
    for i, (gold, pred) in enumerate(zip(gold_tag_seqs, pred_tag_seqs)):
        if isinstance(gold, str) or isinstance(pred, str):
            raise TypeError(f"sentence {i}: give a sequence of tags, not a string")
        if len(gold) != len(pred):
            raise ValueError(f"sentence {i}: {len(gold)} gold tags but {len(pred)} predicted tags")
        gold_all.update((i, *span) for span in bio_to_spans(gold))
        pred_all.update((i, *span) for span in bio_to_spans(pred))
    correct = gold_all & pred_all
    result: dict[str, Any] = _ratios(len(correct), len(gold_all), len(pred_all))
    if per_type:
        types = sorted({s[3] for s in gold_all | pred_all})
        result["per_type"] = {
            t: _ratios(sum(s[3] == t for s in correct), sum(s[3] == t for s in gold_all),
                       sum(s[3] == t for s in pred_all))
            for t in types
        }
    return result


def tag_sequences(labels: Tensor, predictions: Tensor, classes: Sequence[str]) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted tag names of an episode's rows, without the ignored positions.

    Args:
        labels: (M, T) label ids with `IGNORE_INDEX` at special tokens and padding
            (e.g. ``episode.query_y``).
        predictions: (M, T) predicted ids (e.g. ``logits.argmax(-1)``).
        classes: the tag names behind the ids (``episode.classes``).

    Returns:
        ``(gold, pred)``: per row, the tags at the positions whose label is not
        ignored (a predicted id outside ``0..len(classes)-1`` reads as ``"O"``);
        ready for `span_f1`.
    """
    if labels.shape != predictions.shape:
        raise ValueError(f"labels have shape {tuple(labels.shape)} but predictions {tuple(predictions.shape)}")
    gold_out, pred_out = [], []
    for row_y, row_p in zip(labels.tolist(), predictions.tolist()):
        keep = [(y, p) for y, p in zip(row_y, row_p) if y != IGNORE_INDEX]
        gold_out.append([classes[y] for y, _ in keep])
        pred_out.append([classes[p] if 0 <= p < len(classes) else "O" for _, p in keep])
    return gold_out, pred_out


# ---------------------------------------------------------------------------------------
# Character tags -> token labels
# ---------------------------------------------------------------------------------------
def _encode_with_offsets(tokenizer: Any, text: str, max_len: int) -> tuple[list[int], list[int | None]]:
    """Token ids and, per token, the index of its first character (None for special tokens)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("align_labels needs a fast tokenizer (one with offset mappings), e.g. "
                         "metalearn_edu.data.chinese.load_chinese_tokenizer()")
    enc = tokenizer(text, truncation=True, max_length=max_len, return_offsets_mapping=True,
                    return_special_tokens_mask=True)
    firsts: list[int | None] = []
    for (start, end), special in zip(enc["offset_mapping"], enc["special_tokens_mask"]):
        firsts.append(None if special or end <= start else start)
    return list(enc["input_ids"]), firsts


def align_labels(tokenizer: Any, text: str, char_tags: Sequence[Any], max_len: int = 128,
                 label_map: Mapping[str, int] | None = None) -> tuple[list[int], list[int]]:
    """Encode `text` and give every token the label of its characters.

    Rules:

    * each token takes the tag of its *first* character (its offset start), so a
      WordPiece ``clinton`` → ``clin ##ton`` over ``B-PER I-PER ...`` gets
      ``B-PER, I-PER``: every token is labelled, not only the first piece of a word;
    * special tokens ([CLS], [SEP]) get `IGNORE_INDEX` (-100), as does padding
      when `NEREpisodes` pads the rows;
    * the text is truncated to `max_len` tokens, specials included; characters
      after the cut are dropped with their tags.

    Args:
        tokenizer: a fast (`tokenizers`-backed) tokenizer, e.g. `load_chinese_tokenizer()`.
        text: the sentence.
        char_tags: one label per character of `text`: integer ids, or tag names
            mapped with `label_map`.
        max_len: the most tokens, specials included (≥ 3).
        label_map: tag name → id, needed when `char_tags` are names.

    Returns:
        ``(input_ids, token_labels)``, two lists of the same length.

    Raises:
        ValueError: for a length mismatch, a name missing from `label_map`, a
            slow tokenizer, or too small a `max_len`.

    Example:
        >>> from metalearn_edu.data.chinese import load_chinese_tokenizer
        >>> tok = load_chinese_tokenizer()
        >>> ids, labels = align_labels(tok, "李鹏在京", [1, 2, 0, 3])
        >>> labels
        [-100, 1, 2, 0, 3, -100]
    """
    check_int("max_len", max_len, minimum=3, hint=" (room for [CLS], [SEP] and one token)")
    if len(char_tags) != len(text):
        raise ValueError(f"{len(char_tags)} tags for a text of {len(text)} characters; give one tag per character")
    if label_map is not None:
        missing = sorted({str(t) for t in char_tags if t not in label_map})
        if missing:
            raise ValueError(f"tags {missing[:5]} are not in label_map (keys: {sorted(label_map)[:10]})")
        ids_per_char = [label_map[t] for t in char_tags]
    else:
        if any(isinstance(t, bool) or not isinstance(t, int) for t in char_tags):
            raise ValueError("char_tags are not integer ids; pass label_map={tag name: id} to map names to ids")
        ids_per_char = list(char_tags)
    input_ids, firsts = _encode_with_offsets(tokenizer, text, max_len)
    labels = [IGNORE_INDEX if first is None else ids_per_char[first] for first in firsts]
    return input_ids, labels


# ---------------------------------------------------------------------------------------
# Few-NERD-style episodes
# ---------------------------------------------------------------------------------------
def _text_and_tags(sentence: Any, i: int) -> tuple[str, Sequence[str]]:
    if hasattr(sentence, "text") and hasattr(sentence, "tags"):
        text, tags = sentence.text, sentence.tags
    elif isinstance(sentence, (tuple, list)) and len(sentence) == 2:
        text, tags = sentence
    else:
        raise TypeError(f"sentences[{i}] is a {type(sentence).__name__}; give objects with .text and .tags "
                        "(e.g. TaggedSentence) or (text, tags) pairs")
    if not isinstance(text, str) or len(tags) != len(text):
        raise ValueError(f"sentences[{i}]: give a text and one tag per character ({len(tags)} tags, "
                         f"{len(text) if isinstance(text, str) else '?'} characters)")
    return text, tags


class NEREpisodes:
    """N-way K-shot NER episodes, sampled greedily as in Few-NERD (Ding et al., 2021).

    Scheme of episode ``index`` (everything random comes from
    ``episode_generator(seed, index, "ner")``, so an episode is a pure function of
    ``(seed, index)`` for a given list of sentences, tokenizer and sizes):

    1. **Types.** Draw N of the available entity types in random order; type j
       (0-based) gets tag ids ``2j+1`` (``B-type``) and ``2j+2`` (``I-type``); ``O``
       is 0. So an episode has 2N+1 classes, ``Episode.classes = ["O", "B-t1",
       "I-t1", "B-t2", ...]``, and ids mean different types in different episodes.
       Entities of the types not drawn are relabelled ``O``.
    2. **Order.** Draw one random permutation of all sentences.
    3. **Support set (greedy).** Walk the permutation; a sentence is a candidate
       if it contains a mention of a drawn type whose count is still below K. Add
       it if, with its mentions, every drawn type's count stays ≤ 2K; otherwise
       skip it. Stop as soon as every drawn type has ≥ K mentions. Counts are
       entity mentions (`bio_to_spans`) in the sentence's *token* labels after
       truncation to `max_len`, i.e. what the model sees.
    4. **Query set.** The same walk again, from the start of the permutation,
       skipping support sentences, with Q in place of K (so each type has Q to
       2Q mentions). Support and query never share a sentence.

    Few-NERD fills the classes one at a time; step 3 instead takes any sentence
    that helps a type still below K, which gives the same guarantee
    (K ≤ count ≤ 2K for every drawn type) in one pass. Sentences without a drawn
    type are never added. The number of sentences M therefore varies per episode.

    With only three types (People's Daily: PER, LOC, ORG) meta-train and meta-test
    cannot use disjoint types; use disjoint sentences instead (the train split's
    for meta-training, the test split's for meta-testing) and say so.

    Args:
        sentences: objects with ``.text`` and ``.tags`` (one BIO tag per
            character), e.g. ``peoples_daily_sentences("train")``, or
            ``(text, tags)`` pairs.
        tokenizer: a fast BERT-style tokenizer (`align_labels` uses its offsets).
        n_way: N entity types per episode (≥ 1).
        k_shot: K, the fewest mentions of each type in the support set (≤ 2K).
        q_query: Q, the same for the query set.
        max_len: tokens per sentence, specials included.
        seed: episode ``index`` of a sampler with this seed is always the same.
        types: the entity types to draw from (default: every type present).

    Episode tensors (M support rows, M' query rows, T the longest row):
        support_x, support_mask: (M, T) token ids and attention mask;
        support_y: (M, T) int64 tag ids in 0..2N, `IGNORE_INDEX` (-100) at
        [CLS], [SEP] and padding; the same for query. ``info`` holds
        ``index``, ``types`` (the drawn types in label order), ``support_ids`` /
        ``query_ids`` (indices into `sentences`), ``support_texts`` /
        ``query_texts`` and ``support_counts`` / ``query_counts`` ({type: mentions}).
        Note that ``Episode.n_way`` is ``len(classes)`` = 2N+1, the size of the
        tagging head, not N.

    Raises:
        ValueError: for bad sizes, fewer than N types, or a type with fewer than
            K + Q mentions in all the sentences (the type and counts are named);
            `episode` raises one naming the type and counts when the greedy walk
            cannot reach K (or Q) mentions of a type.

    Example:
        >>> from metalearn_edu.data.chinese import peoples_daily_sentences, load_chinese_tokenizer
        >>> sampler = NEREpisodes(peoples_daily_sentences("val"), load_chinese_tokenizer(), 2, 2, 3)
        >>> ep = sampler.episode(0)
        >>> len(ep.classes), ep.support_y.dtype
        (5, torch.int64)
    """

    def __init__(self, sentences: Sequence[Any], tokenizer: Any, n_way: int, k_shot: int, q_query: int,
                 max_len: int = 128, seed: int = 0, types: Iterable[str] | None = None):
        check_int("n_way", n_way, hint="; an episode needs at least one entity type")
        check_int("k_shot", k_shot, hint="; each type needs at least one support mention")
        check_int("q_query", q_query, hint="; each type needs at least one query mention")
        check_int("max_len", max_len, minimum=3, hint=" (room for [CLS], [SEP] and one token)")
        check_int("seed", seed, minimum=None)
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("NEREpisodes needs a fast tokenizer (offset mappings), e.g. load_chinese_tokenizer()")
        self.tokenizer, self.n_way, self.k_shot, self.q_query = tokenizer, n_way, k_shot, q_query
        self.max_len, self.seed = max_len, seed
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

        self.texts: list[str] = []
        self.tags: list[Sequence[str]] = []
        totals: dict[str, int] = {}
        self._types_in: list[frozenset[str]] = []  # entity types per sentence (characters, before truncation)
        for i, sentence in enumerate(sentences):
            text, tags = _text_and_tags(sentence, i)
            self.texts.append(text)
            self.tags.append(tags)
            kinds = [t for _, _, t in bio_to_spans(tags)]
            for t in kinds:
                totals[t] = totals.get(t, 0) + 1
            self._types_in.append(frozenset(kinds))
        if types is None:
            available = sorted(totals)
        else:
            available = sorted({str(t) for t in types})
            unknown = [t for t in available if t not in totals]
            if unknown:
                raise ValueError(f"types {unknown} have no mentions in the sentences; choose from {sorted(totals)}")
        if len(available) < n_way:
            raise ValueError(f"n_way={n_way} but the sentences have only {len(available)} entity types "
                             f"({available}); lower n_way to at most {len(available)}")
        need = k_shot + q_query
        short = [(t, totals[t]) for t in available if totals[t] < need]
        if short:
            name, count = min(short, key=lambda item: item[1])
            raise ValueError(
                f"k_shot + q_query = {k_shot} + {q_query} = {need} mentions of each type are needed but type "
                f"{name!r} has only {count} mentions in the {len(self.texts)} sentences; lower k_shot or q_query, "
                "leave the type out with types=, or give more sentences"
            )
        self.types = available
        self.totals = {t: totals[t] for t in available}
        self._encoded: dict[int, tuple[list[int], list[int | None]]] = {}

    def _encode(self, i: int) -> tuple[list[int], list[int | None]]:
        if i not in self._encoded:
            self._encoded[i] = _encode_with_offsets(self.tokenizer, self.texts[i], self.max_len)
        return self._encoded[i]

    def _labels(self, i: int, tag_ids: dict[str, int]) -> list[int]:
        tags = self.tags[i]
        return [IGNORE_INDEX if first is None else tag_ids.get(tags[first], 0) for first in self._encode(i)[1]]

    def _greedy(self, order: list[int], chosen: list[str], tag_ids: dict[str, int], classes: list[str],
                k: int, used: set[int], side: str, index: int) -> tuple[list[int], dict[str, int]]:
        chosen_set = set(chosen)
        counts = {t: 0 for t in chosen}
        picked: list[int] = []
        for i in order:
            if i in used or not (self._types_in[i] & {t for t in chosen if counts[t] < k}):
                continue
            labels = [classes[y] for y in self._labels(i, tag_ids) if y != IGNORE_INDEX]
            mentions: dict[str, int] = {}
            for _, _, t in bio_to_spans(labels):
                if t in chosen_set:
                    mentions[t] = mentions.get(t, 0) + 1
            if not any(counts[t] < k and mentions.get(t, 0) for t in chosen):
                continue  # the needed mentions were cut off by truncation
            if any(counts[t] + mentions.get(t, 0) > 2 * k for t in chosen):
                continue
            picked.append(i)
            for t, c in mentions.items():
                counts[t] += c
            if all(counts[t] >= k for t in chosen):
                return picked, counts
        short = [t for t in chosen if counts[t] < k]
        t = short[0]
        letter = "K" if side == "support" else "Q"
        raise ValueError(
            f"episode {index}: the {side} set reached only {counts[t]} mentions of type {t!r} (needs {letter} = {k}, "
            f"at most 2{letter} = {2 * k} of every drawn type {chosen}); the {len(self.texts)} sentences have "
            f"{self.totals[t]} mentions of {t!r} in all; lower k_shot or q_query, or give more sentences"
        )

    def episode(self, index: int) -> Episode:
        """Episode ``index`` (any integer ≥ 0); see the class docstring for the scheme and tensors."""
        check_int("index", index, minimum=0)
        g = episode_generator(self.seed, index, "ner")
        chosen = [self.types[j] for j in torch.randperm(len(self.types), generator=g)[: self.n_way].tolist()]
        classes = ["O"]
        for t in chosen:
            classes += [f"B-{t}", f"I-{t}"]
        tag_ids = {name: c for c, name in enumerate(classes)}
        order = torch.randperm(len(self.texts), generator=g).tolist()
        support, s_counts = self._greedy(order, chosen, tag_ids, classes, self.k_shot, set(), "support", index)
        query, q_counts = self._greedy(order, chosen, tag_ids, classes, self.q_query, set(support), "query", index)

        def tensors(rows: list[int]) -> tuple[Tensor, Tensor, Tensor]:
            width = max(len(self._encode(i)[0]) for i in rows)
            x = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
            y = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                ids = self._encode(i)[0]
                x[r, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                y[r, : len(ids)] = torch.tensor(self._labels(i, tag_ids), dtype=torch.long)
                mask[r, : len(ids)] = 1
            return x, y, mask

        sx, sy, sm = tensors(support)
        qx, qy, qm = tensors(query)
        info = {
            "index": index,
            "types": chosen,
            "support_ids": support,
            "query_ids": query,
            "support_texts": [self.texts[i] for i in support],
            "query_texts": [self.texts[i] for i in query],
            "support_counts": s_counts,
            "query_counts": q_counts,
        }
        return Episode(sx, sy, qx, qy, sm, qm, classes, info)
