"""The exercise checks of Chapter 6 — meta-learning as pretraining.

* 6.1 ★ `check_mask_word`: the SMLMT input, every whole-word occurrence of a word masked.
* 6.2 ★★ `check_smlmt_task`: the SMLMT task sampler (N words, K + Q sentences each, labels by word).
* 6.3 ★★ `check_trained_by`: which parameters each term of the hybrid objective trains.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from .framework import ExerciseFailed, expect, ok, run_student, without


def check_mask_word(fn: Callable[[str, str], str]) -> None:
    """Exercise 6.1: `fn(sentence, word)` → the SMLMT input: every whole-word occurrence of `word` → [MASK]."""
    from ..episodes import mask_word

    cases = [("Shares rose; shares fell. Shareholders left.", "shares"),
             ("The Bank said the bank would act.", "bank"),
             ("Nothing to hide here.", "film"),
             ("Film-makers love film festivals.", "film"),
             ("BANK holidays: the bank's doors close.", "bank")]
    for sentence, word in cases:
        want = mask_word(sentence, word)
        with without(mask_word):
            got = run_student(fn, sentence, word)
        expect(got == want, f"for ({sentence!r}, {word!r}) expected {want!r}, got {got!r} — match whole words "
               "in any case, and leave longer words that merely contain it alone")
    ok("your masking builds the same SMLMT inputs as the library")


def _toy_corpus() -> tuple[list[str], dict[str, list[int]]]:
    """Unique numbered sentences; some hold two of the words (so a sentence can be wanted twice), and
    'rare' occurs in only two sentences."""
    words = ["cat", "dog", "fox", "owl", "yak", "emu"]
    sentences: list[str] = []
    for i, w in enumerate(words):
        for _ in range(5):
            sentences.append(f"Sentence {len(sentences)}: the {w} sat here.")
        other = words[(i + 1) % len(words)]
        sentences.append(f"Sentence {len(sentences)}: the {w} met the {other}.")
    sentences += [f"Sentence {len(sentences)}: a rare bird.", f"Sentence {len(sentences) + 1}: rare again."]
    from ..episodes import sentence_words

    index: dict[str, list[int]] = {}
    for i, s in enumerate(sentences):
        for w in sentence_words(s):
            if w in words or w == "rare":
                index.setdefault(w, []).append(i)
    return sentences, index


def check_smlmt_task(fn: Callable[..., Any]) -> None:
    """Exercise 6.2: `fn(sentences, index, n_way, k_shot, q_query, generator)` → ``(texts, labels, words)``.

    `index` maps each word to the ids of the sentences containing it. The sampler picks N different
    words at random (with `generator`) among those that still have K + Q sentences not used by a
    word picked before; for word j it draws K + Q of those sentences at random and masks the word in
    each (`mask_word`): ``texts`` holds them, ``labels`` the j of each text, ``words`` the N words in
    label order. No sentence may serve twice in one task. When fewer than N words can be filled it
    raises `ValueError`.
    """
    from ..episodes import SMLMTEpisodes, mask_word

    sentences, index = _toy_corpus()
    masked_to_id = {(w, mask_word(sentences[i], w)): i for w, ids in index.items() for i in ids}
    seen_sets = set()
    n_way, k_shot, q_query = 3, 2, 1
    for seed in range(8):
        gen = torch.Generator().manual_seed(seed)
        with without(SMLMTEpisodes.episode):
            answer = run_student(fn, list(sentences), {w: list(v) for w, v in index.items()}, n_way, k_shot,
                                 q_query, gen)
        expect(isinstance(answer, tuple) and len(answer) == 3, "return a triple (texts, labels, words)")
        texts, labels, words = (list(x) for x in answer)
        where = f"with generator seed {seed} ({n_way}-way, K={k_shot}, Q={q_query})"
        expect(len(words) == n_way and len(set(words)) == n_way,
               f"{where}: expected {n_way} different words, got {words}")
        expect("rare" not in words, f"{where}: 'rare' occurs in only 2 sentences, fewer than K + Q = "
               f"{k_shot + q_query}: it can never fill a class")
        expect(all(w in index for w in words), f"{where}: every word must come from the index; got {words}")
        expect(len(texts) == len(labels) == n_way * (k_shot + q_query),
               f"{where}: expected {n_way * (k_shot + q_query)} texts and labels (K + Q per word), got "
               f"{len(texts)} texts and {len(labels)} labels")
        used: list[int] = []
        for text, label in zip(texts, labels):
            expect(isinstance(label, int) and 0 <= label < n_way,
                   f"{where}: labels must be ints in 0..{n_way - 1}, got {label!r}")
            word = words[label]
            key = (word, text)
            if key not in masked_to_id:
                hint = ("the word is still in it: mask it with mask_word(sentence, word)" if "[MASK]" not in text
                        else "a text must be a sentence containing words[label], with that word masked")
                raise ExerciseFailed(f"{where}: {text!r} with label {label} ({word!r}) is not a masked sentence "
                                     f"of that word. Hint: {hint}")
            used.append(masked_to_id[key])
        if len(set(used)) != len(used):
            raise ExerciseFailed(f"{where}: a sentence serves twice in one task. Hint: some sentences contain two "
                                 "of the words; keep a set of used sentence ids and skip them for later words")
        counts = [labels.count(j) for j in range(n_way)]
        expect(counts == [k_shot + q_query] * n_way, f"{where}: each label needs K + Q = {k_shot + q_query} "
               f"texts; got counts {counts}")
        seen_sets.add(tuple(sorted(words)))
    expect(len(seen_sets) > 1, "eight generators gave the same words every time: pick the words at random with "
           "the generator (e.g. torch.randperm(len(candidates), generator=generator))")
    try:
        with without(SMLMTEpisodes.episode):
            run_student(fn, list(sentences), {w: list(v) for w, v in index.items()}, 7, 2, 1,
                        torch.Generator().manual_seed(0))
    except ValueError:
        pass
    else:
        raise ExerciseFailed("asked for 7 words when only 6 have enough sentences, your sampler returned a task; "
                             "raise ValueError when fewer than N words can be filled")
    ok(f"your sampler builds valid SMLMT tasks ({len(seen_sets)} different word sets from 8 seeds)")


def _trained_by_truth(model: torch.nn.Module, mlm_loss: Callable[[], Any],
                      meta_loss: Callable[[], Any]) -> tuple[set[str], set[str], set[str]]:
    names, params = zip(*model.named_parameters())
    reached = []
    for loss in (mlm_loss, meta_loss):
        grads = torch.autograd.grad(loss(), params, allow_unused=True)
        reached.append({n for n, g in zip(names, grads) if g is not None and bool(g.abs().sum() > 0)})
    mlm, meta = reached
    return mlm - meta, meta - mlm, mlm & meta


class _Toy(torch.nn.Module):
    """An embedding, a body and two heads: the shape of the hybrid objective in miniature."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(12, 6)
        self.body = torch.nn.Linear(6, 6)
        self.word_head = torch.nn.Linear(6, 12)
        self.class_head = torch.nn.Linear(6, 3)
        self.spare = torch.nn.Linear(6, 6)


