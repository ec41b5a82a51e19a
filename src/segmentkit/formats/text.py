"""The readable text form of a rule: ``parse_text`` and ``to_text`` (``str(rule)``).

Example::

    country in ('DE', 'AT') and (age >= 18 or vip is true)
        and not email ends with '@test.com' ignoring case

Lexing is sqlglot's ``Tokenizer`` (SQL string, identifier, number and comment rules);
the grammar is a small recursive-descent parser over those tokens, because most of
the operators are multi-word phrases (``starts with``, ``in last 30 days``,
``has any``) that sqlglot's SQL grammar cannot express, and because only the
whitelisted constructs below may appear: no function calls, no sub-queries, no
statements. Grammar (keywords are case-insensitive)::

    rule      := or EOF
    or        := and ('or' and)*                  -- AND binds tighter than OR
    and       := unary ('and' unary)*
    unary     := 'not' unary | '(' or ')' | 'true' | 'false'
               | 'in' 'segment' STRING | event | condition
    event     := 'performed' STRING ['where' '(' or ')'] ['count' CMP INT] ['in' 'last' INT UNIT]
    condition := FIELD clause ['ignoring' 'case']
    clause    := CMP value                        -- = != <> < <= > >=
               | ['not'] 'in' value | ['not'] 'between' value 'and' value
               | ['not'] ('contains' | 'starts' 'with' | 'ends' 'with' | 'matches' | 'on') value
               | 'before' value | 'after' value
               | 'is' ['not'] ('null' | 'empty') | 'is' ('true' | 'false')
               | ['not'] 'in' 'last' INT UNIT | 'in' 'next' INT UNIT | 'older' 'than' INT UNIT
               | 'has' value | 'has' ('any' | 'all' | 'none') value
               | '@' NAME [value]                 -- any operator by name, e.g. a plugin's
    value     := STRING | ['-'] NUMBER | 'true' | 'false' | 'null' | FIELD
               | '(' [value (',' value)*] ')' | 'json' STRING
    FIELD     := name | "quoted name"             -- a bare FIELD as a value: field-to-field

Strings are single-quoted (``''`` escapes a quote); integers read as ``int``, other
numbers as ``Decimal`` (exact: a decimal field refuses floats). ``id`` keys of nodes
are not part of the text form. A group of one rule prints in parentheses, and
``(a)`` parses back to a group of one, so ``to_text``/``parse_text`` round-trip
structure (an ``or`` group of one rule comes back as ``and``: same meaning).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlglot import Token, Tokenizer, TokenType
from sqlglot.errors import TokenError

from ..errors import RuleError
from ..model import MAX_DEPTH, Condition, EventCondition, Group, SegmentRef, json_loads, parse
from ._common import Node, check_tree_depth, is_field_ref

__all__ = ["RESERVED", "parse_text", "to_text"]

MAX_TEXT_LENGTH = 10_000_000
# Longer numbers hold no value any field type accepts (a double ends near 1.8e308).
_MAX_NUMBER_LENGTH = 400

# Words with a meaning in the grammar; as field names they must be double-quoted.
RESERVED = frozenset(
    [
        "and",
        "or",
        "not",
        "in",
        "is",
        "null",
        "true",
        "false",
        "between",
        "contains",
        "starts",
        "ends",
        "with",
        "matches",
        "before",
        "after",
        "on",
        "last",
        "next",
        "older",
        "than",
        "has",
        "any",
        "all",
        "none",
        "empty",
        "performed",
        "where",
        "count",
        "segment",
        "ignoring",
        "case",
        "json",
    ]
)

_CMP = {
    TokenType.EQ: "eq",
    TokenType.NEQ: "neq",
    TokenType.LT: "lt",
    TokenType.LTE: "lte",
    TokenType.GT: "gt",
    TokenType.GTE: "gte",
}
_CMP_TEXT = {"eq": "=", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_WORD_OPS = {  # operator -> its phrase; the negative twins are "not " + phrase
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "matches": "matches",
    "on": "on",
    "in": "in",
    "between": "between",
}
_NEGATED = {
    "not_contains": "contains",
    "not_starts_with": "starts_with",
    "not_ends_with": "ends_with",
    "not_matches": "matches",
    "not_on": "on",
    "not_in": "in",
    "not_between": "between",
}
_IS = {
    "is_null": "is null",
    "is_not_null": "is not null",
    "is_empty": "is empty",
    "is_not_empty": "is not empty",
    "is_true": "is true",
    "is_false": "is false",
}
_DURATION = {
    "in_last": "in last",
    "not_in_last": "not in last",
    "in_next": "in next",
    "older_than": "older than",
}
_HAS = {"has_any": "has any", "has_all": "has all", "has_none": "has none"}
_UNITS = ("minutes", "hours", "days", "weeks", "months", "years")


# --------------------------------------------------------------------------- printing
@functools.lru_cache(maxsize=4096)
def _bare(name: str) -> bool:
    """Whether a name can be printed without quotes (one plain word token)."""
    if not name.isidentifier() or name.lower() in RESERVED:
        return False
    try:
        tokens = Tokenizer().tokenize(name)
    except TokenError:
        return False
    return len(tokens) == 1 and tokens[0].token_type is TokenType.VAR and tokens[0].text == name


def _ident(name: str) -> str:
    return name if _bare(name) else '"' + name.replace('"', '""') + '"'


def _string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RuleError(f"{value!r} has no text form")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise RuleError(f"{value} has no text form")
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dt.date | dt.datetime):
        return _string(value.isoformat())
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_value(v) for v in value) + ")"
    if is_field_ref(value):
        return _ident(value["field"])
    try:
        return "json " + _string(json.dumps(value, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError):
        raise RuleError(f"value {value!r} has no text form") from None


def _duration(value: Any) -> str | None:
    if (
        isinstance(value, Mapping)
        and set(value) == {"amount", "unit"}
        and isinstance(value["amount"], int)
        and not isinstance(value["amount"], bool)
        and value["amount"] >= 0
        and value["unit"] in _UNITS
    ):
        return f"{value['amount']} {value['unit']}"
    return None


def _condition(c: Condition) -> str:
    name, value, field = c.operator, c.value, _ident(c.field)
    text: str | None = None
    if name in _CMP_TEXT:
        text = f"{_CMP_TEXT[name]} {_value(value)}"
    elif name in ("between", "not_between"):
        if isinstance(value, list | tuple) and len(value) == 2:
            neg = "not " if name == "not_between" else ""
            text = f"{neg}between {_value(value[0])} and {_value(value[1])}"
    elif name in _WORD_OPS:
        text = f"{_WORD_OPS[name]} {_value(value)}"
    elif name in _NEGATED:
        text = f"not {_WORD_OPS[_NEGATED[name]]} {_value(value)}"
    elif name in _IS:
        text = _IS[name] if value is None else None
    elif name in _DURATION:
        span = _duration(value)
        text = f"{_DURATION[name]} {span}" if span else None
    elif name in ("before", "after", "has"):
        text = f"{name} {_value(value)}"
    elif name in _HAS:
        text = f"{_HAS[name]} {_value(value)}"
    if text is None:
        # Any other operator (a plugin's), or a value the phrase cannot carry.
        if not name.isidentifier():
            raise RuleError(f"operator name {name!r} has no text form")
        text = f"@{name}" if value is None else f"@{name} {_value(value)}"
    suffix = " ignoring case" if c.ignore_case else ""
    return f"{field} {text}{suffix}"


def _event(e: EventCondition) -> str:
    parts = [f"performed {_string(e.event)}"]
    if e.where is not None:
        w = e.where
        simple = not w.not_ and w.rules and (len(w.rules) > 1 or not isinstance(w.rules[0], Group))
        parts.append(f"where ({_body(w) if simple else _operand(w)})")
    if (e.count.operator, e.count.value) != ("gte", 1):
        parts.append(f"count {_CMP_TEXT[e.count.operator]} {e.count.value}")
    if e.in_last is not None:
        parts.append(f"in last {e.in_last.amount} {e.in_last.unit}")
    return " ".join(parts)


def _operand(node: Node) -> str:
    """A node as an operand of and/or: groups always in parentheses."""
    if isinstance(node, Group):
        if not node.rules:
            base = "true" if node.combinator == "and" else "false"
            return f"not {base}" if node.not_ else base
        body = _body(node)
        return f"not ({body})" if node.not_ else f"({body})"
    if isinstance(node, Condition):
        return _condition(node)
    if isinstance(node, SegmentRef):
        return f"in segment {_string(node.segment)}"
    return _event(node)


def _body(group: Group) -> str:
    return f" {group.combinator} ".join(_operand(child) for child in group.rules)


def _top(node: Node) -> str:
    if isinstance(node, Group) and len(node.rules) > 1 and not node.not_:
        return _body(node)
    return _operand(node)


def to_text(rule: Any) -> str:
    """The text form of a rule (a node, dict or JSON); ``parse_text`` reads it back."""
    tree = parse(rule)
    check_tree_depth(tree)
    return _top(tree)


# --------------------------------------------------------------------------- parsing
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self.tokens: list[Token] = Tokenizer().tokenize(text)
        except TokenError as exc:
            raise RuleError(f"cannot read the text: {exc} (unterminated quote?)") from None
        quoted = (TokenType.STRING, TokenType.IDENTIFIER, TokenType.NUMBER)
        self.words: list[str | None] = [
            t.text.lower() if t.token_type not in quoted and t.text.isidentifier() else None
            for t in self.tokens
        ]
        self.i = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------
    def where(self, tok: Token | None = None) -> str:
        if tok is None:
            tok = self.peek()
        if tok is None:
            line = self.text.count("\n") + 1
            col = len(self.text) - (self.text.rfind("\n") + 1) + 1
            return f"line {line}, column {col}"
        start = tok.start
        line = self.text.count("\n", 0, start) + 1
        col = start - (self.text.rfind("\n", 0, start) + 1) + 1
        return f"line {line}, column {col}"

    def fail(self, expected: str, tok: Token | None = None) -> RuleError:
        tok = tok if tok is not None else self.peek()
        if tok is None:
            got = "the end of the text"
        elif tok.token_type is TokenType.SEMICOLON:
            got = "';' (only one rule expression is allowed, no statements)"
        elif tok.token_type is TokenType.STRING:
            got = f"the string {_string(tok.text)[:40]}"
        else:
            got = repr(tok.text[:40])
        return RuleError(f"{self.where(tok)}: expected {expected}, got {got}")

    def peek(self, ahead: int = 0) -> Token | None:
        j = self.i + ahead
        return self.tokens[j] if j < len(self.tokens) else None

    def word(self, ahead: int = 0) -> str | None:
        """The lower-cased text of an unquoted word token (keywords included)."""
        j = self.i + ahead
        return self.words[j] if j < len(self.words) else None

    def at(self, *words: str) -> bool:
        return tuple(self.words[self.i : self.i + len(words)]) == words

    def take(self, *words: str) -> bool:
        if self.at(*words):
            self.i += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.take(*words):
            raise self.fail(repr(" ".join(words)))

    def expect_type(self, ttype: TokenType, what: str) -> Token:
        tok = self.peek()
        if tok is None or tok.token_type is not ttype:
            raise self.fail(what)
        self.i += 1
        return tok

    # -- grammar ---------------------------------------------------------------
    def rule(self) -> tuple[dict[str, Any], bool]:
        node = self.or_expr()
        if self.peek() is not None:
            raise self.fail("'and', 'or' or the end of the rule")
        return node

    def or_expr(self) -> tuple[dict[str, Any], bool]:
        """An expression, and whether it combined several terms into a new group."""
        chains = [self.and_expr()]
        while self.take("or"):
            chains.append(self.and_expr())
        if len(chains) == 1:
            return chains[0]
        return {"combinator": "or", "rules": [c for c, _ in chains]}, True

    def and_expr(self) -> tuple[dict[str, Any], bool]:
        terms = [self.unary()]
        while self.take("and"):
            terms.append(self.unary())
        if len(terms) == 1:
            return terms[0][0], False
        return {"combinator": "and", "rules": [t for t, _ in terms]}, True

    def unary(self) -> tuple[dict[str, Any], bool]:
        """A term, and whether ``not`` may mark it directly (a parenthesised group or a
        constant) instead of wrapping it in a negated group."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise RuleError(f"{self.where()}: rule nested deeper than {MAX_DEPTH} levels")
        try:
            if self.take("not"):
                inner, markable = self.unary()
                if markable and not inner.get("not"):
                    return {**inner, "not": True}, False
                return {"combinator": "and", "not": True, "rules": [inner]}, False
            tok = self.peek()
            if tok is not None and tok.token_type is TokenType.L_PAREN:
                self.i += 1
                inner, combined = self.or_expr()
                self.expect_type(TokenType.R_PAREN, "')'")
                if combined:
                    return inner, True
                return {"combinator": "and", "rules": [inner]}, True
            if self.take("true"):
                return {"combinator": "and", "rules": []}, True
            if self.take("false"):
                return {"combinator": "or", "rules": []}, True
            if self.take("in", "segment"):
                seg = self.expect_type(TokenType.STRING, "a segment id in quotes")
                return {"segment": seg.text}, False
            if self.take("performed"):
                return self.event(), False
            return self.condition(), False
        finally:
            self.depth -= 1

    def event(self) -> dict[str, Any]:
        name = self.expect_type(TokenType.STRING, "an event name in quotes")
        out: dict[str, Any] = {"event": name.text}
        if self.take("where"):
            self.expect_type(TokenType.L_PAREN, "'(' after 'where'")
            self.depth += 1
            inner, _ = self.or_expr()
            self.depth -= 1
            self.expect_type(TokenType.R_PAREN, "')'")
            out["where"] = inner if "rules" in inner else {"combinator": "and", "rules": [inner]}
        if self.take("count"):
            tok = self.peek()
            if tok is None or tok.token_type not in _CMP:
                raise self.fail("a comparison (=, !=, <, <=, >, >=) after 'count'")
            self.i += 1
            out["count"] = {"operator": _CMP[tok.token_type], "value": self.integer()}
        if self.take("in", "last"):
            out["in_last"] = self.duration()
        return out

    def integer(self) -> int:
        tok = self.expect_type(TokenType.NUMBER, "a whole number")
        if not (tok.text.isascii() and tok.text.isdigit()) or len(tok.text) > 12:
            raise self.fail("a whole number", tok)
        return int(tok.text)

    def duration(self) -> dict[str, Any]:
        amount = self.integer()
        unit = self.word()
        if unit not in _UNITS:
            raise self.fail("a unit (" + ", ".join(_UNITS) + ")")
        self.i += 1
        return {"amount": amount, "unit": unit}

    def field_name(self, expected: str) -> str:
        tok = self.peek()
        if tok is not None and tok.token_type is TokenType.IDENTIFIER:
            self.i += 1
            return tok.text
        w = self.word()
        if (
            tok is not None
            and tok.token_type is TokenType.VAR
            and w is not None
            and w not in RESERVED
        ):
            self.i += 1
            return tok.text
        raise self.fail(expected)

    def condition(self) -> dict[str, Any]:
        field = self.field_name("a field name, '(', 'not', 'in segment' or 'performed'")
        out: dict[str, Any] = {"field": field}
        out.update(self.clause())
        if self.take("ignoring", "case"):
            out["ignore_case"] = True
        return out

    def clause(self) -> dict[str, Any]:
        tok = self.peek()
        if tok is not None and tok.token_type in _CMP:
            self.i += 1
            return {"operator": _CMP[tok.token_type], "value": self.value()}
        if tok is not None and tok.token_type is TokenType.PARAMETER and tok.text == "@":
            self.i += 1
            name = self.peek()
            if name is None or name.token_type is TokenType.STRING or not name.text.isidentifier():
                raise self.fail("an operator name after '@'")
            self.i += 1
            out: dict[str, Any] = {"operator": name.text}
            if self.starts_value():
                out["value"] = self.value()
            return out
        negated = self.take("not")
        if self.take("in", "last"):
            return {"operator": "not_in_last" if negated else "in_last", "value": self.duration()}
        if not negated:
            if self.take("in", "next"):
                return {"operator": "in_next", "value": self.duration()}
            if self.take("older", "than"):
                return {"operator": "older_than", "value": self.duration()}
            if self.take("is"):
                neg = self.take("not")
                for word in ("null", "empty") + (() if neg else ("true", "false")):
                    if self.take(word):
                        return {"operator": f"is_{'not_' if neg else ''}{word}"}
                raise self.fail(
                    "'null' or 'empty'" if neg else "'null', 'empty', 'true' or 'false'"
                )
            for word in ("before", "after"):
                if self.take(word):
                    return {"operator": word, "value": self.value()}
            if self.take("has"):
                for kind in ("any", "all", "none"):
                    if self.take(kind):
                        return {"operator": f"has_{kind}", "value": self.value()}
                return {"operator": "has", "value": self.value()}
        prefix = "not_" if negated else ""
        if self.take("between"):
            low = self.value()
            self.expect("and")
            return {"operator": f"{prefix}between", "value": [low, self.value()]}
        for op_name, phrase in _WORD_OPS.items():
            if op_name != "between" and self.take(*phrase.split()):
                return {"operator": prefix + op_name, "value": self.value()}
        if negated:
            raise self.fail(
                "in, between, contains, starts with, ends with, matches, on or in last after 'not'"
            )
        raise self.fail("an operator (=, !=, <, in, between, contains, starts with, is null, ...)")

    def starts_value(self) -> bool:
        tok = self.peek()
        if tok is None:
            return False
        if tok.token_type in (
            TokenType.STRING,
            TokenType.NUMBER,
            TokenType.IDENTIFIER,
            TokenType.DASH,
            TokenType.L_PAREN,
        ):
            return True
        w = self.word()
        return w in ("true", "false", "null", "json") or (
            tok.token_type is TokenType.VAR and w is not None and w not in RESERVED
        )

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail("a value")
        tt = tok.token_type
        if tt is TokenType.STRING:
            self.i += 1
            return tok.text
        if tt in (TokenType.NUMBER, TokenType.DASH):
            return self.number()
        if tt is TokenType.L_PAREN:
            self.i += 1
            items: list[Any] = []
            if self.peek() is not None and self.peek().token_type is TokenType.R_PAREN:  # type: ignore[union-attr]
                self.i += 1
                return items
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise RuleError(f"{self.where()}: value nested deeper than {MAX_DEPTH} levels")
            while True:
                items.append(self.value())
                nxt = self.peek()
                if nxt is not None and nxt.token_type is TokenType.COMMA:
                    self.i += 1
                    continue
                self.expect_type(TokenType.R_PAREN, "',' or ')'")
                self.depth -= 1
                return items
        if self.take("true"):
            return True
        if self.take("false"):
            return False
        if self.take("null"):
            return None
        if self.take("json"):
            src = self.expect_type(TokenType.STRING, "a quoted JSON value after 'json'")
            try:
                return json_loads(src.text, "the value after 'json'")
            except RuleError as exc:
                raise RuleError(f"{self.where(src)}: {exc.errors[0].message}") from None
        return {
            "field": self.field_name(
                "a value (a 'string', a number, true, false, null, (list) or a field)"
            )
        }

    def number(self) -> int | Decimal:
        sign = ""
        if self.peek() is not None and self.peek().token_type is TokenType.DASH:  # type: ignore[union-attr]
            self.i += 1
            sign = "-"
        tok = self.expect_type(TokenType.NUMBER, "a number")
        text = sign + tok.text
        if len(tok.text) > _MAX_NUMBER_LENGTH:
            raise RuleError(
                f"{self.where(tok)}: number longer than {_MAX_NUMBER_LENGTH} characters"
            )
        if tok.text.isdigit():
            return int(text)
        try:
            return Decimal(text)
        except InvalidOperation:
            raise self.fail("a number", tok) from None


def parse_text(text: str) -> Node:
    """Parse the text form into a native rule; a ``RuleError`` says where it fails."""
    if not isinstance(text, str):
        raise RuleError("the text form of a rule must be a string")
    if len(text) > MAX_TEXT_LENGTH:
        raise RuleError(f"rule text longer than {MAX_TEXT_LENGTH:,} characters")
    if not text.strip():
        raise RuleError("line 1, column 1: expected a rule, got an empty text")
    parser = _Parser(text)
    native, _ = parser.rule()
    return parse(native)
