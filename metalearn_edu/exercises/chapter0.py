"""The exercise checks of Chapter 0 — welcome.

* 0.1 ★ `check_longest_topic`: the topic whose articles are longest on average.
* 0.2 ★★ `check_pack_blocks`: cut a stream of documents into [CLS] … [SEP] blocks, as
  `metalearn_edu.pretrain.pack_blocks` does for pretraining.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from .framework import ExerciseFailed, expect, ok, run_student, without


def _mean(values: Sequence[int]) -> float:
    return sum(values) / len(values)


def check_longest_topic(fn: Callable[[dict[str, list[int]]], str], lengths: dict[str, list[int]] | None = None) -> None:
    """Exercise 0.1: `fn(lengths)` → the key of `lengths` whose lists have the largest mean.

    `lengths` maps a topic to the token counts of its articles. The check runs `fn` on random
    dictionaries first (where the longest topic is neither the first nor the one with the most
    articles or the single longest article), then on the corpus's `lengths` if given.
    """
    gen = torch.Generator().manual_seed(2004)
    for trial in range(5):
        topics = ["business", "entertainment", "politics", "sport", "tech"]
        made = {}
        for i, topic in enumerate(topics):
            n = int(torch.randint(3, 12, (1,), generator=gen))
            made[topic] = torch.randint(100, 900, (n,), generator=gen).tolist()
        # a trap for the usual mistakes: the most articles, the largest total, the single longest article
        made["sport"] = made["sport"] + [1400] + [120] * 15
        want = max(made, key=lambda k: _mean(made[k]))
        got = run_student(fn, {k: list(v) for k, v in made.items()})
        means = {k: round(_mean(v)) for k, v in made.items()}
        expect(got == want, (
            f"on the made-up lengths {means} (mean tokens per topic; 'sport' also has the single longest article "
            f"and the most articles) you returned {got!r}, expected {want!r}. Hint: compare the means "
            f"sum(lengths[k]) / len(lengths[k]), not totals, counts or maxima"))
    if lengths is not None:
        want = max(lengths, key=lambda k: _mean(lengths[k]))
        got = run_student(fn, lengths)
        expect(got == want, f"on the corpus you returned {got!r}, expected {want!r} (mean lengths: "
                            f"{ {k: round(_mean(v)) for k, v in lengths.items()} })")
        ok(f"'{want}' articles are longest: {_mean(lengths[want]):.0f} tokens on average")
    else:
        ok("your function finds the topic with the longest articles on average (5 random corpora)")


class _IdsTokenizer:
    """Stands in for a tokenizer whose "texts" are already lists of ids (what `pack_blocks` reads)."""

    cls_token_id, sep_token_id = 2, 3

    def __call__(self, texts: Sequence[Any], add_special_tokens: bool = False, verbose: bool = False) -> dict:
        return {"input_ids": [list(t) for t in texts]}


def check_pack_blocks(fn: Callable[[list[list[int]], int, int, int], torch.Tensor]) -> None:
    """Exercise 0.2: `fn(docs, seq_len, cls_id, sep_id)` → (N, seq_len) blocks, as `pack_blocks` cuts them.

    docs: one list of token ids per document. Join them into one stream with `sep_id` after every
    document, cut the stream into pieces of ``seq_len − 2`` ids, drop the incomplete tail, and put
    `cls_id` before and `sep_id` after every piece.
    """
    from ..pretrain import pack_blocks

    gen = torch.Generator().manual_seed(7)
    tokenizer = _IdsTokenizer()
    for trial, seq_len in enumerate((8, 11, 16)):
        n_docs = int(torch.randint(3, 7, (1,), generator=gen))
        docs = [torch.randint(5, 100, (int(torch.randint(1, 25, (1,), generator=gen)),), generator=gen).tolist()
                for _ in range(n_docs)]
        want = pack_blocks(docs, tokenizer, seq_len)
        with without(pack_blocks):
            got = run_student(fn, [list(d) for d in docs], seq_len, tokenizer.cls_token_id, tokenizer.sep_token_id)
        where = f"for {n_docs} documents of lengths {[len(d) for d in docs]} and seq_len={seq_len}"
        if not isinstance(got, torch.Tensor):
            raise ExerciseFailed(f"{where} you returned a {type(got).__name__}; return a (N, seq_len) tensor, "
                                 "e.g. torch.tensor(rows)")
        expect(tuple(got.shape) == tuple(want.shape), (
            f"{where} expected {tuple(want.shape)} blocks (the stream holds {sum(len(d) + 1 for d in docs)} ids with a "
            f"[SEP] after each document, and each block carries seq_len − 2 = {seq_len - 2} of them); got shape "
            f"{tuple(got.shape)}. Hint: drop the tail that does not fill a block"))
        bad = (got.long() != want).nonzero()
        if len(bad):
            r, c = (int(x) for x in bad[0])
            raise ExerciseFailed(f"{where}, block {r}, position {c}: expected id {int(want[r, c])}, got "
                                 f"{int(got[r, c])}; block {r} should be {want[r].tolist()}. Hint: a document's "
                                 f"ids are followed by [SEP] ({tokenizer.sep_token_id}) in the stream, and every "
                                 f"block starts with [CLS] ({tokenizer.cls_token_id}) and ends with [SEP]")
    ok("your packing cuts the stream into the same blocks as pack_blocks (3 random corpora)")
