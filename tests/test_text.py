"""Few-shot text: the held-out suites, the fast test protocol, and the baselines it must beat."""

import pytest
import torch

from metalearn_edu.data import bbc_splits
from metalearn_edu.episodes import Episode
from metalearn_edu.meta import TextClassifierLoss, evaluate_adaptation, select_params
from metalearn_edu.meta.text import (TrunkCache, _sentences, bag_of_words_accuracy, evaluate_text_adaptation,
                                     text_task_suites, trunk_episode)
from metalearn_edu.model import BertEncoder


@pytest.fixture(scope="module")
def suites(course_tokenizer):
    return text_task_suites(course_tokenizer, n_way=5, k_shot=5, q_query=5)


def test_suites_keep_meta_test_material_unseen(suites):
    assert suites.train_words and suites.test_words
    assert set(suites.train_words).isdisjoint(suites.test_words)
    test_sentences = set(_sentences("test"))
    for ep in suites.test_episodes("smlmt", 5):
        assert set(ep.classes) <= set(suites.test_words)
        assert all(suites.smlmt_test.sentences[i] in test_sentences for i in ep.info["support_ids"])
    for i in range(5):
        assert set(suites.smlmt_train.episode(i).classes) <= set(suites.train_words)
    test_ids = {d.doc_id for d in bbc_splits()["test"]}
    for ep in suites.test_episodes("bbc", 5):
        assert set(ep.info["support_ids"]) | set(ep.info["query_ids"]) <= test_ids
    with pytest.raises(ValueError, match="task='topics'"):
        suites.test_episodes("topics", 1)


def test_fast_protocol_equals_the_plain_inner_loop(suites, mlm_micro):
    episodes = suites.test_episodes("bbc", 3) + suites.test_episodes("smlmt", 3)
    fast = evaluate_text_adaptation(mlm_micro, episodes, inner_lr=0.1, inner_steps=3, top_k=1)
    loss_fn = TextClassifierLoss(mlm_micro, head_init="proto", attention_impl="fused")
    slow = evaluate_adaptation(loss_fn, dict(mlm_micro.named_parameters()), episodes, 0.1, 3,
                               adapt_names=select_params(mlm_micro, "top1"))
    for a, b in zip(fast.per_episode, slow.per_episode):
        assert a == pytest.approx(b, abs=1e-6)
    assert fast.support_loss == pytest.approx(slow.support_loss, rel=1e-4)
    assert fast.support_loss[-1] < fast.support_loss[0]  # the inner loop does fit the support set


def test_trunk_episode_holds_hidden_states(suites, mlm_micro):
    ep = suites.test_episodes("bbc", 1)[0]
    trunk = trunk_episode(mlm_micro, ep, top_k=2)
    assert trunk.support_x.shape == (*ep.support_x.shape, mlm_micro.cfg.d_model)
    with pytest.raises(ValueError, match="top_k=5 is not allowed; give 1..4"):
        trunk_episode(mlm_micro, ep, top_k=5)


def _assert_same_trunk(a, b):
    for side in ("support_x", "query_x"):
        assert torch.allclose(getattr(a, side), getattr(b, side), atol=1e-5), side
    for side in ("support_y", "query_y", "support_mask", "query_mask"):
        x, y = getattr(a, side), getattr(b, side)
        assert (x is None and y is None) or torch.equal(x, y), side


def test_trunk_cache_equals_trunk_episode_and_computes_each_text_once(suites, mlm_micro):
    episodes = suites.test_episodes("bbc", 3) + suites.test_episodes("smlmt", 2)  # SMLMT rows are padded
    assert episodes[-1].support_mask is not None and not episodes[-1].support_mask.all()
    cache = TrunkCache(mlm_micro, top_k=2)
    for ep in episodes:
        _assert_same_trunk(cache(ep), trunk_episode(mlm_micro, ep, top_k=2))
    distinct = len({tuple(r) for ep in episodes for x in (ep.support_x, ep.query_x) for r in x.tolist()})
    assert cache.misses == distinct and len(cache._rows) == distinct
    assert cache.hits == sum(ep.support_x.shape[0] + ep.query_x.shape[0] for ep in episodes) - distinct
    again = cache(episodes[0])
    assert cache.misses == distinct  # a second pass computes nothing
    _assert_same_trunk(again, trunk_episode(mlm_micro, episodes[0], top_k=2))


def test_trunk_cache_forgets_when_the_model_changes_or_fills_up(suites, mlm_micro):
    import copy

    model = copy.deepcopy(mlm_micro)
    ep = suites.test_episodes("bbc", 1)[0]
    cache = TrunkCache(model, top_k=1)
    cache(ep)
    with torch.no_grad():
        model.blocks[0].ffn.up.weight.mul_(1.5)  # an in-place update, as an optimiser step makes
    _assert_same_trunk(cache(ep), trunk_episode(model, ep, top_k=1))
    assert cache.hits == 0
    model.load_state_dict(mlm_micro.state_dict())
    _assert_same_trunk(cache(ep), trunk_episode(mlm_micro, ep, top_k=1))
    small = TrunkCache(model, top_k=1, max_rows=8)
    small(ep)
    assert len(small._rows) == 8  # 50 rows drawn, the 8 most recent kept
    _assert_same_trunk(small(ep), trunk_episode(mlm_micro, ep, top_k=1))


