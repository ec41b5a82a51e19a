r"""The portable regular-expression subset of SEMANTICS.md §5.

This module owns three things:

* :func:`validate_pattern` — a small hand-written parser for the subset that
  returns every problem, each naming the 0-based character position;
* :func:`python_search` — the Python evaluation of ``matches``, compiled with
  RE2 (linear time; Python's backtracking ``re`` never sees a user pattern);
* :func:`for_dialect` — the pattern rewritten for one SQL engine so that the
  engine's regex *search* gives exactly the matches of :func:`python_search`.

Semantics (one meaning, every engine follows it)
------------------------------------------------

A match is a *search*: unanchored unless the pattern anchors. Matching is
case-sensitive and works on Unicode code points.

* ``.`` matches any code point except ``\n`` (it does match ``\r`` and the
  other Unicode line separators). Every dialect gets ``[^\n]`` instead of ``.``
  because PostgreSQL's ``.`` matches newline, Java's and ICU's ``.`` refuse
  ``\r``, U+0085, U+2028 and U+2029, and MariaDB's flags can be changed by the
  server's ``default_regex_flags``.
* A negated class ``[^...]`` matches ``\n`` (as on every engine by default).
* ``^`` matches only at the start of the subject and ``$`` only at its very
  end — never before a final newline, never at line boundaries. PCRE, ICU and
  Java let ``$`` match before a trailing line terminator, so they get ``\A``
  and ``\z``; PostgreSQL (non-newline-sensitive ARE) and RE2 already mean this
  by ``^`` and ``$``.
* For MariaDB/MySQL the pattern starts with ``(?-ix)``: MariaDB's
  ``default_regex_flags`` may switch on EXTENDED mode (spaces ignored) and a
  case-insensitive collation switches on caseless matching; the prefix undoes
  both. The ``COLLATE utf8mb4_bin`` below is still required.
* Groups never change whether a search matches, so ``(?:...)`` is accepted and
  emitted as a plain group ``( )``, which every engine understands.

How a SQL compiler uses it
--------------------------

``for_dialect(pattern, flavor)`` gives the pattern text to bind as a parameter
for an engine's regex flavor (``postgres``, ``mysql``, ``duckdb``, ``bigquery``,
``spark``, ``trino``; ``sqlite`` gets the pattern unchanged, for the registered
function). The SQL around it belongs to the SQL compiler: each dialect class's
``regex_search`` under ``segmentkit/compile/`` (as text:
``segmentkit.compile.sql.regex_search_sql``). MariaDB and MySQL take REGEXP's case
sensitivity from the collation, so the compiler searches the subject under
``utf8mb4_bin`` (case-sensitive and still a character string, so classes and ``.``
see code points; ``CAST(... AS BINARY)`` would make them see bytes).

Snowflake is refused on purpose: its regex functions are implicitly anchored
(``RLIKE``) or position-based, it documents no end-of-subject anchor such as
``\z`` and does not say whether ``$`` matches before a final newline, so we
cannot promise the matches of :func:`python_search` there.

When the SQL text is rendered with inlined literals (never the default), the
pattern's backslashes must be escaped as each dialect's string literals
demand: MySQL/MariaDB (unless ``NO_BACKSLASH_ESCAPES``), Spark and BigQuery
(non-raw strings) treat ``\`` in string literals as an escape character.

Limits: patterns of at most :data:`MAX_PATTERN_LENGTH` characters; every
bound of ``{m,n}`` at most :data:`MAX_REPEAT` (PostgreSQL's ``RE_DUP_MAX``);
groups nested at most :data:`MAX_GROUP_DEPTH` deep; a group that contains
``|`` or a quantifier may only be made optional (``?``, ``{0,1}``), never
repeated: ``(a|a)*`` or ``(a?){20}`` take exponential time on the backtracking
engines (MariaDB's PCRE2, Java), and MariaDB then stops at PCRE2's match limit
and silently answers *false* (warning 1139). That also keeps nested counted
repetition small (RE2 refuses bounds whose product exceeds 1000).

Cost bounds (docs/regex.md): counted repetitions stand for at most
:data:`MAX_REPEAT_COST` positions (RE2's automaton grows with them); an
unbounded repetition must be deterministic — what follows it cannot start
with a character it repeats — because patterns such as ``^[^x]*a[^x]*b$``
need quadratic backtracking on MariaDB and hit PCRE2's match limit (a silent
*false* with warning 1139) on a few thousand characters; bounded ambiguity
(``a?a``) is allowed up to :data:`MAX_CHOICES` ways. Through SQLAlchemy,
:mod:`segmentkit.compile.engines` still turns warning 1139 into
:class:`~segmentkit.errors.UnsupportedError` for anything that gets there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import re2

from segmentkit.errors import Problem, RuleError, UnsupportedError

__all__ = [
    "DIALECTS",
    "MAX_CHOICES",
    "MAX_GROUP_DEPTH",
    "MAX_PATTERN_LENGTH",
    "MAX_REPEAT",
    "MAX_REPEAT_COST",
    "for_dialect",
    "python_search",
    "sqlite_regexp",
    "validate_pattern",
]

MAX_PATTERN_LENGTH: Final = 256
MAX_REPEAT: Final = 255
MAX_GROUP_DEPTH: Final = 32
# The counted repetitions of a pattern ({m}, {m,n}) may stand for at most this many
# positions in all (a{3}b{0,5} stands for 8; (ab){4} for 8). RE2's automaton (the
# Python evaluator, SQLite, DuckDB) keeps one state per position, so the bound keeps
# every search within a small constant per character of the subject.
MAX_REPEAT_COST: Final = 100
# A bounded repetition that may go on or stop at the same character (a?a, a{2,3}a)
# makes a backtracking engine try each count; the product of those counts over the
# pattern is at most this. Unbounded ones (*, +, {m,}) may never be ambiguous so.
MAX_CHOICES: Final = 16
# Past this many characters we stop parsing: the length problem is reported
# and a megabyte of garbage must not produce a megabyte of messages.
_SCAN_LIMIT: Final = 4 * MAX_PATTERN_LENGTH
_MAX_PROBLEMS: Final = 20


# Metacharacters outside a class: written escaped on input and on output.
_META: Final = frozenset("\\.^$|?*+()[]{}")
# Characters escaped when emitted inside a class. '&' because Java and Joni read
# '&&' as class intersection; '[' because of POSIX '[:' and Java class unions.
_CLASS_META: Final = frozenset("\\]^-[&")
_CONTROL_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r"}
_CONTROL_OUT: Final = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
# Escaping ASCII punctuation is a literal on every engine; '_' is excluded
# because some engines treat an escaped word character as an error.
_ESCAPABLE: Final = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~")

_ALPHA_ESCAPE_REASONS: Final = {
    "w": "class escape \\w",
    "W": "class escape \\W",
    "d": "class escape \\d",
    "D": "class escape \\D",
    "s": "class escape \\s",
    "S": "class escape \\S",
    "b": "word boundary \\b",
    "B": "word boundary \\B",
    "A": "anchor escape \\A (use ^)",
    "z": "anchor escape \\z (use $)",
    "Z": "anchor escape \\Z (use $)",
    "p": "Unicode property \\p",
    "P": "Unicode property \\P",
    "x": "hex escape \\x (write the character itself)",
    "u": "escape \\u (write the character itself)",
    "k": "named back-reference \\k",
}


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class _Lit:
    char: str


@dataclass(frozen=True, slots=True)
class _Dot:
    pass


@dataclass(frozen=True, slots=True)
class _Class:
    negated: bool
    ranges: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Anchor:
    end: bool  # False: ^, True: $


@dataclass(frozen=True, slots=True)
class _Group:
    alt: _Alt


@dataclass(frozen=True, slots=True)
class _Repeat:
    node: _Node
    min: int
    max: int | None  # None: unbounded
    text: str  # the quantifier as written: '*', '+', '?', '{2,5}'
    pos: int = -1  # of the quantifier in the pattern (for messages)


@dataclass(frozen=True, slots=True)
class _Alt:
    branches: tuple[tuple[_Node, ...], ...]


_Node = _Lit | _Dot | _Class | _Anchor | _Group | _Repeat


# ------------------------------------------------------------------------ parser


class _Parser:
    """Recursive-descent parser that records problems and keeps going."""

    def __init__(self, pattern: str) -> None:
        self.p = pattern[:_SCAN_LIMIT]
        self.i = 0
        self.depth = 0
        self.stopped = False
        self.problems: list[str] = []

    def error(self, pos: int, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"position {pos}: {message}")

    def peek(self) -> str | None:
        return self.p[self.i] if self.i < len(self.p) else None

    def parse(self) -> _Alt:
        alt = self.alternation()
        while self.i < len(self.p):
            # Only an unmatched ')' stops alternation() at depth 0.
            self.error(self.i, "unbalanced ')' (write \\) for a literal parenthesis)")
            self.i += 1
            more = self.alternation()
            alt = _Alt(alt.branches + more.branches)
        return alt

    def alternation(self) -> _Alt:
        starts = [self.i]
        branches = [self.sequence()]
        while self.peek() == "|":
            self.i += 1
            starts.append(self.i)
            branches.append(self.sequence())
        if len(branches) > 1:
            for start, branch in zip(starts, branches, strict=True):
                if not branch:
                    self.error(start, "empty alternative (not portable: some engines reject it)")
        return _Alt(tuple(branches))

    def sequence(self) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while (c := self.peek()) is not None and c not in "|)":
            pos = self.i
            if c in "*+?" or (c == "{" and self.quantifier_at(self.i) is not None):
                q = self.quantifier()
                text = q[3] if q is not None else c
                self.error(pos, f"quantifier {text!r} has nothing to repeat")
                items.append(_Lit(text))  # keeps the branch from also being "empty"
                continue
            atom = self.atom()
            if atom is None:
                continue
            items.append(self.quantified(atom))
        return tuple(items)

    def quantified(self, atom: _Node) -> _Node:
        node = atom
        q = self.quantifier()
        if q is None:
            return node
        qpos, lo, hi, text = q
        if isinstance(atom, _Anchor):
            self.error(qpos, f"quantifier {text!r} cannot repeat an anchor")
        elif isinstance(atom, _Group):
            if _contains_anchor(atom.alt):
                self.error(qpos, f"quantifier {text!r} repeats a group containing ^ or $")
            if (hi is None or hi > 1) and _is_ambiguous(atom.alt):
                self.error(
                    qpos,
                    f"quantifier {text!r} repeats a group containing '|' or a quantifier: "
                    "backtracking engines (MariaDB, Java) may take exponential time, and "
                    "MariaDB then silently answers false; use a class such as [ab]* or "
                    "write the repetitions out",
                )
        node = _Repeat(atom, lo, hi, text, qpos)
        if (nxt := self.peek()) is not None and (
            nxt in "*+?" or (nxt == "{" and self.quantifier_at(self.i) is not None)
        ):
            kind = {"?": "lazy", "+": "possessive"}.get(nxt)
            if kind:
                self.error(self.i, f"{kind} quantifier {text + nxt!r} is not portable")
            else:
                self.error(self.i, f"nested quantifier {text + nxt!r} is not portable")
            # Swallow the chain so one mistake gives one message.
            while self.quantifier() is not None:
                pass
        return node

    def quantifier_at(self, i: int) -> tuple[int, int | None, int] | None:
        """Parse '{m}', '{m,}', '{m,n}' at i: (min, max, end index) or None."""
        p = self.p
        j = i + 1
        k = j
        while k < len(p) and p[k].isascii() and p[k].isdigit():
            k += 1
        if k == j or k >= len(p):
            return None
        lo = int(p[j:k])
        if p[k] == "}":
            return lo, lo, k + 1
        if p[k] != ",":
            return None
        m = k + 1
        n = m
        while n < len(p) and p[n].isascii() and p[n].isdigit():
            n += 1
        if n >= len(p) or p[n] != "}":
            return None
        hi = int(p[m:n]) if n > m else None
        return lo, hi, n + 1

    def quantifier(self) -> tuple[int, int, int | None, str] | None:
        c = self.peek()
        pos = self.i
        if c == "*":
            self.i += 1
            return pos, 0, None, "*"
        if c == "+":
            self.i += 1
            return pos, 1, None, "+"
        if c == "?":
            self.i += 1
            return pos, 0, 1, "?"
        if c == "{":
            got = self.quantifier_at(pos)
            if got is None:
                return None
            lo, hi, end = got
            text = self.p[pos:end]
            self.i = end
            for bound in (lo, hi):
                if bound is not None and bound > MAX_REPEAT:
                    self.error(pos, f"repetition bound in {text!r} exceeds {MAX_REPEAT}")
                    break
            if hi is not None and lo > hi:
                self.error(pos, f"repetition {text!r} has min > max")
            return pos, min(lo, MAX_REPEAT), None if hi is None else min(hi, MAX_REPEAT), text
        return None

    def atom(self) -> _Node | None:
        c = self.p[self.i]
        pos = self.i
        if c == "(":
            if self.depth >= MAX_GROUP_DEPTH:
                self.error(pos, f"groups nested deeper than {MAX_GROUP_DEPTH}")
                self.i = len(self.p)  # stop: the rest cannot be parsed meaningfully
                self.stopped = True
                return None
            self.i += 1
            if self.p.startswith("?:", self.i):
                self.i += 2
            elif self.peek() == "?":
                nxt = self.p[self.i + 1 : self.i + 2]
                what = {
                    "=": "look-ahead",
                    "!": "look-ahead",
                    "<": "look-behind or named group",
                    "P": "named group",
                    "#": "comment",
                }.get(nxt, "inline flags")
                self.error(pos, f"{what} '(?{nxt}' is not in the portable subset")
                self.i += 1
            self.depth += 1
            inner = self.alternation()
            self.depth -= 1
            if self.peek() == ")":
                self.i += 1
                if inner.branches == ((),):
                    self.error(pos, "empty group (not portable: some engines reject it)")
            elif not self.stopped:
                self.error(pos, "unbalanced '(' (no matching ')')")
            return _Group(inner)
        if c == "[":
            return self.bracket()
        if c == ".":
            self.i += 1
            return _Dot()
        if c == "^":
            self.i += 1
            return _Anchor(end=False)
        if c == "$":
            self.i += 1
            return _Anchor(end=True)
        if c == "\\":
            ch = self.escape(in_class=False)
            # A refused escape still stands for one atom, so a following
            # quantifier is not reported a second time.
            return _Lit("\\" if ch is None else ch)
        if c == "]":
            self.error(pos, "unbalanced ']' (write \\] for a literal bracket)")
        elif c == "{":
            self.error(pos, "'{' does not start {m}, {m,} or {m,n} (write \\{ for a literal brace)")
            # Skip a malformed bound such as '{,3}' whole: one mistake, one message.
            j = pos + 1
            while j < len(self.p) and self.p[j] in "0123456789,":
                j += 1
            if j < len(self.p) and self.p[j] == "}":
                self.i = j

        elif c == "}":
            self.error(pos, "unbalanced '}' (write \\} for a literal brace)")
        else:
            self.check_char(pos, c)
        self.i += 1
        return _Lit(c)

    def check_char(self, pos: int, c: str) -> None:
        if c == "\0":
            self.error(pos, "NUL character is not allowed")
        elif 0xD800 <= ord(c) <= 0xDFFF:
            self.error(pos, "lone surrogate is not a character")

    def escape(self, in_class: bool) -> str | None:
        """Consume a backslash escape; the literal character or None if refused."""
        pos = self.i
        self.i += 1
        c = self.peek()
        if c is None:
            self.error(pos, "pattern ends with a lone backslash")
            return None
        self.i += 1
        if c in _CONTROL_ESCAPES:
            return _CONTROL_ESCAPES[c]
        if c in _ESCAPABLE:
            return c
        if c.isascii() and c.isdigit():
            self.error(pos, f"back-reference or octal escape '\\{c}' is not in the portable subset")
        elif c in _ALPHA_ESCAPE_REASONS:
            self.error(pos, f"{_ALPHA_ESCAPE_REASONS[c]} is not in the portable subset")
            if c in "pPxuk" and self.peek() == "{":
                # '\p{L}', '\x{41}': the braces belong to the escape.
                end = self.p.find("}", self.i)
                if end != -1:
                    self.i = end + 1
        else:
            self.error(pos, f"escape '\\{c}' is not in the portable subset")
        return None

    def class_char(self) -> tuple[str | None, int]:
        """One class member character (possibly escaped): (char or None, position)."""
        pos = self.i
        c = self.p[self.i]
        if c == "\\":
            return self.escape(in_class=True), pos
        if c == "[":
            nxt = self.p[self.i + 1 : self.i + 2]
            if nxt in (":", ".", "="):
                self.error(pos, f"POSIX class '[{nxt}...' is not in the portable subset")
                # Skip to its closing ':]' so the one mistake gives one message.
                end = self.p.find(nxt + "]", self.i + 2)
                if end != -1:
                    self.i = end + 2
                    return None, pos
            else:
                self.error(pos, "unescaped '[' inside a class (write \\[)")
            self.i += 1
            return None, pos
        self.check_char(pos, c)
        self.i += 1
        return c, pos

    def bracket(self) -> _Node | None:
        start = self.i
        self.i += 1
        negated = False
        if self.peek() == "^":
            negated = True
            self.i += 1
        ranges: list[tuple[str, str]] = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                self.error(start, "unbalanced '[' (no closing ']')")
                return None
            if c == "]":
                if first:
                    self.error(
                        self.i, "empty class or leading ']' (write \\] for a literal bracket)"
                    )
                    self.i += 1
                    return None
                self.i += 1
                break
            first = False
            if c == "-":
                # Literal only as the first or last member.
                if self.p[self.i + 1 : self.i + 2] == "]" or not ranges:
                    self.i += 1
                    ranges.append(("-", "-"))
                    continue
                self.error(self.i, "'-' must be escaped (\\-) unless first or last in a class")
                self.i += 1
                continue
            lo, lo_pos = self.class_char()
            if self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                if self.peek() == "-":
                    self.error(self.i, "'-' must be escaped (\\-) as a range end")
                    self.i += 1
                    continue
                hi, _ = self.class_char()
                if lo is None or hi is None:
                    continue
                if ord(lo) > ord(hi):
                    self.error(lo_pos, f"range {lo!r}-{hi!r} is reversed")
                    continue
                ranges.append((lo, hi))
            elif lo is not None:
                ranges.append((lo, lo))
        return _Class(negated, tuple(ranges))


def _contains_anchor(alt: _Alt) -> bool:
    return any(_node_has(n, _Anchor) for b in alt.branches for n in b)


def _node_has(node: _Node, kind: type) -> bool:
    if isinstance(node, kind):
        return True
    if isinstance(node, _Group):
        return any(_node_has(n, kind) for b in node.alt.branches for n in b)
    if isinstance(node, _Repeat):
        return _node_has(node.node, kind)
    return False


def _is_ambiguous(alt: _Alt) -> bool:
    """Does the group hold an alternation or a quantifier (so repeating it may backtrack)?"""
    if len(alt.branches) > 1:
        return True
    return any(_node_has(n, _Repeat) for n in alt.branches[0])


# ------------------------------------------------------------------- cost bounds
#
# Two checks keep every accepted pattern linear in the subject (per match attempt):
#
# * the *repeat cost*: counted repetitions expand to one automaton state per
#   position; their total is bounded by MAX_REPEAT_COST;
# * *deterministic repetition*: wherever an unbounded repetition (``*``, ``+``,
#   ``{m,}``) may either go on or stop, the next character must decide which:
#   the characters that can start another round must be disjoint from those
#   that can follow the repetition. A bounded one (``?``, ``{m,n}``) may leave
#   the choice open, but the product of its choices over the pattern is at most
#   MAX_CHOICES. Then a backtracking engine (MariaDB's PCRE2, Java) has at most
#   a constant number of ways to consume the same text in one match attempt.
#
# Character sets are sorted lists of inclusive code-point ranges; the anchors
# take two code points outside Unicode, so ``[^x]*$`` is deterministic.
_BEGIN: Final = -2
_END: Final = -1
_ALL: Final = ((0, 0x10FFFF),)
_CharSet = tuple[tuple[int, int], ...]


def _normal(ranges: list[tuple[int, int]]) -> _CharSet:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def _complement(cs: _CharSet) -> _CharSet:
    out: list[tuple[int, int]] = []
    start = 0
    for lo, hi in cs:
        if lo > start:
            out.append((start, lo - 1))
        start = max(start, hi + 1)
    if start <= 0x10FFFF:
        out.append((start, 0x10FFFF))
    return tuple(out)


def _common(a: _CharSet, b: _CharSet) -> int | None:
    """A code point in both sets (a readable one if there is), or None."""
    both: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            both.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    if not both:
        return None
    for wanted in (ord("a"), ord("x"), ord("0"), ord("A")):
        if any(lo <= wanted <= hi for lo, hi in both):
            return wanted
    for lo, hi in both:
        if hi >= 0x21:
            return max(lo, 0x21)
    return both[0][0]


def _atom_set(node: _Lit | _Dot | _Class) -> _CharSet:
    if isinstance(node, _Lit):
        return ((ord(node.char), ord(node.char)),)
    if isinstance(node, _Dot):
        return ((0, 9), (11, 0x10FFFF))
    ranges = _normal([(ord(lo), ord(hi)) for lo, hi in node.ranges])
    return _complement(ranges) if node.negated else ranges


def _first(node: _Node) -> tuple[_CharSet, bool]:
    """The characters ``node`` can start with, and whether it can match nothing."""
    if isinstance(node, _Lit | _Dot | _Class):
        return _atom_set(node), False
    if isinstance(node, _Anchor):
        return ((_END, _END) if node.end else (_BEGIN, _BEGIN),), False
    if isinstance(node, _Repeat):
        cs, nullable = _first(node.node)
        return cs, nullable or node.min == 0
    ranges: list[tuple[int, int]] = []
    nullable = False
    for branch in node.alt.branches:
        cs, empty = _first_of(branch)
        ranges.extend(cs)
        nullable = nullable or empty
    return _normal(ranges), nullable


def _first_of(seq: tuple[_Node, ...], follow: _CharSet = ()) -> tuple[_CharSet, bool]:
    ranges: list[tuple[int, int]] = []
    for node in seq:
        cs, nullable = _first(node)
        ranges.extend(cs)
        if not nullable:
            return _normal(ranges), False
    ranges.extend(follow)
    return _normal(ranges), True


def _show_code(code: int) -> str:
    if code == _END:
        return "the end ($)"
    if code == _BEGIN:
        return "the start (^)"
    return repr(chr(code))


class _CostChecker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.cost = 0
        self.choices = 1

    def sequence(self, seq: tuple[_Node, ...], follow: _CharSet) -> None:
        """Check ``seq`` whose matches are followed by a character of ``follow``."""
        after = follow
        for node in reversed(seq):
            self.node(node, after)
            cs, nullable = _first(node)
            after = _normal([*cs, *after]) if nullable else cs

    def node(self, node: _Node, follow: _CharSet) -> None:
        if isinstance(node, _Group):
            for branch in node.alt.branches:
                self.sequence(branch, follow)
        elif isinstance(node, _Repeat):
            if node.text.startswith("{"):
                self.cost += _size(node.node) * (node.max if node.max is not None else node.min)
            again = node.max is None or node.max > 1
            first, _ = _first(node.node)
            inner_follow = _normal([*first, *follow]) if again else follow
            self.node(node.node, inner_follow)
            if node.max is None or node.max > node.min:
                clash = _common(first, follow)
                if clash is not None and node.max is not None:
                    # A bounded choice (a?a, (ab|cd)?c): tried at most max - min + 1
                    # ways; the product over the pattern stays a small constant.
                    self.choices *= node.max - node.min + 1
                    if self.choices <= MAX_CHOICES:
                        clash = None
                if clash is not None and len(self.problems) < _MAX_PROBLEMS:
                    cost = (
                        "time polynomial in the subject's length"
                        if node.max is None
                        else f"more than {MAX_CHOICES} tries per position, multiplied with "
                        "the pattern's other ambiguous repetitions"
                    )
                    self.problems.append(
                        f"position {node.pos}: quantifier {node.text!r} may go on or stop "
                        f"at the same character ({_show_code(clash)}): backtracking engines "
                        f"(MariaDB, Java) would need {cost}; make what follows the "
                        "repetition unable to start with a character it repeats (e.g. "
                        "[^x]*x instead of .*x), or leave the repetition out"
                    )


def _size(node: _Node) -> int:
    """Automaton positions of ``node`` with its own counted repetitions expanded."""
    if isinstance(node, _Lit | _Dot | _Class):
        return 1
    if isinstance(node, _Anchor):
        return 0
    if isinstance(node, _Repeat):
        inner = _size(node.node)
        if node.text.startswith("{"):
            return inner * max(node.max if node.max is not None else node.min + 1, 1)
        return inner
    return sum(_size(n) for branch in node.alt.branches for n in branch)


def _cost_problems(tree: _Alt) -> list[str]:
    checker = _CostChecker()
    for branch in tree.branches:
        checker.sequence(branch, ())  # the end of the pattern: the search has matched
    # Found right to left; reported in pattern order.
    problems = sorted(checker.problems, key=lambda p: int(p.split(":")[0].split()[1]))
    if checker.cost > MAX_REPEAT_COST:
        problems.append(
            f"counted repetitions stand for {checker.cost} positions; at most "
            f"{MAX_REPEAT_COST} are allowed (each costs time on every character searched; "
            "use * or + where the exact count does not matter)"
        )
    return problems


def _parse(pattern: str) -> tuple[_Alt, list[str]]:
    parser = _Parser(pattern)
    problems: list[str] = []
    if not pattern:
        return _Alt(((),)), ["empty pattern"]
    if len(pattern) > MAX_PATTERN_LENGTH:
        problems.append(
            f"pattern is {len(pattern)} characters long; at most {MAX_PATTERN_LENGTH} allowed"
        )
    tree = parser.parse()
    problems.extend(parser.problems)
    if not problems:
        problems.extend(_cost_problems(tree))
    return tree, problems


def validate_pattern(pattern: str) -> list[str]:
    """Every problem of ``pattern`` against the portable subset; ``[]`` means valid.

    Positions are 0-based indexes into the pattern.
    """
    if not isinstance(pattern, str):
        return [f"pattern must be a string, not {type(pattern).__name__}"]
    return _parse(pattern)[1]


def _checked(pattern: str) -> _Alt:
    if not isinstance(pattern, str):
        raise RuleError(f"pattern must be a string, not {type(pattern).__name__}")
    tree, problems = _parse(pattern)
    if problems:
        raise RuleError([Problem("", f"invalid pattern: {p}") for p in problems])
    return tree


# ----------------------------------------------------------------------- emitter


@dataclass(frozen=True, slots=True)
class _Flavor:
    bol: str
    eol: str
    prefix: str = ""


_RE2: Final = _Flavor("^", "$")
_FLAVORS: Final[dict[str, _Flavor]] = {
    "postgres": _Flavor("^", "$"),  # ARE without newline-sensitive mode: string anchors
    # PCRE2/ICU '$' also matches before a final newline. '(?-ix)' undoes what
    # MariaDB's default_regex_flags (EXTENDED would drop spaces) or a
    # case-insensitive collation would switch on.
    "mysql": _Flavor("\\A", "\\z", "(?-ix)"),
    "duckdb": _RE2,
    "bigquery": _RE2,
    "spark": _Flavor("\\A", "\\z"),  # java.util.regex, same '$' rule as PCRE
    "trino": _Flavor("\\A", "\\z"),
}


#: the regex flavors :func:`for_dialect` writes for.
DIALECTS: Final = frozenset(_FLAVORS) | {"sqlite"}


def _emit_char(c: str) -> str:
    if c in _META:
        return "\\" + c
    return _CONTROL_OUT.get(c, c)


def _emit_class_char(c: str) -> str:
    if c in _CLASS_META:
        return "\\" + c
    return _CONTROL_OUT.get(c, c)


def _emit(alt: _Alt, flavor: _Flavor) -> str:
    def node(n: _Node) -> str:
        if isinstance(n, _Lit):
            return _emit_char(n.char)
        if isinstance(n, _Dot):
            return "[^\\n]"
        if isinstance(n, _Anchor):
            return flavor.eol if n.end else flavor.bol
        if isinstance(n, _Class):
            body = "".join(
                _emit_class_char(lo)
                if lo == hi
                else f"{_emit_class_char(lo)}-{_emit_class_char(hi)}"
                for lo, hi in n.ranges
            )
            return f"[{'^' if n.negated else ''}{body}]"
        if isinstance(n, _Group):
            return f"({alternation(n.alt)})"
        quant = n.text
        if n.text[0] == "{":
            # Re-spell bounds canonically (drops leading zeros some engines misread).
            lo = n.min
            quant = (
                f"{{{lo}}}"
                if n.max == lo and "," not in n.text
                else (f"{{{lo},}}" if n.max is None else f"{{{lo},{n.max}}}")
            )
        return node(n.node) + quant

    def alternation(a: _Alt) -> str:
        return "|".join("".join(node(x) for x in branch) for branch in a.branches)

    return flavor.prefix + alternation(alt)


def for_dialect(pattern: str, dialect: str) -> str:
    """``pattern`` rewritten for ``dialect``'s regex flavor (see the module docstring).

    Raises :class:`~segmentkit.errors.RuleError` for an invalid pattern and
    :class:`~segmentkit.errors.UnsupportedError` for a dialect with no flavor here (the
    SQL compiler refuses regex on ``tsql`` and ``snowflake`` with its reasons).
    """
    flavor = _FLAVORS.get(dialect)
    if flavor is None and dialect != "sqlite":
        raise UnsupportedError(
            "regular-expression match",
            dialect,
            f"no regex flavor; known: {', '.join(sorted(DIALECTS))}",
        )
    tree = _checked(pattern)
    if flavor is None:
        # SQLite: the registered function evaluates with python_search on the original text.
        return pattern
    return _emit(tree, flavor)


# ------------------------------------------------------------------------ python


_OPTIONS: Final = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is our RuleError, not stderr noise
_OPTIONS.never_capture = True  # a yes/no search needs no group offsets


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> Callable[[str], bool]:
    text = _emit(_checked(pattern), _RE2)
    # Searching UTF-8 bytes skips the wrapper's str offset bookkeeping (about
    # twice as fast); RE2 still reads the bytes as UTF-8 code points.
    # 'surrogatepass' keeps a lone surrogate (which no SQL engine can store)
    # from raising; it is searched as its surrogate-escaped bytes.
    search_bytes = re2.compile(text.encode("utf-8"), _OPTIONS).search

    def search(subject: str) -> bool:
        return search_bytes(subject.encode("utf-8", "surrogatepass")) is not None

    search.__doc__ = f"RE2 search for {text!r}"
    return search


def python_search(pattern: str) -> Callable[[str], bool]:
    """A predicate ``subject -> bool``: does ``pattern`` match somewhere in ``subject``?

    Compiled with RE2 (linear time) and cached (LRU, 1024 patterns). Raises
    :class:`~segmentkit.errors.RuleError` if the pattern is outside the subset.
    """
    if not isinstance(pattern, str):
        raise RuleError(f"pattern must be a string, not {type(pattern).__name__}")
    return _compiled(pattern)


def sqlite_regexp(pattern: str | None, subject: str | None) -> int | None:
    """SQLite's ``regexp(pattern, subject)``: register it as ``regexp`` with 2 arguments."""
    if pattern is None or subject is None:
        return None
    return int(_compiled(pattern)(subject))
