"""Few-shot text classification: the held-out task suites and a bag-of-words baseline.

The course measures every text method on the same two suites of test episodes,
built by `text_task_suites` from the shipped BBC splits:

* **held-out SMLMT**: self-supervised tasks (Bansal et al. 2020) from the
  sentences of the *test* articles, over a word set disjoint from the words used
  for meta-training. A method never sees a test word's task during training.
* **BBC topics**: N-way K-shot topic classification of *test* articles (the 5
  BBC topics; meta-training, when it uses labels at all, only sees training
  articles).

Meta-training draws SMLMT episodes from the *training* articles' sentences over
the training words (``suites.smlmt_train``). Samplers are seeded, so episode i of
a suite is the same for every method (and for every tokenizer: sampling is done
on words and documents, tokenisation afterwards), which makes differences
between methods paired comparisons.

`evaluate_text_adaptation` is the one test protocol every encoder goes
through: a per-episode N-way head initialised from the support prototypes
(Proto-MAML, so step 0 *is* a prototypical network on that encoder's features),
then a few steps of gradient descent on the top block(s) and the head. Because
the lower blocks do not adapt, their output is computed once per episode and
only the top blocks run at every step (`top_blocks_loss`): the same numbers as the
plain `TextClassifierLoss` path, several times faster.

`bag_of_words_accuracy` is the sanity baseline: logistic regression on word
counts of the support texts, no neural network at all.

Example:
    >>> from metalearn_edu.data import load_tokenizer
    >>> suites = text_task_suites(load_tokenizer(), n_way=5, k_shot=1, q_query=5)
    >>> ep = suites.bbc_test.episode(0)
    >>> ep.support_x.shape[0], ep.query_x.shape[0]
    (5, 25)
    >>> set(suites.train_words).isdisjoint(suites.test_words)
    True
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import torch
from torch import Tensor

from ..analysis import mean_ci
from ..data import bbc_splits, split_sentences
from ..episodes import Episode, SMLMTEpisodes, TextClassificationEpisodes, split_words
from ..model import BertEncoder
from ..runtime import eval_mode
from .evaluation import AdaptationCurve, evaluate_adaptation
from .inner_loop import select_params
from .losses import EncoderFeatures, TextClassifierLoss

# Seeds of the three samplers: fixed so that every script and notebook sees the same episodes.
TRAIN_SEED, SMLMT_TEST_SEED, BBC_TEST_SEED = 0, 1, 2


@lru_cache(maxsize=4)
def _sentences(split: str) -> tuple[str, ...]:
    """The sentences of every article of a BBC split (cached: splitting takes a second)."""
    return tuple(s for doc in bbc_splits()[split] for s in split_sentences(doc.text))


@dataclass
class TextTaskSuites:
    """The samplers of the course's text experiments (see `text_task_suites`).

    Attributes:
        smlmt_train: SMLMT episodes for meta-training (training articles, training words).
        smlmt_test: held-out SMLMT episodes (test articles, test words).
        bbc_test: BBC topic episodes from test articles.
        train_words, test_words: the disjoint word sets.
    """

    smlmt_train: SMLMTEpisodes
    smlmt_test: SMLMTEpisodes
    bbc_test: TextClassificationEpisodes
    train_words: list[str]
    test_words: list[str]

    def test_episodes(self, task: str, n: int, first: int = 0) -> list[Episode]:
        """Episodes ``first … first + n − 1`` of a test suite: ``task`` is ``"smlmt"`` or ``"bbc"``."""
        sampler = {"smlmt": self.smlmt_test, "bbc": self.bbc_test}.get(task)
        if sampler is None:
            raise ValueError(f"task={task!r} is not allowed; choose 'smlmt' or 'bbc'")
        return [sampler.episode(first + i) for i in range(n)]


@lru_cache(maxsize=16)
def text_task_suites(tokenizer: Any, n_way: int = 5, k_shot: int = 5, q_query: int = 5, max_len: int = 64,
                     smlmt_max_len: int = 48, min_sentences: int = 20, test_fraction: float = 0.3,
                     bbc_split: str = "test", train_seed: int = TRAIN_SEED) -> TextTaskSuites:
    """Build the meta-training sampler and the two held-out test suites.

    Usable SMLMT words are those in at least `min_sentences` training sentences;
    `split_words` sends `test_fraction` of them to meta-test. The held-out SMLMT
    sampler uses the test articles' sentences, so test words need at least
    K + Q sentences there too.

    Args:
        tokenizer: a BERT-style tokenizer (ours, or MiniLM's for the reference model).
        n_way, k_shot, q_query: N, K and Q (Q query examples per class).
        max_len: tokens per BBC text; smlmt_max_len: tokens per SMLMT sentence.
        min_sentences: how common a training word must be.
        test_fraction: the share of words held out.
        bbc_split: the split BBC test episodes come from (``"test"``; ``"validation"``
            for tuning).
        train_seed: the seed of the meta-training sampler (a different stream of training
            episodes per meta-training seed; the test suites do not depend on it).

    Raises:
        ValueError: when the corpus cannot supply the episodes (the sampler's
            message says which size to lower).

    Suites are cached by their arguments (building one indexes every sentence), so
    the same call returns the same samplers.
    """
    train_sentences = _sentences("train")
    vocabulary = SMLMTEpisodes(train_sentences, tokenizer, n_way, k_shot, q_query, max_len=smlmt_max_len,
                               min_sentences=min_sentences)
    train_words, test_words = split_words(vocabulary, test_fraction=test_fraction, seed=0)
    smlmt_train = SMLMTEpisodes(train_sentences, tokenizer, n_way, k_shot, q_query, words=train_words,
                                max_len=smlmt_max_len, seed=train_seed, min_sentences=min_sentences)
    smlmt_test = SMLMTEpisodes(_sentences(bbc_split), tokenizer, n_way, k_shot, q_query, words=test_words,
                               max_len=smlmt_max_len, seed=SMLMT_TEST_SEED)
    bbc_test = TextClassificationEpisodes(bbc_splits()[bbc_split], tokenizer, n_way, k_shot, q_query,
                                          max_len=max_len, seed=BBC_TEST_SEED, split=bbc_split)
    return TextTaskSuites(smlmt_train, smlmt_test, bbc_test, train_words, test_words)


def bag_of_words_accuracy(episode: Episode, c: float = 1.0, weighting: str = "binary", analyzer: str = "word") -> float:
    """Query accuracy of a logistic regression on the support set's words.

    Texts are ``episode.info["support_texts"]`` / ``["query_texts"]`` (both
    samplers store them); features are unigram indicators (``weighting="binary"``) or
    TF-IDF weights (``"tfidf"``, fitted on the support texts) of words the support set
    contains ([MASK] dropped), so a query word unseen in the support set carries no
    information, as it should in a K-shot task.

    Args:
        episode: a text episode from `TextClassificationEpisodes` or `SMLMTEpisodes`.
        c: the inverse L2 regularisation strength of scikit-learn's `LogisticRegression`.
        weighting: ``"binary"`` or ``"tfidf"``.
        analyzer: ``"word"``, or ``"char"`` (characters and character pairs: for Chinese, which has
            no spaces between words).

    Returns:
        Accuracy on the query set (chance is 1/N).
    """
    try:
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ModuleNotFoundError as err:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError("bag_of_words_accuracy needs scikit-learn: pip install -e '.[test]'") from err
    if weighting not in ("binary", "tfidf"):
        raise ValueError(f"weighting={weighting!r} is not allowed; choose 'binary' or 'tfidf'")
    info = episode.info or {}
    if "support_texts" not in info or "query_texts" not in info:
        raise ValueError("episode.info has no support_texts/query_texts; use an episode from "
                         "TextClassificationEpisodes or SMLMTEpisodes")
    support = [t.replace("[MASK]", " ") for t in info["support_texts"]]
    query = [t.replace("[MASK]", " ") for t in info["query_texts"]]
    if analyzer not in ("word", "char"):
        raise ValueError(f"analyzer={analyzer!r} is not allowed; choose 'word' or 'char'")
    grams = {"analyzer": "char", "ngram_range": (1, 2)} if analyzer == "char" else {}
    vectorizer = CountVectorizer(binary=True, lowercase=True, **grams) if weighting == "binary" else \
        TfidfVectorizer(lowercase=True, sublinear_tf=True, **grams)
    x_support = vectorizer.fit_transform(support)
    y_support = episode.support_y.tolist()
    y_query = episode.query_y.tolist()
    if len(set(y_support)) < 2:
        raise ValueError("the support set has a single class; a classifier needs at least two")
    classifier = LogisticRegression(C=c, max_iter=1000)
    classifier.fit(x_support, y_support)
    predictions = classifier.predict(vectorizer.transform(query))
    return sum(int(p == y) for p, y in zip(predictions, y_query)) / len(y_query)


# ---------------------------------------------------------------------------------------
# The test protocol: proto-initialised head, top block(s) adapt, lower blocks computed once
# ---------------------------------------------------------------------------------------
def top_blocks_loss(model: BertEncoder, top_k: int = 1, pooling: str = "mean",
                    head_init: str = "proto") -> TextClassifierLoss:
    """`TextClassifierLoss` for episodes whose inputs are the hidden states below the top `top_k` blocks.

    Use `trunk_episode` to turn a token episode into such an episode; the loss then runs only the
    top blocks, the final norm and the head (`EncoderFeatures` with ``start_block = L − top_k``).
    Parameters of the lower blocks and the embeddings are ignored (they must not adapt).

    Shapes:
        data.x: (M, T, D) hidden states; data.mask: (M, T) attention mask.
    """
    _check_top_k(model, top_k)
    features = EncoderFeatures(model, pooling, "fused", start_block=model.cfg.n_layers - top_k)
    return TextClassifierLoss(model, head_init=head_init, features=features)


TopBlocksLoss = top_blocks_loss  # the older, class-like name


def _check_top_k(model: BertEncoder, top_k: int) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= model.cfg.n_layers:
        raise ValueError(f"top_k={top_k!r} is not allowed; give 1..{model.cfg.n_layers} (the encoder's blocks)")


@torch.no_grad()
def trunk_episode(model: BertEncoder, episode: Episode, top_k: int = 1) -> Episode:
    """The episode with token ids replaced by the hidden states entering the top `top_k` blocks.

    Shapes:
        support_x: (N·K, T) ids -> (N·K, T, D) hidden states (likewise query_x).
    """
    _check_top_k(model, top_k)
    return _with_hidden(episode, lambda ids, mask: _lower_blocks(model, ids, mask, top_k))


def _lower_blocks(model: BertEncoder, ids: Tensor, mask: Tensor | None, top_k: int) -> Tensor:
    """(M, T) ids -> (M, T, D) hidden states entering the top `top_k` blocks."""
    x, key_mask = model.embed(ids, mask)
    return model.run_blocks(x, key_mask, end=model.cfg.n_layers - top_k, attention_impl="fused")[0]  # fused is exact


def _with_hidden(episode: Episode, hidden: Any) -> Episode:
    """The episode with ``hidden(ids, mask)`` in place of its support and query token ids."""
    return Episode(hidden(episode.support_x, episode.support_mask), episode.support_y,
                   hidden(episode.query_x, episode.query_mask), episode.query_y,
                   episode.support_mask, episode.query_mask, list(episode.classes), dict(episode.info))


class TrunkCache:
    """`trunk_episode` that remembers each text's hidden states, for episodes drawn again and again.

    The few-shot playground redraws episodes from one test split at every change, and the same
    texts come back: the 222 BBC test articles fill the 400 places of eight 5-way 5-shot episodes.
    The lower blocks are frozen during adaptation, so a text's hidden states entering the top
    blocks depend only on its token ids and mask; this cache computes them once per distinct row.

    The cache empties itself when the model changes (an optimiser step or ``load_state_dict``
    bumps a parameter's version counter, ``Tensor._version``) and when it would hold more than
    `max_rows` rows (least recently used go first). A row computed in another batch may differ
    from `trunk_episode`'s in the last bits of float32, nothing more.

    Args:
        model: the encoder (its lower blocks are run in eval mode, without gradients).
        top_k: the number of top blocks that adapt; the cache stores what enters them.
        max_rows: the most rows kept (a 64-token row of a 128-wide model is 32 KiB).

    Shapes:
        ``cache(episode)``: support_x (N·K, T) ids -> (N·K, T, D) hidden states, likewise query_x.
    """

    def __init__(self, model: BertEncoder, top_k: int = 1, max_rows: int = 4096):
        _check_top_k(model, top_k)
        if not isinstance(max_rows, int) or max_rows < 1:
            raise ValueError(f"max_rows={max_rows!r} must be a positive integer")
        self.model, self.top_k, self.max_rows = model, top_k, max_rows
        self._rows: OrderedDict[bytes, Tensor] = OrderedDict()
        self._state: tuple = ()
        self.hits = self.misses = 0

    def _model_state(self) -> tuple:
        return tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in self.model.parameters())

    @torch.no_grad()
    def hidden(self, ids: Tensor, mask: Tensor | None = None) -> Tensor:
        """(M, T) token ids (and (M, T) mask) -> (M, T, D) hidden states entering the top `top_k` blocks."""
        state = self._model_state()
        if state != self._state:
            self._rows.clear()
            self._state = state
        rows = ids.cpu().numpy()
        masks = None if mask is None else mask.cpu().numpy()
        keys = [rows[i].tobytes() + (b"" if masks is None else b"|" + masks[i].tobytes()) for i in range(len(rows))]
        missing = list(dict.fromkeys(k for k in keys if k not in self._rows))
        if missing:
            where = {k: i for i, k in enumerate(keys)}
            index = torch.tensor([where[k] for k in missing], device=ids.device)
            with eval_mode(self.model):
                out = _lower_blocks(self.model, ids[index], None if mask is None else mask[index], self.top_k)
            for k, h in zip(missing, out):
                self._rows[k] = h.clone()
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        for k in keys:
            self._rows.move_to_end(k)
        result = torch.stack([self._rows[k] for k in keys])
        while len(self._rows) > self.max_rows:
            self._rows.popitem(last=False)
        return result

    def __call__(self, episode: Episode) -> Episode:
        """The episode with its token ids replaced by hidden states, as `trunk_episode` returns it."""
        return _with_hidden(episode, self.hidden)


def evaluate_text_adaptation(model: BertEncoder, episodes: Sequence[Episode], inner_lr: float = 0.05,
                             inner_steps: int = 5, top_k: int = 1, head_init: str = "proto",
                             pooling: str = "mean", progress: bool = False,
                             vectorize: bool | None = None, trunk: TrunkCache | None = None,
                             workers: int = 1) -> AdaptationCurve:
    """Query accuracy after 0..`inner_steps` steps of the course's test-time protocol.

    Every episode: a fresh N-way head (`head_init`, default prototypes), then
    plain gradient descent with rate `inner_lr` on the top `top_k` blocks (with the
    final norm) and the head. The lower blocks are run once per episode.

    Args:
        model: the encoder to evaluate (not modified; put in eval mode meanwhile).
        episodes: test episodes (≥ 2), e.g. ``suites.test_episodes("bbc", 200)``.
        inner_lr, inner_steps: the test-time inner loop.
        top_k: how many top blocks adapt (with the head).
        head_init, pooling: as in `TextClassifierLoss`.
        progress: a tqdm bar over episodes.
        vectorize: as in `evaluate_adaptation` (None: batch episodes when possible).
        trunk: a `TrunkCache` of this model and `top_k` to take the lower blocks' output from
            (episodes drawn again from the same texts skip the lower blocks); None runs them.
        workers: episodes run on this many threads at once, each with one torch thread and its own
            copy of the model (CPU only). On a small CPU this beats splitting every small matrix
            product across the cores, and it does not pay the OpenMP penalty of a thread other than
            the main one, where JupyterLab runs widget callbacks (see `_episodes_on_threads`). The
            numbers equal the one-thread path's to float tolerance.

    Returns:
        An `AdaptationCurve` of query accuracy with 95% CIs.

    Raises:
        ValueError: if `trunk` belongs to another model or another `top_k`; if ``workers`` is not a
            positive integer, or is above 1 for a model on a GPU or with ``vectorize=True``.
    """
    if trunk is not None and (trunk.model is not model or trunk.top_k != top_k):
        raise ValueError(f"trunk is a TrunkCache of another model or of top_k={trunk.top_k}; "
                         f"build it as TrunkCache(model, top_k={top_k})")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers={workers!r} must be a positive integer")
    if workers > 1 and (vectorize or next(model.parameters()).device.type != "cpu"):
        raise ValueError(f"workers={workers} runs episodes on CPU threads; use workers=1 with vectorize=True "
                         "or a model on a GPU")
    transform = trunk if trunk is not None else (lambda ep: trunk_episode(model, ep, top_k))
    if workers > 1:
        return _episodes_on_threads(model, list(episodes), transform, workers, inner_lr, inner_steps, top_k,
                                    head_init, pooling, progress)
    with eval_mode(model):
        loss_fn = top_blocks_loss(model, top_k, pooling, head_init)
        names = select_params(model, f"top{top_k}")
        params = {n: p.detach() for n, p in model.named_parameters()}
        return evaluate_adaptation(loss_fn, params, episodes, inner_lr, inner_steps, adapt_names=names,
                                   progress=progress, transform=transform, vectorize=vectorize)


def _episodes_on_threads(model: BertEncoder, episodes: list[Episode], transform: Any, workers: int,
                         inner_lr: float, inner_steps: int, top_k: int, head_init: str, pooling: str,
                         progress: bool) -> AdaptationCurve:
    """`evaluate_text_adaptation` with its episodes spread over `workers` threads of one torch thread each.

    Why: the top block's matrix products are small (a few thousand rows), so two cores splitting
    each of them gain little; two episodes side by side keep both cores busy. And PyTorch's OpenMP
    workers, once the main thread has used them, only spin briefly and then sleep in any other
    thread, waking thousands of times per update: the case of every widget callback in JupyterLab
    (ipykernel runs comm messages in a *subshell* thread), where the two-thread path measured
    15–30% slower than on the main thread (`benchmarks/playground_speed.py`).

    The lower blocks run first, on the calling thread (a `TrunkCache` is not thread-safe). Each
    worker owns a deep copy of the model: `torch.func.functional_call` swaps a module's parameters
    while it runs, so two threads must not share one module.
    """
    import copy
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from .evaluation import adaptation_rows, curve_from_rows

    if len(episodes) < 2:
        raise ValueError(f"episodes has {len(episodes)} episode(s); a confidence interval needs at least 2")
    with eval_mode(model):
        ready = [transform(ep) for ep in episodes]
        copies = [copy.deepcopy(model).eval() for _ in range(min(workers, len(ready)))]
    local, free, lock = threading.local(), list(copies), threading.Lock()

    def start_worker() -> None:
        torch.set_num_threads(1)  # this thread's OpenMP and MKL threads (the caller's are restored below)
        with lock:
            own = free.pop()
        local.loss_fn = top_blocks_loss(own, top_k, pooling, head_init)
        local.params = {n: p.detach() for n, p in own.named_parameters()}
        local.names = select_params(own, f"top{top_k}")

    def run(episode: Episode) -> tuple[list[float], list[float]]:
        rows, support = adaptation_rows(local.loss_fn, local.params, [episode], inner_lr, inner_steps,
                                        adapt_names=local.names, vectorize=False)
        return rows[0], support[0]

    before = torch.get_num_threads()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ready), desc="evaluate")
    try:
        with ThreadPoolExecutor(len(copies), initializer=start_worker) as pool:
            results = []
            for result in pool.map(run, ready):  # in the episodes' order
                results.append(result)
                if bar is not None:
                    bar.update(1)
    finally:
        torch.set_num_threads(before)  # the global default new threads start from
        if bar is not None:
            bar.close()
    metric_name = top_blocks_loss(model, top_k, pooling, head_init).metric_name
    return curve_from_rows([r for r, _ in results], [s for _, s in results], metric_name)


@torch.no_grad()
def linear_probe_accuracy(model: BertEncoder, episode: Episode, c: float = 1.0, pooling: str = "mean") -> float:
    """Query accuracy of a logistic regression on the frozen encoder's pooled features (a linear probe).

    The encoder does not change; only a linear classifier is fitted to the support set's features
    (scikit-learn, L2-regularised with strength 1/`c`).
    """
    from sklearn.linear_model import LogisticRegression

    features = EncoderFeatures(model, pooling)
    params = dict(model.named_parameters())
    with eval_mode(model):
        support = features(params, episode.support_x, episode.support_mask).numpy()
        query = features(params, episode.query_x, episode.query_mask).numpy()
    classifier = LogisticRegression(C=c, max_iter=2000).fit(support, episode.support_y.numpy())
    return float((classifier.predict(query) == episode.query_y.numpy()).mean())


def evaluate_finetuning(model: BertEncoder, episodes: Sequence[Episode], inner_lr: float = 0.05,
                        inner_steps: int = 10, head_init: str = "proto", progress: bool = False) -> AdaptationCurve:
    """Query accuracy while fine-tuning the *whole* encoder (embeddings, every block, the head) by SGD.

    The same prototype-initialised head as `evaluate_text_adaptation`, but every parameter adapts: the
    classic transfer-learning baseline, with no part of the model held fixed.
    """
    with eval_mode(model):
        loss_fn = TextClassifierLoss(model, head_init=head_init, attention_impl="fused")
        params = {n: p.detach() for n, p in model.named_parameters()}
        return evaluate_adaptation(loss_fn, params, episodes, inner_lr, inner_steps,
                                   adapt_names=select_params(model, "all"), progress=progress)



@lru_cache(maxsize=32)
def held_out_sampler(tokenizer: Any, task: str, n_way: int, k_shot: int, q_query: int = 5):
    """Only the held-out sampler of one task, without building the rest of `text_task_suites`.

    For the few-shot playground: a new N or K then costs an index of the test articles only. The
    episodes equal those of ``text_task_suites(tokenizer, n_way, k_shot, q_query)`` whenever
    K + Q ≤ 20 (the word split is the default suites' one; above that the full suites would split the
    words afresh).

    Raises:
        ValueError: for an unknown task, or sizes the test split cannot supply.
    """
    if task == "bbc":
        return TextClassificationEpisodes(bbc_splits()["test"], tokenizer, n_way, k_shot, q_query, max_len=64,
                                          seed=BBC_TEST_SEED, split="test")
    if task == "smlmt":
        words = text_task_suites(tokenizer).test_words
        return SMLMTEpisodes(_sentences("test"), tokenizer, n_way, k_shot, q_query, words=words, max_len=48,
                             seed=SMLMT_TEST_SEED)
    raise ValueError(f"task={task!r} is not allowed; choose 'smlmt' or 'bbc'")

# ---------------------------------------------------------------------------------------
# Suites from other domains (chapter 7)
# ---------------------------------------------------------------------------------------
DOMAIN_SEEDS = {"movies": 3, "debates": 4}


@lru_cache(maxsize=32)
def domain_task_suite(tokenizer: Any, domain: str, k_shot: int, q_query: int = 5, max_len: int = 64,
                      split: str = "test") -> TextClassificationEpisodes:
    """Test episodes from outside the news domain.

    * ``"movies"``: 2-way sentiment of Rotten Tomatoes review snippets (positive / negative);
    * ``"debates"``: speaker identification in the 2016 US debates, **novel classes**: the four
      speakers kept for meta-test (never seen in meta-training), 4-way.

    Both come from `metalearn_edu.data.domains` (the shipped, de-duplicated splits).
    """
    from ..data.domains import debate_novel_class_splits, movie_review_splits

    if domain == "movies":
        docs, n_way = movie_review_splits()[split], 2
    elif domain == "debates":
        docs = debate_novel_class_splits()[split]
        n_way = len({d.label for d in docs})
    else:
        raise ValueError(f"domain={domain!r} is not allowed; choose 'movies' or 'debates'")
    return TextClassificationEpisodes(docs, tokenizer, n_way, k_shot, q_query, max_len=max_len,
                                      seed=DOMAIN_SEEDS[domain], split=f"{domain} {split}")


SHOTS = (1, 5)
TASKS = ("smlmt", "bbc")


def evaluate_on_suites(model: BertEncoder, tokenizer: Any, n_episodes: int, inner_lr: float = 0.05,
                       inner_steps: int = 5, shots: Sequence[int] = SHOTS, tasks: Sequence[str] = TASKS,
                       first_episode: int = 0) -> dict[str, dict[str, Any]]:
    """The course's text table for one encoder: 5-way curves on every suite and K.

    Args:
        n_episodes, first_episode: test episodes ``first_episode … first_episode + n_episodes − 1``
            of every suite (different seeds of a study use different blocks of episodes).

    Returns:
        ``{"{task}_k{K}": curve dict}`` (`AdaptationCurve.to_dict` with per-episode values,
        ``first_episode`` and the evaluation's ``seconds``), e.g. ``"bbc_k5"``.
    """
    out: dict[str, dict[str, Any]] = {}
    for k in shots:
        suites = text_task_suites(tokenizer, n_way=5, k_shot=k, q_query=5)
        for task in tasks:
            t0 = time.perf_counter()
            episodes = suites.test_episodes(task, n_episodes, first_episode)
            curve = evaluate_text_adaptation(model, episodes, inner_lr, inner_steps)
            out[f"{task}_k{k}"] = {**curve.to_dict(per_episode=True), "first_episode": first_episode,
                                   "seconds": time.perf_counter() - t0}
    return out


def bag_of_words_on_suites(tokenizer: Any, n_episodes: int, shots: Sequence[int] = SHOTS,
                           tasks: Sequence[str] = TASKS, first_episode: int = 0) -> dict[str, dict[str, Any]]:
    """`bag_of_words_accuracy` on the same episodes as `evaluate_on_suites`, in the same format (step 0 only)."""
    out: dict[str, dict[str, Any]] = {}
    for k in shots:
        suites = text_task_suites(tokenizer, n_way=5, k_shot=k, q_query=5)
        for task in tasks:
            accuracies = [bag_of_words_accuracy(ep) for ep in suites.test_episodes(task, n_episodes, first_episode)]
            mean, half = mean_ci(accuracies)
            out[f"{task}_k{k}"] = {"steps": [0], "mean": [mean], "ci": [half], "metric": "accuracy",
                                   "per_episode": [[a] for a in accuracies], "n_episodes": len(accuracies),
                                   "first_episode": first_episode}
    return out
