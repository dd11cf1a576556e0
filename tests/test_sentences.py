"""Tests of `metalearn_edu.data.sentences`: `split_sentences`."""

from __future__ import annotations

import pytest

from metalearn_edu.data import Document, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Brown met Dr. Smith at St. Paul's. They talked.",
         ["Mr. Brown met Dr. Smith at St. Paul's.", "They talked."]),
        ("Growth was 3.5% in 2004. Analysts expected 3.2%.",
         ["Growth was 3.5% in 2004.", "Analysts expected 3.2%."]),
        ("The U.S. Senate voted. Shares rose!", ["The U.S. Senate voted.", "Shares rose!"]),
        ("It has rivals, e.g. Sony and Nintendo. Sales fell.", ["It has rivals, e.g. Sony and Nintendo.", "Sales fell."]),
        ('"It is over," he said. "We lost." Then he left.',
         ['"It is over," he said.', '"We lost."', "Then he left."]),
        ('"Why?" he asked. Nobody knew.', ['"Why?" he asked.', "Nobody knew."]),
        ("George W. Bush spoke. 2005 will be hard.", ["George W. Bush spoke.", "2005 will be hard."]),
        ("Headline without a stop\n\nFirst paragraph. Second sentence.\n\n\nLast one",
         ["Headline without a stop", "First paragraph.", "Second sentence.", "Last one"]),
        ("A sentence wrapped\nover two lines. Next.", ["A sentence wrapped over two lines.", "Next."]),
        ("He listed:\n- first item\n- second item", ["He listed:", "- first item", "- second item"]),
        ("It cost £600m. $5bn was next.", ["It cost £600m.", "$5bn was next."]),
        ("  \n\n  ", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_split_sentences_on_bbc_keeps_all_words(bbc: list[Document]) -> None:
    for doc in bbc[:200]:
        assert " ".join(split_sentences(doc.text)).split() == doc.text.split()