def test_text_adaptation_with_a_trunk_cache_gives_the_same_curve(suites, mlm_micro):
    episodes = suites.test_episodes("bbc", 4)
    cache = TrunkCache(mlm_micro)
    plain = evaluate_text_adaptation(mlm_micro, episodes, inner_lr=0.1, inner_steps=2)
    for _ in range(2):  # computing, then reading the cache
        cached = evaluate_text_adaptation(mlm_micro, episodes, inner_lr=0.1, inner_steps=2, trunk=cache)
        for a, b in zip(cached.per_episode, plain.per_episode):
            assert a == pytest.approx(b, abs=1e-6)
        assert cached.support_loss == pytest.approx(plain.support_loss, rel=1e-4)
    with pytest.raises(ValueError, match="trunk is a TrunkCache of another model or of top_k=1"):
        evaluate_text_adaptation(mlm_micro, episodes, inner_steps=1, top_k=2, trunk=cache)
    with pytest.raises(ValueError, match="max_rows=0 must be a positive integer"):
        TrunkCache(mlm_micro, max_rows=0)


def test_text_adaptation_on_worker_threads_gives_the_same_curve(suites, mlm_micro):
    import copy

    from metalearn_edu.meta import InnerLoopDivergedError

    model = copy.deepcopy(mlm_micro).train()  # dropout on: the evaluation must still run in eval mode
    episodes = suites.test_episodes("bbc", 3) + suites.test_episodes("smlmt", 2)
    threads = torch.get_num_threads()
    plain = evaluate_text_adaptation(model, episodes, inner_lr=0.1, inner_steps=2)
    spread = evaluate_text_adaptation(model, episodes, inner_lr=0.1, inner_steps=2, workers=2)
    assert model.training and torch.get_num_threads() == threads  # both restored
    assert len(spread.per_episode) == len(episodes)
    for a, b in zip(spread.per_episode, plain.per_episode):  # the episodes' order is kept
        assert a == pytest.approx(b, abs=1e-6)
    assert spread.support_loss == pytest.approx(plain.support_loss, rel=1e-4)
    assert spread.metric == plain.metric == "accuracy" and spread.ci == pytest.approx(plain.ci, abs=1e-6)
    with pytest.raises(InnerLoopDivergedError):  # an error in a worker reaches the caller
        evaluate_text_adaptation(model, episodes, inner_lr=1e6, inner_steps=2, workers=2)
    with pytest.raises(ValueError, match="workers=0 must be a positive integer"):
        evaluate_text_adaptation(model, episodes, workers=0)
    with pytest.raises(ValueError, match="use workers=1 with vectorize=True"):
        evaluate_text_adaptation(model, episodes, workers=2, vectorize=True)


def test_pretraining_beats_random_init_by_more_than_the_intervals(suites, mlm_micro):
    # 10 episodes: ≈ 0.84 ± 0.08 against ≈ 0.30 ± 0.08 (40 episodes gave 0.84 ± 0.03 against 0.31 ± 0.03)
    episodes = suites.test_episodes("bbc", 10)
    torch.manual_seed(0)
    random_init = BertEncoder(mlm_micro.cfg)
    pretrained = evaluate_text_adaptation(mlm_micro, episodes, inner_steps=0)
    scratch = evaluate_text_adaptation(random_init, episodes, inner_steps=0)
    (m1, h1), (m0, h0) = pretrained.at(0), scratch.at(0)
    assert m1 - h1 > m0 + h0, (pretrained.format(0), scratch.format(0))


def test_bag_of_words_beats_chance_and_needs_texts(suites):
    accuracies = [bag_of_words_accuracy(ep) for ep in suites.test_episodes("bbc", 30)]
    assert sum(accuracies) / len(accuracies) > 0.2 + 0.15  # 5-way chance is 0.2
    bare = Episode(torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]),
                   torch.zeros(2, 3, dtype=torch.long), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="support_texts"):
        bag_of_words_accuracy(bare)


@pytest.mark.parametrize("task,n_way,k_shot", [("bbc", 3, 2), ("smlmt", 4, 3)])
def test_held_out_sampler_gives_the_suites_episodes(course_tokenizer, task, n_way, k_shot):
    from metalearn_edu.meta.text import held_out_sampler, text_task_suites

    fast = held_out_sampler(course_tokenizer, task, n_way, k_shot, 5)
    full = text_task_suites(course_tokenizer, n_way=n_way, k_shot=k_shot, q_query=5).test_episodes(task, 3, first=7)
    for i, ep in enumerate(full):
        mine = fast.episode(7 + i)
        assert mine.classes == ep.classes and torch.equal(mine.support_x, ep.support_x)
        assert torch.equal(mine.query_y, ep.query_y)
    with pytest.raises(ValueError, match="task='topics'"):
        held_out_sampler(course_tokenizer, "topics", 3, 2)
