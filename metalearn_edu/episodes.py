"""Few-shot episodes: a support set to adapt on and a query set to be judged on.

An `Episode` is one task. Three samplers make them, each replayable: episode
``index`` of a sampler with seed ``s`` is always the same tensors, because its
randomness comes from a `torch.Generator` derived from ``(s, index)`` alone
(`episode_generator`), not from what was sampled before.

* `SinusoidTasks`: regression on y = A·sin(x − φ) (Finn et al. 2017, §5.1).
* `TextClassificationEpisodes`: N-way K-shot classification of labelled documents
  (BBC topics by default), with the N classes relabelled 0..N−1 in a fresh random
  order in every episode, so a model cannot memorise "label 2 = politics".
* `SMLMTEpisodes`: self-supervised tasks from unlabelled sentences (Bansal et al.
  2020): pick N words, mask them in sentences that contain them, and ask which of
  the N words was masked. Unlimited tasks from plain text.

Meta-train and meta-test tasks must not overlap. For sinusoids use two seeds.
For text the usual rule is disjoint *classes* (`split_classes`), which needs
more classes than BBC's five topics: with BBC, meta-train on the train split's
documents and meta-test on the test split's (same topics, disjoint documents),
and say so when reporting. For SMLMT use disjoint *words* (`split_words`).

Shape letters: N n_way, K k_shot, Q q_query (per class for text, in total for
sinusoids), T tokens per sequence.

Example:
    >>> tasks = SinusoidTasks(seed=0)
    >>> ep = tasks.episode(3, k_shot=5, k_query=10)
    >>> ep.support_x.shape, ep.query_y.shape
    (torch.Size([5, 1]), torch.Size([10, 1]))
    >>> torch.equal(ep.support_x, tasks.episode(3, k_shot=5, k_query=10).support_x)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .checks import check_int
from .data.documents import Document
from .data.sentences import (STOP_WORDS, lead_text, mask_word, segmented_words,  # noqa: F401 (re-exported)
                             sentence_words, split_sentences)
from .runtime import derived_generator


# ---------------------------------------------------------------------------------------
# Episodes and seeds
# ---------------------------------------------------------------------------------------
class TaskData(NamedTuple):
    """One side of an episode (its support or its query set), as loss functions take it.

    Attributes:
        x: inputs: (M, 1) floats for sinusoids, (M, T) token ids for text.
        y: targets: (M, 1) floats, or (M,) int64 labels in 0..N−1.
        mask: (M, T) attention mask for text (1 = real token), None otherwise.
    """

    x: Tensor
    y: Tensor
    mask: Tensor | None = None


@dataclass
class Episode:
    """One few-shot task.

    Attributes:
        support_x, support_y: the examples to adapt on.
        query_x, query_y: the examples the adapted model is scored on.
        support_mask, query_mask: attention masks for text, else None.
        classes: the names behind labels 0..N−1 (topics or masked words); empty
            for regression.
        info: facts about how the episode was made (e.g. ``amplitude``/``phase``
            for a sinusoid; document or sentence ids and texts for text).

    Shapes:
        sinusoid: support_x, support_y (K, 1); query_x, query_y (Q, 1).
        text: support_x, support_mask (N·K, T); support_y (N·K,); query_x,
        query_mask (N·Q, T'); query_y (N·Q,). Examples are grouped by label:
        rows ``[c·K, (c+1)·K)`` of the support set have label c.
    """

    support_x: Tensor
    support_y: Tensor
    query_x: Tensor
    query_y: Tensor
    support_mask: Tensor | None = None
    query_mask: Tensor | None = None
    classes: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def support(self) -> TaskData:
        """``TaskData(support_x, support_y, support_mask)``."""
        return TaskData(self.support_x, self.support_y, self.support_mask)

    @property
    def query(self) -> TaskData:
        """``TaskData(query_x, query_y, query_mask)``."""
        return TaskData(self.query_x, self.query_y, self.query_mask)

    @property
    def n_way(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes)

    def to(self, device: torch.device | str) -> "Episode":
        """A copy with every tensor moved to `device`."""
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return Episode(move(self.support_x), move(self.support_y), move(self.query_x), move(self.query_y),
                       move(self.support_mask), move(self.query_mask), list(self.classes), dict(self.info))


class MetaBatch(Sequence[Episode]):
    """A meta-batch of B episodes kept *stacked*: every tensor has a leading task dimension.

    It behaves like the list of its episodes (``len``, iteration and indexing give Episode views,
    so the per-episode loop reads it unchanged), and `maml_step` and `reptile_step` hand its
    `stacked` tensors to the batched path without stacking anything
    (`metalearn_edu.meta.vectorized`); `evaluate_adaptation` reads it as the list it is. Make one
    with ``SinusoidTasks.batch(..., stacked=True)`` or `MetaBatch.from_episodes`.

    Attributes:
        stacked: one `Episode` whose tensors have shape (B, …): support_x (B, M, …), support_y
            (B, M) or (B, M, …), masks (B, M, T) or None; `classes` is shared by the episodes.
        infos: the B episodes' own ``info`` dicts.
    """

    def __init__(self, stacked: Episode, infos: Sequence[dict[str, Any]] | None = None):
        n = stacked.support_x.shape[0]
        if infos is not None and len(infos) != n:
            raise ValueError(f"infos has {len(infos)} entries for a meta-batch of {n} episodes")
        self.stacked = stacked
        self.infos = list(infos) if infos is not None else [{} for _ in range(n)]

    @classmethod
    def from_episodes(cls, episodes: Sequence[Episode]) -> "MetaBatch":
        """Stack `episodes` (same classes count and shapes; text is right-padded), or raise ValueError."""
        stacked = stack_episodes(list(episodes), min_size=1)
        if stacked is None:
            raise ValueError("these episodes cannot be stacked: they differ in number of classes, numbers of "
                             "examples or tensor kinds; keep them as a list")
        return cls(stacked, [ep.info for ep in episodes])

    def __len__(self) -> int:
        return self.stacked.support_x.shape[0]

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        s = self.stacked
        if not -len(self) <= index < len(self):
            raise IndexError(f"episode {index} of a meta-batch of {len(self)}")

        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[index]

        return Episode(s.support_x[index], s.support_y[index], s.query_x[index], s.query_y[index],
                       pick(s.support_mask), pick(s.query_mask), list(s.classes), self.infos[index])


# ---------------------------------------------------------------------------------------
# Stacking episodes into one meta-batch (the one rule `MetaBatch` and `meta.vectorized` use)
# ---------------------------------------------------------------------------------------
PAD_LABEL = -100  # padding value for token-level labels (cross-entropy's ignore_index)


def _pad_to(t: Tensor, length: int, dim: int, value: float) -> Tensor:
    missing = length - t.shape[dim]
    if missing == 0:
        return t
    pad = [0, 0] * (t.dim() - 1 - dim) + [0, missing]
    return F.pad(t, pad, value=value)


def _stack_side(xs: list[Tensor], ys: list[Tensor], masks: list[Tensor | None]) -> tuple[Tensor, Tensor, Tensor | None]:
    """Stack one side (support or query) of B episodes; pad the token axis of text episodes."""
    if masks[0] is None:
        return torch.stack(xs), torch.stack(ys), None
    length = max(m.shape[1] for m in masks)
    x = torch.stack([_pad_to(t, length, 1, 0) for t in xs])  # (B, M, T) ids or (B, M, T, D) hidden states
    mask = torch.stack([_pad_to(m, length, 1, 0) for m in masks])  # (B, M, T)
    y = torch.stack([_pad_to(t, length, 1, PAD_LABEL) if t.dim() == 2 else t for t in ys])
    return x, y, mask


def _signature(ep: Episode) -> tuple:
    """What must agree between episodes for them to stack (the token axis of text may differ).

    Kept cheap (a meta-step checks 25 sine episodes): shapes, dtypes and the device; a device
    mismatch elsewhere makes `torch.stack` fail, and `stack_episodes` then declines too.
    """
    sx, sy, qx, qy, sm, qm = ep.support_x, ep.support_y, ep.query_x, ep.query_y, ep.support_mask, ep.query_mask
    kinds = (sx.dtype, sy.dtype, qx.dtype, qy.dtype, sx.device)
    if sm is None and qm is None:
        return (len(ep.classes), sx.shape, sy.shape, qx.shape, qy.shape, kinds)
    return (len(ep.classes), sx.shape[0], sx.shape[2:], sy.shape[0], sy.dim(), sm is None,
            qx.shape[0], qx.shape[2:], qy.shape[0], qy.dim(), qm is None, kinds)


def stack_episodes(episodes: Sequence[Any], min_size: int = 2) -> Episode | None:
    """One `Episode` whose tensors have a leading task dimension, or None if they cannot be stacked.

    Episodes stack when they are `Episode` objects with the same number of classes, the same
    number of support and query examples, the same kinds of tensors (masks or not, ids or hidden
    states) and the same shapes apart from the token axis of text, which is right-padded (ids and
    mask with 0, token-level labels with −100).

    A `MetaBatch` is returned as it is stored (``.stacked``); fewer than `min_size` episodes give None.

    Shapes:
        support_x: (B, M, …); support_y: (B, M) or (B, M, T); support_mask: (B, M, T) or None.
    """
    if isinstance(episodes, MetaBatch):
        return episodes.stacked
    if len(episodes) < min_size or not all(isinstance(ep, Episode) for ep in episodes):
        return None
    first = episodes[0]
    expected = _signature(first)
    if any(_signature(ep) != expected for ep in episodes[1:]):
        return None
    try:
        support = _stack_side([ep.support_x for ep in episodes], [ep.support_y for ep in episodes],
                              [ep.support_mask for ep in episodes])
        query = _stack_side([ep.query_x for ep in episodes], [ep.query_y for ep in episodes],
                            [ep.query_mask for ep in episodes])
    except RuntimeError:  # different dtypes or devices
        return None
    return Episode(support[0], support[1], query[0], query[1], support[2], query[2], list(first.classes),
                   {"episodes": [ep.info for ep in episodes]})


def episode_generator(seed: int, index: int, salt: str = "") -> torch.Generator:
    """A CPU generator that depends only on ``(salt, seed, index)`` (`metalearn_edu.runtime.derived_generator`).

    The three are hashed (SHA-256) into a 63-bit seed, so neighbouring seeds and
    indices give unrelated streams and no two (seed, index) pairs collide the
    way ``seed * 1000 + index`` would.

    Example:
        >>> a = torch.rand(2, generator=episode_generator(0, 7))
        >>> torch.equal(a, torch.rand(2, generator=episode_generator(0, 7)))
        True
    """
    check_int("seed", seed, minimum=None)
    check_int("index", index, minimum=0)
    return derived_generator(seed, index, salt)


def _check_range(name: str, value: Any, allow_equal: bool = True) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not allowed; give a (low, high) pair of numbers") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or (hi == lo and not allow_equal):
        raise ValueError(f"{name}={value!r} is not allowed; give finite numbers with low ≤ high")
    return lo, hi


# ---------------------------------------------------------------------------------------
# Sinusoids (Finn et al. 2017)
# ---------------------------------------------------------------------------------------
class SinusoidTasks:
    """Regression tasks y = A·sin(x − φ), the toy problem of the MAML paper.

    A task draws A ~ U[amplitude], φ ~ U[phase]; its support and query points
    draw x ~ U[x_range] independently. Episode ``index`` is a pure function of
    ``(seed, index)``: the task (A, φ) does not even depend on ``k_shot``, so
    "task 7 with 5 shots" and "task 7 with 10 shots" are the same sine wave.
    Use one seed for meta-training and another for meta-testing.

    Args:
        amplitude: (low, high) of A; Finn et al. use (0.1, 5.0).
        phase: (low, high) of φ in radians; Finn et al. use (0, π).
        x_range: (low, high) of the inputs; Finn et al. use (−5, 5).
        seed: selects the family of tasks.

    Example:
        >>> ep = SinusoidTasks(seed=1).episode(0, k_shot=10)
        >>> torch.allclose(ep.support_y, SinusoidTasks.true_curve(ep, ep.support_x))
        True
    """

    def __init__(self, amplitude: tuple[float, float] = (0.1, 5.0), phase: tuple[float, float] = (0.0, math.pi),
                 x_range: tuple[float, float] = (-5.0, 5.0), seed: int = 0):
        self.amplitude = _check_range("amplitude", amplitude)
        self.phase = _check_range("phase", phase)
        self.x_range = _check_range("x_range", x_range, allow_equal=False)
        check_int("seed", seed, minimum=None)
        self.seed = seed

    def episode(self, index: int, k_shot: int, k_query: int = 10) -> Episode:
        """Episode ``index``: K support and Q query points of one sine wave.

        Args:
            index: which task (≥ 0); any number of tasks exists.
            k_shot: K, support points (≥ 1).
            k_query: Q, query points (≥ 1).

        Returns:
            An `Episode` with ``info = {"index", "amplitude", "phase"}``.

        Shapes:
            support_x, support_y: (K, 1); query_x, query_y: (Q, 1).
        """
        check_int("index", index, minimum=0)
        check_int("k_shot", k_shot, hint="; an episode needs at least one support point")
        check_int("k_query", k_query, hint="; an episode needs at least one query point")
        a_lo, a_hi = self.amplitude
        p_lo, p_hi = self.phase
        x_lo, x_hi = self.x_range
        u_amplitude, u_phase = torch.rand(2, generator=derived_generator(self.seed, index, "sinusoid-task"),
                                          dtype=torch.float64).tolist()
        amplitude, phase = a_lo + (a_hi - a_lo) * u_amplitude, p_lo + (p_hi - p_lo) * u_phase
        points = derived_generator(self.seed, index, f"sinusoid-points-{k_shot}-{k_query}")
        x = torch.rand(k_shot + k_query, 1, generator=points).mul_(x_hi - x_lo).add_(x_lo)  # (K+Q, 1)
        y = torch.sub(x, phase).sin_().mul_(amplitude)  # A·sin(x − φ)
        return Episode(x[:k_shot], y[:k_shot], x[k_shot:], y[k_shot:],
                       info={"index": index, "amplitude": amplitude, "phase": phase})

    def batch(self, start: int, n: int, k_shot: int, k_query: int = 10,
              stacked: bool = False) -> list[Episode] | MetaBatch:
        """Episodes ``start, start+1, …, start+n−1`` (a meta-batch): a list, or with ``stacked=True``
        a `MetaBatch` with support_x, support_y (n, k_shot, 1) and query_x, query_y (n, k_query, 1)."""
        check_int("n", n)
        episodes = [self.episode(start + i, k_shot, k_query) for i in range(n)]
        return MetaBatch.from_episodes(episodes) if stacked else episodes

    @staticmethod
    def true_curve(episode: Episode, x: Tensor) -> Tensor:
        """The episode's noiseless sine wave at `x` (any shape), for plots."""
        return episode.info["amplitude"] * torch.sin(x - episode.info["phase"])


# ---------------------------------------------------------------------------------------
# Shared helpers for text episodes
# ---------------------------------------------------------------------------------------
def _check_episode_sizes(n_way: int, k_shot: int, q_query: int, max_len: int) -> None:
    check_int("n_way", n_way, minimum=2, hint="; an episode needs at least two classes to tell apart")
    check_int("k_shot", k_shot, hint="; each class needs at least one support example")
    check_int("q_query", q_query, hint="; each class needs at least one query example")
    check_int("max_len", max_len, minimum=3, hint=" (room for [CLS], [SEP] and one token)")


def _choose(generator: torch.Generator, n: int, k: int) -> list[int]:
    """k distinct indices from range(n), in random order."""
    return torch.randperm(n, generator=generator)[:k].tolist()


def _pad(rows: list[list[int]], pad_id: int) -> tuple[Tensor, Tensor]:
    """Right-pad id lists into (M, T) ids and attention mask, T = the longest row."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return ids, mask


def _text_episode(rows: list[list[int]], labels: list[int], k_shot: int, q_query: int, n_way: int,
                  pad_id: int, classes: list[str], info: dict[str, Any]) -> Episode:
    """Split per-class rows (class-major, K+Q per class) into an Episode."""
    per = k_shot + q_query
    support = [c * per + i for c in range(n_way) for i in range(k_shot)]
    query = [c * per + k_shot + i for c in range(n_way) for i in range(q_query)]
    sx, sm = _pad([rows[i] for i in support], pad_id)
    qx, qm = _pad([rows[i] for i in query], pad_id)
    sy = torch.tensor([labels[i] for i in support], dtype=torch.long)
    qy = torch.tensor([labels[i] for i in query], dtype=torch.long)
    return Episode(sx, sy, qx, qy, sm, qm, classes, info)


def _split_for(items: list[Any], k_shot: int, q_query: int, n_way: int) -> tuple[list[Any], list[Any]]:
    per = k_shot + q_query
    support = [items[c * per + i] for c in range(n_way) for i in range(k_shot)]
    query = [items[c * per + k_shot + i] for c in range(n_way) for i in range(q_query)]
    return support, query


# ---------------------------------------------------------------------------------------
# Labelled text: N-way K-shot classification
# ---------------------------------------------------------------------------------------
def split_classes(labels: Iterable[str | None], n_test: int, seed: int = 0,
                  n_way: int | None = None) -> tuple[list[str], list[str]]:
    """Split the class names into disjoint meta-train and meta-test sets.

    This is the standard protocol for few-shot text classification (e.g. Bao et
    al. 2020): test episodes use classes never seen in meta-training. It needs a
    dataset with enough classes; BBC News has only five topics, so for BBC use
    disjoint *documents* instead (meta-train on ``bbc_splits()["train"]``, meta-test
    on ``bbc_splits()["test"]``).

    Args:
        labels: class names, e.g. ``[doc.label for doc in documents]`` (repeats
            and None are ignored).
        n_test: how many classes go to meta-test.
        seed: which classes; the same labels and seed give the same split.
        n_way: when given, both sides must have at least this many classes.

    Returns:
        ``(train_classes, test_classes)``, each sorted.

    Example:
        >>> split_classes(list("abcdefgh"), n_test=3, seed=0)
        (['d', 'e', 'f', 'g', 'h'], ['a', 'b', 'c'])
    """
    classes = sorted({str(label) for label in labels if label is not None})
    check_int("n_test", n_test)
    need = n_way or 1
    if n_way is not None:
        check_int("n_way", n_way, minimum=2)
    if n_test < need or len(classes) - n_test < need:
        raise ValueError(
            f"cannot split {len(classes)} classes into meta-train and meta-test with n_test={n_test}"
            f"{f' and n_way={n_way}' if n_way else ''}: each side needs at least {need} class(es); "
            "lower n_test or n_way, or (as for BBC's 5 topics) use disjoint documents instead of disjoint classes"
        )
    order = torch.randperm(len(classes), generator=episode_generator(seed, 0, "split-classes")).tolist()
    test = sorted(classes[i] for i in order[:n_test])
    return [c for c in classes if c not in test], test


class TextClassificationEpisodes:
    """N-way K-shot episodes from labelled documents, labels remapped per episode.

    An episode picks N classes at random, gives them labels 0..N−1 in that random
    order (so label ids carry no meaning across episodes), and samples K + Q
    distinct documents of each class: K for the support set, Q for the query set.

    Each document becomes the text ``text_fn(doc)``, by default `lead_text`:
    its headline and first sentences, truncated by the tokenizer to `max_len`
    tokens including [CLS] and [SEP].

    Args:
        documents: labelled `Document` records, e.g. ``bbc_splits()["train"]`` or
            anything from `metalearn_edu.data.load_local` / ``load_hf_dataset``.
            Documents without a label are ignored.
        tokenizer: a BERT-style tokenizer (`metalearn_edu.data.load_tokenizer`).
        n_way, k_shot, q_query: N, K and Q (Q query documents per class).
        max_len: tokens per text, specials included.
        seed: episode ``index`` of a sampler with this seed is always the same.
        classes: the classes to sample from (default: every label present).
        text_fn: turns a `Document` into the text to encode.
        split: a name for `documents` used in error messages (e.g. ``"test"``).

    Raises:
        ValueError: if a class has fewer than K + Q documents, fewer than N
            classes are available, or a size is not a positive integer.

    Example:
        >>> from metalearn_edu.data import bbc_splits, load_tokenizer
        >>> sampler = TextClassificationEpisodes(bbc_splits()["train"], load_tokenizer(), 3, 2, 4)
        >>> ep = sampler.episode(0)
        >>> ep.support_x.shape[0], ep.query_y.tolist()[:4], len(ep.classes)
        (6, [0, 0, 0, 0], 3)
    """

    def __init__(self, documents: Sequence[Document], tokenizer: Any, n_way: int, k_shot: int, q_query: int,
                 max_len: int = 64, seed: int = 0, classes: Sequence[str] | None = None,
                 text_fn: Callable[[Document], str] | None = None, split: str = "documents"):
        _check_episode_sizes(n_way, k_shot, q_query, max_len)
        check_int("seed", seed, minimum=None)
        self.tokenizer, self.n_way, self.k_shot, self.q_query = tokenizer, n_way, k_shot, q_query
        self.max_len, self.seed, self.split = max_len, seed, split
        self.text_fn = text_fn or (lambda doc: lead_text(doc, max_words=max_len))
        by_class: dict[str, list[Document]] = {}
        for doc in documents:
            if doc.label is not None:
                by_class.setdefault(str(doc.label), []).append(doc)
        if classes is None:
            classes = sorted(by_class)
        else:
            classes = sorted({str(c) for c in classes})
            unknown = [c for c in classes if c not in by_class]
            if unknown:
                raise ValueError(f"classes {unknown} have no documents in the {split!r} split; "
                                 f"choose from {sorted(by_class)}")
        if len(classes) < n_way:
            raise ValueError(f"n_way={n_way} but the {split!r} split has only {len(classes)} classes "
                             f"({classes}); lower n_way to at most {len(classes)}")
        need = k_shot + q_query
        small = [(c, len(by_class[c])) for c in classes if len(by_class[c]) < need]
        if small:
            name, count = min(small, key=lambda item: item[1])
            raise ValueError(
                f"k_shot + q_query = {k_shot} + {q_query} = {need} but class {name!r} has only {count} documents "
                f"in the {split!r} split; lower k_shot or q_query to fit, leave the class out with classes=, "
                "or use a larger split"
            )
        self.classes = list(classes)
        self.documents = {c: by_class[c] for c in self.classes}
        self._texts: dict[str, str] = {}
        self.pad_id, self.cls_id, self.sep_id = tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id

    def _text(self, doc: Document) -> str:
        if doc.doc_id not in self._texts:
            self._texts[doc.doc_id] = self.text_fn(doc)
        return self._texts[doc.doc_id]

    def episode(self, index: int) -> Episode:
        """Episode ``index`` (any integer ≥ 0).

        Returns:
            An `Episode` whose ``classes[c]`` is the class name behind label c and
            whose ``info`` holds ``support_ids``/``query_ids`` (doc ids) and the
            ``support_texts``/``query_texts`` that were encoded.
        """
        g = episode_generator(self.seed, index, "text-classification")
        chosen = [self.classes[i] for i in _choose(g, len(self.classes), self.n_way)]  # label order
        docs: list[Document] = []
        labels: list[int] = []
        for label, name in enumerate(chosen):
            pool = self.documents[name]
            docs += [pool[i] for i in _choose(g, len(pool), self.k_shot + self.q_query)]
            labels += [label] * (self.k_shot + self.q_query)
        texts = [self._text(doc) for doc in docs]
        rows = self.tokenizer(texts, truncation=True, max_length=self.max_len)["input_ids"]
        s_ids, q_ids = _split_for([d.doc_id for d in docs], self.k_shot, self.q_query, self.n_way)
        s_txt, q_txt = _split_for(texts, self.k_shot, self.q_query, self.n_way)
        info = {"index": index, "support_ids": s_ids, "query_ids": q_ids, "support_texts": s_txt, "query_texts": q_txt}
        return _text_episode(rows, labels, self.k_shot, self.q_query, self.n_way, self.pad_id, chosen, info)


# ---------------------------------------------------------------------------------------
# SMLMT: self-supervised episodes from unlabelled sentences (Bansal et al. 2020)
# ---------------------------------------------------------------------------------------
class SMLMTEpisodes:
    """Subset Masked Language Modelling Tasks: N-way classification made from plain text.

    Following Bansal et al. (2020):

    1) Index the sentences by word (`sentence_words`: lowercased, alphabetic,
       ≥ 3 letters, no stop words). A word is *usable* when it occurs in at least
       ``max(k_shot + q_query, min_sentences)`` sentences.
    2) An episode picks N usable words; their random order gives labels 0..N−1.
    3) For each word it samples K + Q sentences that contain it (never a sentence
       already used for another word of the same episode).
    4) Every occurrence of the word in a sentence becomes one [MASK] token,
       whatever number of WordPieces the word had (`mask_word`); the label is the
       word's index among the N. The model must tell which word is missing from
       the context alone.

    Sentences longer than `max_len` tokens are cut to a window of ``max_len − 2``
    pieces around the first [MASK] (then [CLS] and [SEP] are added), so a mask is
    never truncated away.

    Args:
        sentences: unlabelled sentences, e.g. from `metalearn_edu.data.split_sentences`.
        tokenizer: a BERT-style tokenizer with a [MASK] token.
        n_way, k_shot, q_query: N words, K support and Q query sentences per word.
        words: if given, only these words may be picked (use `split_words` to make
            meta-train and meta-test word sets disjoint).
        max_len: tokens per sequence, specials included.
        seed: episode ``index`` of a sampler with this seed is always the same.
        min_sentences: a word needs at least this many sentences (default K + Q);
            raise it to avoid rare words.
        segmented: one word list per sentence, for languages written without spaces (Chinese):
            then the words are those lists' content words (`segmented_words`), and a masked
            sentence is its words joined without spaces, each occurrence of the word one [MASK].

    Raises:
        ValueError: if fewer than N words are usable, or a size is not a
            positive integer.

    Example:
        >>> from metalearn_edu.data import load_tokenizer
        >>> sents = [f"The {w} is here number {i}." for w in ("cat", "dog", "fox") for i in range(4)]
        >>> sampler = SMLMTEpisodes(sents, load_tokenizer(), n_way=2, k_shot=1, q_query=1, min_sentences=3)
        >>> sampler.words
        ['cat', 'dog', 'fox', 'number']
        >>> ep = sampler.episode(0)
        >>> ep.info["support_texts"][0].count("[MASK]")
        1
    """

    def __init__(self, sentences: Sequence[str], tokenizer: Any, n_way: int, k_shot: int, q_query: int,
                 words: Iterable[str] | None = None, max_len: int = 48, seed: int = 0,
                 min_sentences: int | None = None, segmented: Sequence[Sequence[str]] | None = None):
        _check_episode_sizes(n_way, k_shot, q_query, max_len)
        check_int("seed", seed, minimum=None)
        if min_sentences is not None:
            check_int("min_sentences", min_sentences)
        if getattr(tokenizer, "mask_token", None) is None:
            raise ValueError("the tokenizer has no [MASK] token; SMLMT needs a BERT-style tokenizer")
        self.sentences = list(sentences)
        if segmented is not None and len(segmented) != len(self.sentences):
            raise ValueError(f"segmented has {len(segmented)} word lists for {len(self.sentences)} sentences; "
                             "give one per sentence")
        self.segmented = None if segmented is None else [list(ws) for ws in segmented]
        self.tokenizer, self.n_way, self.k_shot, self.q_query = tokenizer, n_way, k_shot, q_query
        self.max_len, self.seed = max_len, seed
        self.min_sentences = max(k_shot + q_query, min_sentences or 0)
        allowed = None if words is None else {str(w).lower() for w in words}

        index: dict[str, list[int]] = {}
        for i, sentence in enumerate(self.sentences):
            found = sentence_words(sentence) if self.segmented is None else segmented_words(self.segmented[i])
            for word in found:
                if allowed is None or word in allowed:
                    index.setdefault(word, []).append(i)
        self.index = index  # word -> ids of the sentences that contain it (ascending)
        self.words = sorted(w for w, ids in index.items() if len(ids) >= self.min_sentences)
        if len(self.words) < n_way:
            detail = ""
            if allowed is not None:
                rare = sorted(allowed - set(self.words))[:5]
                counts = {w: len(index.get(w, [])) for w in rare}
                detail = f" (e.g. sentence counts {counts})"
            raise ValueError(
                f"n_way={n_way} words are needed but only {len(self.words)} word(s) occur in at least "
                f"{self.min_sentences} sentences{detail}; lower n_way, k_shot, q_query or min_sentences, "
                "or give more sentences or a larger word set"
            )

    def episode(self, index: int) -> Episode:
        """Episode ``index`` (any integer ≥ 0): unlimited tasks.

        Returns:
            An `Episode` whose ``classes`` are the N words and whose ``info`` holds
            the sentence ids (``support_ids``/``query_ids``, indices into
            `sentences`) and the masked texts (``support_texts``/``query_texts``).
        """
        g = episode_generator(self.seed, index, "smlmt")
        need = self.k_shot + self.q_query
        chosen: list[str] = []
        picked: list[int] = []
        used: set[int] = set()
        for w in (self.words[i] for i in torch.randperm(len(self.words), generator=g).tolist()):
            free = [i for i in self.index[w] if i not in used]
            if len(free) < need:  # its sentences went to words picked earlier
                continue
            ids = [free[j] for j in _choose(g, len(free), need)]
            chosen.append(w)
            picked += ids
            used.update(ids)
            if len(chosen) == self.n_way:
                break
        if len(chosen) < self.n_way:
            raise ValueError(
                f"episode {index}: could not find {self.n_way} words with {need} sentences not shared with "
                "each other; lower n_way, k_shot or q_query, or give more sentences"
            )
        texts = [self._masked(i, chosen[j // need]) for j, i in enumerate(picked)]
        labels = [j // need for j in range(len(picked))]
        pieces = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        rows = [self._window(ids) for ids in pieces]
        s_ids, q_ids = _split_for(picked, self.k_shot, self.q_query, self.n_way)
        s_txt, q_txt = _split_for(texts, self.k_shot, self.q_query, self.n_way)
        info = {"index": index, "support_ids": s_ids, "query_ids": q_ids, "support_texts": s_txt, "query_texts": q_txt}
        return _text_episode(rows, labels, self.k_shot, self.q_query, self.n_way, self.tokenizer.pad_token_id,
                             chosen, info)

    def _masked(self, i: int, word: str) -> str:
        """Sentence i with every occurrence of `word` replaced by one [MASK]."""
        if self.segmented is None:
            return mask_word(self.sentences[i], word, self.tokenizer.mask_token)
        return "".join(self.tokenizer.mask_token if w == word else w for w in self.segmented[i])

    def _window(self, ids: list[int]) -> list[int]:
        """[CLS] + at most max_len − 2 pieces around the first [MASK] + [SEP]."""
        width = self.max_len - 2
        if len(ids) > width:
            first = ids.index(self.tokenizer.mask_token_id)
            start = min(max(first - width // 2, 0), len(ids) - width)
            ids = ids[start:start + width]
        return [self.tokenizer.cls_token_id, *ids, self.tokenizer.sep_token_id]


def split_words(sampler_or_words: SMLMTEpisodes | Iterable[str], test_fraction: float = 0.2,
                seed: int = 0) -> tuple[list[str], list[str]]:
    """Split words into disjoint meta-train and meta-test sets for SMLMT.

    Args:
        sampler_or_words: an `SMLMTEpisodes` (its usable words are split) or words.
        test_fraction: the share of words for meta-test, in (0, 1).
        seed: which words; the same words and seed give the same split.

    Returns:
        ``(train_words, test_words)``, each sorted; pass them as ``words=`` to two
        `SMLMTEpisodes`.

    Example:
        >>> split_words(["cat", "dog", "fox", "owl", "yak"], test_fraction=0.4, seed=0)
        (['cat', 'dog', 'yak'], ['fox', 'owl'])
    """
    source = sampler_or_words.words if isinstance(sampler_or_words, SMLMTEpisodes) else sampler_or_words
    words = sorted({str(w).lower() for w in source})
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction={test_fraction!r} is not allowed; it must lie in (0, 1)")
    n_test = round(len(words) * float(test_fraction))
    if n_test < 1 or n_test >= len(words):
        raise ValueError(f"test_fraction={test_fraction} of {len(words)} words leaves one side empty; "
                         "give more words or change test_fraction")
    order = torch.randperm(len(words), generator=episode_generator(seed, 0, "split-words")).tolist()
    test = sorted(words[i] for i in order[:n_test])
    test_set = set(test)
    return [w for w in words if w not in test_set], test
