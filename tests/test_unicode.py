"""ignore_case uses the Unicode *simple* lowercase mapping, one code point at a time."""

from __future__ import annotations

import sys
import unicodedata

import pytest

import segmentkit as sk

CASED = [
    chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) in ("Lu", "Ll", "Lt")
]


def test_corpus_size() -> None:
    non_ascii = [c for c in CASED if ord(c) > 127]
    assert len(non_ascii) > 2000


def test_simple_lower_is_per_code_point() -> None:
    for ch in CASED:
        lowered = sk.simple_lower(ch)
        assert len(lowered) == 1, hex(ord(ch))
        # The simple mapping of a single code point is Python's lower() of it, except
        # U+0130 whose full mapping has two code points.
        expected = "i" if ch == "\u0130" else ch.lower()
        assert lowered == expected, hex(ord(ch))
    text = "".join(CASED)
    assert sk.simple_lower(text) == "".join(sk.simple_lower(c) for c in CASED)


@pytest.mark.parametrize(
    ("text", "lowered"),
    [
        ("İSTANBUL", "istanbul"),
        ("ΟΔΟΣ", "οδοσ"),
        ("STRASSE", "strasse"),
        ("Straße", "straße"),
        ("ǅ", "ǆ"),
        ("K", "k"),
    ],
)
def test_known_cases(text: str, lowered: str) -> None:
    assert sk.simple_lower(text) == lowered


def test_ignore_case_eq_over_the_corpus() -> None:
    schema = sk.Schema([sk.Field("s", "string")], key="s")
    rows = [{"s": c} for c in CASED]
    for probe in ["ä", "Ä", "σ", "ς", "i", "ǆ"]:
        match = sk.compile_python(
            {"field": "s", "operator": "eq", "value": probe, "ignore_case": True}, schema
        )
        got = {r["s"] for r in match.filter(rows)}
        assert got == {c for c in CASED if sk.simple_lower(c) == sk.simple_lower(probe)}
        assert got  # the probe itself matches