def check_trained_by(fn: Callable[[torch.nn.Module, Callable, Callable], tuple]) -> None:
    """Exercise 6.3: `fn(model, mlm_loss, meta_loss)` → ``(mlm_only, meta_only, both)``.

    `mlm_loss` and `meta_loss` take no argument and return a scalar whose graph reaches the model's
    parameters. Return three sets of parameter names (as in ``model.named_parameters()``): those that
    get a non-zero gradient from the MLM term only, from the meta term only, and from both. A
    parameter the loss touches with an exactly-zero gradient is not trained by it.
    """
    gen = torch.Generator().manual_seed(63)
    for case in range(3):
        torch.manual_seed(630 + case)
        toy = _Toy()
        x = torch.randint(0, 12, (4, 5), generator=gen)
        words = torch.randint(0, 12, (4, 5), generator=gen)
        classes = torch.randint(0, 3, (4,), generator=gen)

        def mlm_loss() -> torch.Tensor:
            h = torch.tanh(toy.body(toy.emb(x)))
            extra = toy.spare(h).sum() * 0.0 if case == 1 else 0.0   # touched, never trained
            return torch.nn.functional.cross_entropy(toy.word_head(h).flatten(0, 1), words.flatten()) + extra

        def meta_loss() -> torch.Tensor:
            h = torch.tanh(toy.body(toy.emb(x))).mean(1)
            if case == 2:                                            # the meta term also uses the spare layer
                h = h + torch.tanh(toy.spare(h))
            return torch.nn.functional.cross_entropy(toy.class_head(h), classes)

        want = _trained_by_truth(toy, mlm_loss, meta_loss)
        for p in toy.parameters():                                   # stale gradients must not leak in
            p.grad = torch.ones_like(p)
        got = run_student(fn, toy, mlm_loss, meta_loss)
        expect(isinstance(got, tuple) and len(got) == 3, "return a triple (mlm_only, meta_only, both) of sets of names")
        got = tuple(set(g) for g in got)
        for label, w, g in zip(("MLM only", "meta only", "both"), want, got):
            if w != g:
                hint = ("a gradient of exactly zero (the loss multiplies the layer by 0) trains nothing"
                        if case == 1 and "spare.weight" in g else
                        "take each term's gradient on its own (torch.autograd.grad with allow_unused=True): "
                        ".grad may already hold an earlier step's gradient")
                raise ExerciseFailed(f"case {case + 1}: '{label}' should be {sorted(w)}, got {sorted(g)}. Hint: {hint}")
    ok("your sets match on three toy objectives (an unused layer, a zero-gradient layer, a layer only the meta term uses)")
