"""Splitting news text into sentences with a few rules (SMLMT tasks and attention statistics need sentences)."""

from __future__ import annotations

import re


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
