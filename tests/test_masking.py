"""Tests for BERT's dynamic masking (`metalearn_edu.masking`)."""

from __future__ import annotations

import pytest
import torch

from metalearn_edu.masking import IGNORE_INDEX, MaskingConfig, MaskingVocab, eligible_positions, mask_tokens

PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4
SPECIALS = (PAD, UNK, CLS, SEP, MASK)
V = 1000
FIRST_CONT = 600  # ids >= FIRST_CONT are '##' continuation pieces in the synthetic vocab


def make_vocab() -> MaskingVocab:
    continuation = torch.zeros(V, dtype=torch.bool)
    continuation[FIRST_CONT:] = True
    return MaskingVocab(vocab_size=V, mask_id=MASK, special_ids=SPECIALS, continuation=continuation)


def make_batch(batch: int = 1500, length: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random "sentences": [CLS] ids... [SEP] [PAD]..., with some [UNK] and ~40% '##' pieces.

    1500 x 256 = 384k positions, of which ~285k are real ordinary tokens, so a 1 pp
    tolerance on the 80/10/10 split is about 5 standard deviations.
    """
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, FIRST_CONT, (batch, length), generator=g)
    cont = torch.randint(FIRST_CONT, V, (batch, length), generator=g)
    ids = torch.where(torch.rand(batch, length, generator=g) < 0.4, cont, ids)
    ids = torch.where(torch.rand(batch, length, generator=g) < 0.01, torch.full_like(ids, UNK), ids)
    lengths = torch.randint(length // 2, length + 1, (batch,), generator=g)
    positions = torch.arange(length)
    attention_mask = (positions[None, :] < lengths[:, None]).long()
    ids[:, 0] = CLS
    ids[torch.arange(batch), lengths - 1] = SEP
    ids = torch.where(attention_mask.bool(), ids, torch.full_like(ids, PAD))
    return ids, attention_mask


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return make_batch()


def run(batch, seed: int = 1, **config) -> tuple[torch.Tensor, torch.Tensor, object]:
    ids, attention_mask = batch
    out = mask_tokens(ids, make_vocab(), MaskingConfig(**config), torch.Generator().manual_seed(seed), attention_mask)
    return ids, attention_mask, out


def fraction(part: torch.Tensor, whole: torch.Tensor) -> float:
    return part.sum().item() / whole.sum().item()


@pytest.mark.parametrize("whole_word", [False, True])
def test_default_rates(batch, whole_word):
    ids, attention_mask, out = run(batch, whole_word=whole_word)
    eligible = eligible_positions(ids, make_vocab(), attention_mask)
    assert eligible.sum() > 250_000
    assert abs(fraction(out.selected, eligible) - 0.15) < 0.01
    assert abs(fraction(out.masked, out.selected) - 0.8) < 0.01
    assert abs(fraction(out.randomized, out.selected) - 0.1) < 0.01
    assert abs(fraction(out.kept, out.selected) - 0.1) < 0.01


@pytest.mark.parametrize(
    "config, expected",
    [
        (dict(mask_prob=0.3), (0.3, 0.8, 0.1, 0.1)),
        (dict(mask_prob=0.15, mask_token_frac=0.5, random_token_frac=0.5), (0.15, 0.5, 0.5, 0.0)),
        (dict(mask_prob=0.5, mask_token_frac=0.0, random_token_frac=0.0), (0.5, 0.0, 0.0, 1.0)),
        (dict(mask_prob=1.0, mask_token_frac=1.0, random_token_frac=0.0), (1.0, 1.0, 0.0, 0.0)),
    ],
)
def test_custom_fractions(batch, config, expected):
    ids, attention_mask, out = run(batch, **config)
    eligible = eligible_positions(ids, make_vocab(), attention_mask)
    p, mask_frac, random_frac, keep_frac = expected
    assert abs(fraction(out.selected, eligible) - p) < 0.01
    assert abs(fraction(out.masked, out.selected) - mask_frac) < 0.01
    assert abs(fraction(out.randomized, out.selected) - random_frac) < 0.01
    assert abs(fraction(out.kept, out.selected) - keep_frac) < 0.01


def test_mask_prob_one_selects_every_eligible_token(batch):
    ids, attention_mask, out = run(batch, mask_prob=1.0)
    assert torch.equal(out.selected, eligible_positions(ids, make_vocab(), attention_mask))


@pytest.mark.parametrize("whole_word", [False, True])
def test_specials_and_padding_never_selected(batch, whole_word):
    ids, attention_mask, out = run(batch, mask_prob=0.9, whole_word=whole_word)
    special = torch.isin(ids, torch.tensor(SPECIALS))
    assert not (out.selected & special).any()
    assert not (out.selected & (attention_mask == 0)).any()
    # untouched positions keep their ids, so [CLS]/[SEP]/[PAD] survive
    assert torch.equal(out.input_ids[~out.selected], ids[~out.selected])


def test_padding_excluded_even_when_pad_id_is_ordinary():
    vocab = MaskingVocab(vocab_size=20, mask_id=4, special_ids=(4,))  # padding id 7 is not special here
    ids = torch.tensor([[10, 11, 12, 7, 7]])
    attention_mask = torch.tensor([[1, 1, 1, 0, 0]])
    out = mask_tokens(ids, vocab, MaskingConfig(mask_prob=1.0), torch.Generator().manual_seed(0), attention_mask)
    assert out.selected.tolist() == [[True, True, True, False, False]]


@pytest.mark.parametrize("whole_word", [False, True])
def test_labels_and_masks_are_consistent(batch, whole_word):
    ids, _, out = run(batch, whole_word=whole_word)
    assert torch.equal(out.labels == IGNORE_INDEX, ~out.selected)
    assert torch.equal(out.labels[out.selected], ids[out.selected])
    assert torch.equal(out.masked | out.randomized | out.kept, out.selected)
    assert not (out.masked & out.randomized).any() and not (out.masked & out.kept).any()
    assert not (out.randomized & out.kept).any()
    assert (out.input_ids[out.masked] == MASK).all()
    assert torch.equal(out.input_ids[out.kept], ids[out.kept])
    for tensor in (out.selected, out.masked, out.randomized, out.kept):
        assert tensor.dtype == torch.bool and tensor.shape == ids.shape
    assert out.input_ids.dtype == ids.dtype and out.labels.dtype == ids.dtype


def test_random_replacements_are_ordinary_and_spread_over_vocab(batch):
    ids, _, out = run(batch, mask_prob=0.5, mask_token_frac=0.0, random_token_frac=1.0)
    replaced = out.input_ids[out.randomized]
    assert replaced.numel() > 40_000
    assert not torch.isin(replaced, torch.tensor(SPECIALS)).any()
    assert replaced.min() >= 5 and replaced.max() < V
    counts = torch.bincount(replaced, minlength=V)[5:].float()  # uniform over the 995 ordinary ids
    assert (counts > 0).all()
    assert counts.std() / counts.mean() < 0.2


def test_same_seed_same_output_different_seed_different(batch):
    ids, _, first = run(batch, seed=123)
    _, _, again = run(batch, seed=123)
    _, _, other = run(batch, seed=124)
    for name in ("input_ids", "labels", "selected", "masked", "randomized", "kept"):
        assert torch.equal(getattr(first, name), getattr(again, name))
    assert not torch.equal(first.selected, other.selected)
    assert not torch.equal(first.input_ids, other.input_ids)


def test_does_not_mutate_input_or_global_rng(batch):
    ids, attention_mask = batch
    before = ids.clone()
    global_state = torch.get_rng_state()
    mask_tokens(ids, make_vocab(), MaskingConfig(mask_prob=0.5), torch.Generator().manual_seed(0), attention_mask)
    mask_tokens(ids, make_vocab(), MaskingConfig(mask_prob=0.5), None, attention_mask)
    assert torch.equal(ids, before)
    assert torch.equal(torch.get_rng_state(), global_state)


def test_whole_word_never_splits_a_word(batch):
    ids, attention_mask, out = run(batch, mask_prob=0.3, whole_word=True)
    vocab = make_vocab()
    eligible = eligible_positions(ids, vocab, attention_mask)
    is_cont = vocab.continuation[ids]
    # a '##' piece directly after an eligible token belongs to the same word as that token
    inside_word = is_cont[:, 1:] & eligible[:, 1:] & eligible[:, :-1]
    assert inside_word.sum() > 10_000
    assert torch.equal(out.selected[:, 1:][inside_word], out.selected[:, :-1][inside_word])
    # fraction of *words* selected ≈ mask_prob
    starts = eligible.clone()
    starts[:, 1:] &= ~inside_word
    assert starts.sum() > 50_000
    assert abs(fraction(out.selected & starts, starts) - 0.3) < 0.01
    # token-level masking, by contrast, does split words
    _, _, token_level = run(batch, mask_prob=0.3)
    assert not torch.equal(token_level.selected[:, 1:][inside_word], token_level.selected[:, :-1][inside_word])


def test_whole_word_small_example_against_loop():
    vocab = make_vocab()
    w, c = 10, FIRST_CONT  # a word start and a continuation piece
    # [CLS] w ##c ##c w w ##c [UNK] ##c [SEP] [PAD]
    ids = torch.tensor([[CLS, w, c, c, w, w + 1, c + 1, UNK, c + 2, SEP, PAD]])
    attention_mask = torch.tensor([[1] * 10 + [0]])
    words = [[1, 2, 3], [4], [5, 6], [8]]  # the '##' after [UNK] is a word of its own
    seen = set()
    for seed in range(40):
        out = mask_tokens(
            ids, vocab, MaskingConfig(mask_prob=0.5, whole_word=True), torch.Generator().manual_seed(seed), attention_mask
        )
        sel = out.selected[0].tolist()
        for word in words:
            assert len({sel[i] for i in word}) == 1
        assert not any(sel[i] for i in (0, 7, 9, 10))
        seen.add(tuple(sel[word[0]] for word in words))
    assert len(seen) > 8  # words are chosen independently of each other


def test_from_tokenizer_with_a_real_wordpiece_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "play", "##ing", "##ed", "un", "##believ",
              "##able", ".", ","]
    (tmp_path / "vocab.txt").write_text("\n".join(tokens) + "\n")
    tok = transformers.BertTokenizerFast.from_pretrained(str(tmp_path))
    vocab = MaskingVocab.from_tokenizer(tok)
    assert vocab.vocab_size == len(tokens) and vocab.mask_id == 4
    assert vocab.special_ids == (0, 1, 2, 3, 4)
    assert vocab.continuation.tolist() == [t.startswith("##") for t in tokens]
    assert sorted(vocab.random_ids.tolist()) == list(range(5, len(tokens)))

    enc = tok(["the cat playing unbelievable.", "the cat played"], padding=True, return_tensors="pt")
    for seed in range(20):
        out = mask_tokens(
            enc["input_ids"], vocab, MaskingConfig(mask_prob=0.5, whole_word=True),
            torch.Generator().manual_seed(seed), enc["attention_mask"],
        )
        row = out.selected[0].tolist()  # [CLS] the cat play ##ing un ##believ ##able . [SEP]
        assert row[3] == row[4] and row[5] == row[6] == row[7]
        assert not out.selected[enc["attention_mask"] == 0].any()


def test_empty_and_single_position_batches():
    vocab = make_vocab()
    g = torch.Generator().manual_seed(0)
    out = mask_tokens(torch.zeros(0, 5, dtype=torch.long), vocab, MaskingConfig(whole_word=True), g)
    assert out.input_ids.shape == (0, 5)
    out = mask_tokens(torch.tensor([[CLS, SEP]]), vocab, MaskingConfig(mask_prob=1.0), g)
    assert not out.selected.any()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_input_with_cpu_generator_matches_cpu(batch):
    ids, attention_mask = batch
    cfg = MaskingConfig(whole_word=True)
    cpu = mask_tokens(ids, make_vocab(), cfg, torch.Generator().manual_seed(5), attention_mask)
    gpu = mask_tokens(ids.cuda(), make_vocab(), cfg, torch.Generator().manual_seed(5), attention_mask.cuda())
    assert gpu.input_ids.device.type == "cuda"
    assert torch.equal(gpu.input_ids.cpu(), cpu.input_ids) and torch.equal(gpu.labels.cpu(), cpu.labels)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(mask_prob=0.0), "mask_prob"),
        (dict(mask_prob=1.5), "mask_prob"),
        (dict(mask_prob=-0.1), "mask_prob"),
        (dict(mask_token_frac=1.2), "mask_token_frac"),
        (dict(mask_token_frac=-0.1), "mask_token_frac"),
        (dict(random_token_frac=-0.5), "random_token_frac"),
        (dict(mask_token_frac=0.8, random_token_frac=0.3), "mask_token_frac + random_token_frac"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field.replace("+", r"\+")):
        MaskingConfig(**kwargs)


def test_masking_config_refuses_strings():
    with pytest.raises(ValueError, match="mask_prob='0.15'"):
        MaskingConfig(mask_prob="0.15")


def test_bad_inputs_raise_helpfully():
    vocab = make_vocab()
    with pytest.raises(ValueError, match="vocab_size"):
        mask_tokens(torch.tensor([[5, V]]), vocab)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        mask_tokens(torch.tensor([5, 6]), vocab)
    with pytest.raises(ValueError, match="attention_mask"):
        mask_tokens(torch.tensor([[5, 6]]), vocab, attention_mask=torch.ones(1, 3))
    no_cont = MaskingVocab(vocab_size=V, mask_id=MASK, special_ids=SPECIALS)
    with pytest.raises(ValueError, match="continuation"):
        mask_tokens(torch.tensor([[5, 6]]), no_cont, MaskingConfig(whole_word=True))
    with pytest.raises(ValueError, match="mask_id"):
        MaskingVocab(vocab_size=10, mask_id=10, special_ids=())
    with pytest.raises(ValueError, match="special_ids"):
        MaskingVocab(vocab_size=10, mask_id=4, special_ids=(11,))
    with pytest.raises(ValueError, match="continuation"):
        MaskingVocab(vocab_size=10, mask_id=4, special_ids=(), continuation=torch.zeros(9, dtype=torch.bool))


@pytest.mark.parametrize("field", ["mask_token_frac", "random_token_frac"])
def test_each_fraction_above_one_is_refused_by_its_own_check(field):
    # the other fraction 0, so the sum check alone would not name this field first
    other = "random_token_frac" if field == "mask_token_frac" else "mask_token_frac"
    for value in (1.5, 2.5):
        with pytest.raises(ValueError, match=rf"^{field}={value} is not allowed; it must be a number in \[0, 1\]"):
            MaskingConfig(**{field: value, other: 0.0})
    assert MaskingConfig(**{field: 1.0, other: 0.0}).keep_frac == 0.0


def test_the_sum_of_fractions_tolerates_only_rounding():
    assert MaskingConfig(mask_token_frac=1.0, random_token_frac=1e-9).keep_frac == 0.0  # rounding: allowed
    with pytest.raises(ValueError, match=r"mask_token_frac \+ random_token_frac"):
        MaskingConfig(mask_token_frac=1.0, random_token_frac=1e-8)


def test_masking_vocab_boundaries():
    # the smallest vocabulary: one special id and one ordinary id; mask_id 0 is a valid id
    vocab = MaskingVocab(vocab_size=2, mask_id=0, special_ids=())
    assert vocab.special_ids == (0,) and vocab.random_ids.tolist() == [1]
    for bad_size in (1, 0, -2):
        with pytest.raises(ValueError, match=f"^vocab_size={bad_size} is not allowed"):
            MaskingVocab(vocab_size=bad_size, mask_id=0, special_ids=())
    with pytest.raises(ValueError, match="special_ids contains \\[10\\]"):
        MaskingVocab(vocab_size=10, mask_id=4, special_ids=(10,))  # V itself is outside [0, V)
    with pytest.raises(ValueError, match="special_ids contains \\[-1\\]"):
        MaskingVocab(vocab_size=10, mask_id=4, special_ids=(-1,))


def test_input_checks_name_what_they_got():
    vocab = make_vocab()
    with pytest.raises(ValueError, match=r"got \(2,\); use input_ids.unsqueeze\(0\)"):
        mask_tokens(torch.tensor([5, 6]), vocab)
    with pytest.raises(ValueError, match="got list"):
        mask_tokens([[5, 6]], vocab)
    for dtype in (torch.float32, torch.float64, torch.bool):
        with pytest.raises(ValueError, match=f"integer ids, got dtype {dtype}"):
            mask_tokens(torch.tensor([[1, 0]], dtype=dtype), vocab)
    with pytest.raises(ValueError, match=rf"ids in \[{V}, {V}\]"):
        mask_tokens(torch.tensor([[V]]), vocab)  # a single id is checked too
    with pytest.raises(ValueError, match=r"ids in \[-1, -1\]"):
        mask_tokens(torch.tensor([[-1]]), vocab)


def test_int32_ids_and_a_list_of_continuation_flags():
    # the corrupted ids keep the input's integer dtype, random replacements included
    ids = torch.randint(5, V, (4, 64), generator=torch.Generator().manual_seed(1)).to(torch.int32)
    config = MaskingConfig(mask_prob=1.0, mask_token_frac=0.0, random_token_frac=1.0)
    out = mask_tokens(ids, make_vocab(), config, torch.Generator().manual_seed(0))
    assert out.input_ids.dtype == torch.int32 and out.randomized.all()
    # continuation given as a list is stored as a bool tensor, and whole-word masking uses it
    flags = [False] * V
    flags[7] = True
    vocab = MaskingVocab(vocab_size=V, mask_id=MASK, special_ids=SPECIALS, continuation=flags)
    assert isinstance(vocab.continuation, torch.Tensor) and vocab.continuation.dtype == torch.bool
    words = mask_tokens(torch.tensor([[6, 7, 8, 7]]), vocab, MaskingConfig(mask_prob=0.5, whole_word=True),
                        torch.Generator().manual_seed(3))
    assert words.selected[0, 0] == words.selected[0, 1] and words.selected[0, 2] == words.selected[0, 3]
