"""Splitting news text into sentences with a few rules, the content words of a sentence, and a
document's lead (SMLMT tasks, text episodes and attention statistics need them)."""

from __future__ import annotations

import re
from typing import Sequence

from .documents import Document


# Words that end with a period without ending a sentence (compared lower-cased, without the period).
ABBREVIATIONS = frozenset(
    """mr mrs ms messrs dr prof st sr jr rev hon gen col lt sgt capt cmdr adm gov sen rep pres
    supt insp det no nos vs v co corp inc ltd bros dept est approx fig vol ed eds al cf mt ft
    jan feb apr jun jul aug sep sept oct nov dec""".split()
)
_OPENERS = "\"'\u201c\u2018(["
_CLOSERS = "\"'\u201d\u2019)]"
# End punctuation (plus closing quotes/brackets), whitespace, then something that can start a
# sentence: an optional opening quote and a capital letter, digit or currency sign.
_BOUNDARY = re.compile(rf"([.!?]+[{re.escape(_CLOSERS)}]*)\s+(?=[{re.escape(_OPENERS)}]*[A-Z0-9\u00a3$\u20ac])")
_BULLET = re.compile(r"^[-*\u2022]\s")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # "U.S" of "U.S.", "e.g" of "e.g."


def _is_abbreviation(unit: str, dot: int) -> bool:
    """Whether the word ending at ``unit[dot] == "."`` is an abbreviation or an initial."""
    before = unit[:dot].split()
    if not before:
        return False
    word = before[-1].lstrip(_OPENERS)
    return (
        word.lower() in ABBREVIATIONS
        or _ACRONYM.fullmatch(word) is not None
        or (len(word) == 1 and word.isupper())  # an initial: "George W. Bush"
    )


def split_sentences(text: str) -> list[str]:
    """Split news text into sentences with a few rules.

    Rules: paragraph breaks (blank lines) always end a sentence, and so does a line
    break before a bullet (``- ``, ``* ``, ``• ``); other line breaks are
    spaces. Inside a paragraph a sentence ends at ``.``, ``!`` or ``?`` (plus any
    closing quotes) followed by whitespace and a capital letter, digit, currency
    sign or opening quote, except after an abbreviation in `ABBREVIATIONS`, a
    dotted acronym (``U.S.``, ``e.g.``) or a single capital initial. Decimals such
    as ``3.5`` never split (no space after the point).

    Args:
        text: any text.

    Returns:
        The stripped, non-empty sentences in order.

    Example:
        >>> split_sentences('Mr. Smith paid $3.5bn. "It is fair," he said. Shares rose!')
        ['Mr. Smith paid $3.5bn.', '"It is fair," he said.', 'Shares rose!']
    """
    sentences: list[str] = []
    for paragraph in re.split(r"\n[^\S\n]*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        units: list[str] = []
        for line in paragraph.split("\n"):
            line = line.strip()
            if not line:
                continue
            if units and not _BULLET.match(line):
                units[-1] += " " + line
            else:
                units.append(line)
        for unit in units:
            unit = re.sub(r"\s+", " ", unit)
            start = 0
            for match in _BOUNDARY.finditer(unit):
                if match.group(1) == "." and _is_abbreviation(unit, match.start(1)):
                    continue
                sentences.append(unit[start : match.end(1)].strip())
                start = match.end()
            sentences.append(unit[start:].strip())
    return [s for s in sentences if s]


# Function words and news boilerplate that say nothing about a sentence's content.
STOP_WORDS = frozenset(
    """the and for are but not you all any can had her was one our out has him his how its may new now
    own see two who did get let put say she too use also been from have here into just like more most
    much must only over said same some such than that them then there these they this those very were
    what when where which while will with would could should about above after again against because
    before being below between both down during each few further once other ours their theirs through
    under until upon whom why yours itself himself herself themselves myself yourself does doing off
    per via yet nor either neither ever every many still even well back made make told says year years
    mr mrs ms""".split()
)
_WORD = re.compile(r"\w+")


def sentence_words(sentence: str) -> set[str]:
    """The content words of a sentence: lowercased, alphabetic, ≥ 3 letters, not in `STOP_WORDS`.

    Words are maximal runs of word characters (``\\w+``) made only of letters, so
    "covid19" and "2004" are not words and "U.S." gives none.

    Example:
        >>> sorted(sentence_words("The Bank's shares rose 5% in 2004."))
        ['bank', 'rose', 'shares']
    """
    return {w for m in _WORD.finditer(sentence) if len(w := m.group().lower()) >= 3
            and w.isalpha() and w not in STOP_WORDS}


def segmented_words(words: Sequence[str], min_chars: int = 2) -> set[str]:
    """The content words of a sentence that comes segmented (e.g. Chinese): at least `min_chars`
    characters, all of them letters (CJK characters count as letters), not in `STOP_WORDS`.

    Example:
        >>> sorted(segmented_words(["中国", "的", "经济", "1998", "。"]))
        ['中国', '经济']
    """
    return {w for w in words if len(w) >= min_chars and w.isalpha() and w.lower() not in STOP_WORDS}


def mask_word(sentence: str, word: str, mask_token: str = "[MASK]") -> str:
    """Replace every occurrence of `word` (as a whole word, any case) by one `mask_token`.

    Example:
        >>> mask_word("Shares rose; shares fell. Shareholders left.", "shares")
        '[MASK] rose; [MASK] fell. Shareholders left.'
    """
    return _WORD.sub(lambda m: mask_token if m.group().lower() == word else m.group(), sentence)


def lead_text(document: Document, max_words: int = 64) -> str:
    """A document's headline followed by its first sentences, about `max_words` words long.

    Sentences (from `split_sentences`) are added until at least `max_words`
    words are collected; the tokenizer then truncates to the token budget. When
    the document has a title that is not already its first sentence, the title
    comes first.

    Example:
        >>> lead_text(Document("d", "Big win\\n\\nThe team won. Fans cheered. It rained.", title="Big win"), 6)
        'Big win The team won. Fans cheered.'
    """
    sentences = split_sentences(document.text)
    if document.title and (not sentences or sentences[0] != document.title.strip()):
        sentences.insert(0, document.title.strip())
    kept: list[str] = []
    words = 0
    for sentence in sentences:
        kept.append(sentence)
        words += len(sentence.split())
        if words >= max_words:
            break
    return " ".join(kept)
