"""The portable regex subset: validator table, RE2 search, per-dialect rewrite, and a
differential test against real engines (PostgreSQL, MariaDB, DuckDB, SQLite, and
java.util.regex for the Spark/Trino form when a JDK is installed)."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from segmentkit.compile.sql import regex_search_sql
from segmentkit.errors import RuleError, UnsupportedError
from segmentkit.regex import (
    MAX_PATTERN_LENGTH,
    for_dialect,
    python_search,
    sqlite_regexp,
    validate_pattern,
)

MAX_EXAMPLES = int(os.environ.get("SEGMENTKIT_REGEX_EXAMPLES", "50"))

# ---------------------------------------------------------------- validator table

VALID = [
    "abc",
    "a.c",
    "^abc$",
    "a|b|c",
    "(ab)+",
    "(?:ab|cd)x",
    "a*b+c?",
    "a{3}",
    "a{2,}",
    "a{0,100}",
    "[^x]*x",
    "^[^@]+@[^@]+$",
    "colou?r",
    "foo.*",
    "[a-z]{2,5}[0-9]{1,3}",
    "[a-z]",
    "[^a-z0-9]",
    "[à-ÿ]",
    "[-a]",
    "[a-]",
    "[\\]\\[\\-\\^\\\\]",
    "[&&]",
    "\\.\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\^\\$\\\\",
    "\\n\\t\\r",
    "\\%_",  # escaped punctuation; "_" itself is plain
    "100%",
    "it's",
    "é😀",
    "line\nbreak",
    "(a+)?",
    "(ab|cd)?",
    "(ab|cd){0,1}",
    "(ab)+",
    "(a[bc]d){2,5}",
    "x" * MAX_PATTERN_LENGTH,
    "a^b",
    "$a",
]

_AMBIGUOUS = (
    "quantifier {q!r} repeats a group containing '|' or a quantifier: backtracking engines "
    "(MariaDB, Java) may take exponential time, and MariaDB then silently answers false; "
    "use a class such as [ab]* or write the repetitions out"
)

# (pattern, the exact problem list)
REFUSED = [
    ("", ["empty pattern"]),
    ("x" * 257, [f"pattern is 257 characters long; at most {MAX_PATTERN_LENGTH} allowed"]),
    ("a\0b", ["position 1: NUL character is not allowed"]),
    ("\\w+", ["position 0: class escape \\w is not in the portable subset"]),
    ("a\\d", ["position 1: class escape \\d is not in the portable subset"]),
    ("\\s", ["position 0: class escape \\s is not in the portable subset"]),
    ("\\bword", ["position 0: word boundary \\b is not in the portable subset"]),
    ("(a)\\1", ["position 3: back-reference or octal escape '\\1' is not in the portable subset"]),
    ("\\A", ["position 0: anchor escape \\A (use ^) is not in the portable subset"]),
    ("x\\z", ["position 1: anchor escape \\z (use $) is not in the portable subset"]),
    ("\\p{L}", ["position 0: Unicode property \\p is not in the portable subset"]),
    ("\\_", ["position 0: escape '\\_' is not in the portable subset"]),
    ("[[:alpha:]]", ["position 1: POSIX class '[:...' is not in the portable subset"]),
    ("[a[b]", ["position 2: unescaped '[' inside a class (write \\[)"]),
    ("(?i)abc", ["position 0: inline flags '(?i' is not in the portable subset"]),
    ("a(?=b)", ["position 1: look-ahead '(?=' is not in the portable subset"]),
    ("(?<=a)b", ["position 0: look-behind or named group '(?<' is not in the portable subset"]),
    ("a*?", ["position 2: lazy quantifier '*?' is not portable"]),
    ("a+?", ["position 2: lazy quantifier '+?' is not portable"]),
    ("a++", ["position 2: possessive quantifier '++' is not portable"]),
    ("a**", ["position 2: nested quantifier '**' is not portable"]),
    ("a{2}{3}", ["position 4: nested quantifier '{2}{' is not portable"]),
    ("*a", ["position 0: quantifier '*' has nothing to repeat"]),
    ("a|+", ["position 2: quantifier '+' has nothing to repeat"]),
    ("{2}", ["position 0: quantifier '{2}' has nothing to repeat"]),
    ("^*", ["position 1: quantifier '*' cannot repeat an anchor"]),
    ("(^a)+", ["position 4: quantifier '+' repeats a group containing ^ or $"]),
    ("(a+)+", [f"position 4: {_AMBIGUOUS.format(q='+')}"]),
    ("(a|b)*", [f"position 5: {_AMBIGUOUS.format(q='*')}"]),
    ("(ab|cd){2}", [f"position 7: {_AMBIGUOUS.format(q='{2}')}"]),
    ("^(a?){20}a{20}$", [f"position 5: {_AMBIGUOUS.format(q='{20}')}"]),
    ("((a{10}){10}){10}", [
        f"position 8: {_AMBIGUOUS.format(q='{10}')}",
        f"position 13: {_AMBIGUOUS.format(q='{10}')}",
    ]),
    ("a{256}", ["position 1: repetition bound in '{256}' exceeds 255"]),
    ("a{1,300}", ["position 1: repetition bound in '{1,300}' exceeds 255"]),
    ("a{3,2}", ["position 1: repetition '{3,2}' has min > max"]),
    ("a{,3}", ["position 1: '{' does not start {m}, {m,} or {m,n} (write \\{ for a literal brace)"]),
    ("a{", ["position 1: '{' does not start {m}, {m,} or {m,n} (write \\{ for a literal brace)"]),
    ("a}", ["position 1: unbalanced '}' (write \\} for a literal brace)"]),
    ("a]", ["position 1: unbalanced ']' (write \\] for a literal bracket)"]),
    ("(ab", ["position 0: unbalanced '(' (no matching ')')"]),
    ("ab)", ["position 2: unbalanced ')' (write \\) for a literal parenthesis)"]),
    ("[ab", ["position 0: unbalanced '[' (no closing ']')"]),
    ("[]", ["position 1: empty class or leading ']' (write \\] for a literal bracket)"]),
    ("[z-a]", ["position 1: range 'z'-'a' is reversed"]),
    ("[a-c-e]", ["position 4: '-' must be escaped (\\-) unless first or last in a class"]),
    ("a|", ["position 2: empty alternative (not portable: some engines reject it)"]),
    ("|a", ["position 0: empty alternative (not portable: some engines reject it)"]),
    ("()", ["position 0: empty group (not portable: some engines reject it)"]),
    ("ab\\", ["position 2: pattern ends with a lone backslash"]),
    ("a\ud800", ["position 1: lone surrogate is not a character"]),
    # Several problems are all reported, in order.
    ("\\d(?i)[", [
        "position 0: class escape \\d is not in the portable subset",
        "position 2: inline flags '(?i' is not in the portable subset",
        "position 6: unbalanced '[' (no closing ']')",
    ]),
    ("(" * 40 + "a" + ")" * 40, ["position 32: groups nested deeper than 32"]),
]  # fmt: skip


@pytest.mark.parametrize("pattern", VALID)
def test_valid_patterns(pattern: str) -> None:
    assert validate_pattern(pattern) == []
    python_search(pattern)  # compiles on RE2 without error


@pytest.mark.parametrize(("pattern", "problems"), REFUSED)
def test_refused_patterns(pattern: str, problems: list[str]) -> None:
    assert validate_pattern(pattern) == problems
    with pytest.raises(RuleError) as info:
        python_search(pattern)
    assert [e.message for e in info.value.errors] == [f"invalid pattern: {p}" for p in problems]
    with pytest.raises(RuleError):
        for_dialect(pattern, "postgres")


def test_non_string_pattern() -> None:
    assert validate_pattern(3) == ["pattern must be a string, not int"]  # type: ignore[arg-type]
    with pytest.raises(RuleError):
        python_search(None)  # type: ignore[arg-type]


def test_huge_pattern_is_bounded() -> None:
    problems = validate_pattern("(" * 1_000_000)
    assert problems[0].startswith("pattern is 1000000 characters long")
    assert len(problems) <= 21


# -------------------------------------------------------------------- python_search

SEARCH_CASES = [
    ("b", "abc", True),
    ("^b", "abc", False),
    ("a$", "a\n", False),  # '$' is the very end, never before a final newline
    ("a\\n$", "a\n", True),
    ("^b", "a\nb", False),  # no multiline anchors
    ("a$", "a\nb", False),
    ("a.b", "a\nb", False),  # '.' never matches newline
    ("a.b", "a\rb", True),  # ... but matches every other line separator
    ("a.b", "a\u2028b", True),
    ("a[^x]b", "a\nb", True),  # a negated class does match newline
    ("^.$", "😀", True),  # code points, not bytes or UTF-16 units
    ("^.{3}$", "é😀a", True),
    ("[à-ÿ]", "é", True),
    ("[à-ÿ]", "É", False),  # case-sensitive
    ("É", "é", False),
    ("\u03c3", "Σ", False),
    ("^$", "", True),
    ("x*", "", True),
    ("a", "", False),
    ("100%", "100%", True),
    ("100%", "1000", False),  # '%' and '_' are plain characters
    ("a_c", "abc", False),
    ("\\\\", "a\\b", True),
    ("it's", "it's", True),
    ("[\\]\\-]", "-", True),
    ("[&&]", "&", True),
    ("(?:ab|cd)cd$", "xabcd", True),
    ("(ab)+$", "xabab", True),
    ("a\ud800", "", None),  # invalid: refused, see test_refused_patterns
]


@pytest.mark.parametrize(("pattern", "subject", "expected"), SEARCH_CASES[:-1])
def test_python_search(pattern: str, subject: str, expected: bool) -> None:
    assert python_search(pattern)(subject) is expected


def test_python_search_lone_surrogate_subject() -> None:
    assert python_search("a.b")("a\udc80b") is True
    assert python_search("^a$")("a\udc80") is False


def test_python_search_is_cached_and_linear() -> None:
    assert python_search("^[^x]*x[^y]*y$") is python_search("^[^x]*x[^y]*y$")
    assert python_search("^[^x]*x[^y]*y$")("a" * 200_000) is False
    # Quadratic on a backtracking engine: refused (see test_cost_bounds).
    with pytest.raises(RuleError, match="may go on or stop"):
        python_search("^[^x]*a[^x]*b$")


def test_sqlite_function_null() -> None:
    assert sqlite_regexp(None, "a") is None
    assert sqlite_regexp("a", None) is None
    assert sqlite_regexp("a", "cat") == 1


# ------------------------------------------------------------------------ for_dialect

REWRITES = {
    "a.b": {
        "postgres": "a[^\\n]b",
        "mysql": "(?-ix)a[^\\n]b",
        "duckdb": "a[^\\n]b",
        "bigquery": "a[^\\n]b",
        "spark": "a[^\\n]b",
        "trino": "a[^\\n]b",
        "sqlite": "a.b",
    },
    "^a$": {
        "postgres": "^a$",
        "mysql": "(?-ix)\\Aa\\z",
        "duckdb": "^a$",
        "bigquery": "^a$",
        "spark": "\\Aa\\z",
        "trino": "\\Aa\\z",
        "sqlite": "^a$",
    },
    "(?:x|[-&a-c])": {
        "postgres": "(x|[\\-\\&a-c])",
        "mysql": "(?-ix)(x|[\\-\\&a-c])",
        "duckdb": "(x|[\\-\\&a-c])",
        "spark": "(x|[\\-\\&a-c])",
    },
    "a{02,003}\\%\\n": {"postgres": "a{2,3}%\\n", "mysql": "(?-ix)a{2,3}%\\n"},
}


@pytest.mark.parametrize(
    ("pattern", "dialect", "expected"),
    [(p, d, e) for p, table in REWRITES.items() for d, e in table.items()],
)
def test_for_dialect(pattern: str, dialect: str, expected: str) -> None:
    assert for_dialect(pattern, dialect) == expected


@pytest.mark.parametrize("dialect", ["tsql", "snowflake", "oracle"])
def test_unsupported_dialects(dialect: str) -> None:
    with pytest.raises(UnsupportedError) as info:
        for_dialect("a", dialect)
    assert info.value.backend == dialect
    if dialect != "oracle":  # a SQL dialect the compiler knows, refusing regex
        with pytest.raises(UnsupportedError):
            regex_search_sql(dialect, "x", "p")


def test_regex_search_sql_comes_from_the_compiler() -> None:
    assert regex_search_sql("postgres", '"email"', "%(p)s") == '"email" ~ %(p)s'
    assert regex_search_sql("mariadb", "`email`", "%s") == (
        "CONVERT(`email` USING utf8mb4) COLLATE utf8mb4_bin REGEXP %s"
    )
    assert regex_search_sql("sqlite", "x", "?") == "SK_REGEXP(?, x)"


# ---------------------------------------------------------------- engines (differential)

PATTERNS = [
    "a",
    "A",
    "^a",
    "a$",
    "^$",
    "b$",
    "^a.b$",
    "a.b",
    ".",
    "^.$",
    "^[^x]$",
    "[a-c]+",
    "[à-ÿ]",
    "É",
    "é",
    "[^a-z]",
    "%",
    "_",
    "'",
    '"',
    "\\\\",
    "\\.",
    "\\n",
    "\\n$",
    "^\\n",
    "x|b$",
    "(ab|cd)?c",
    "(ab){2}",
    "(?:a|b)c",
    "(aé)+$",
    "a{2,3}",
    "[\\]\\-\\^\\\\]",
    "[&&]",
    "[\\[]",
    "[\\^]",
    "ß",
    "Σ",
    "\u03c3",  # small sigma
    "😀",
    "[😀-😂]",
    "^.{3}$",
    "a\\r",
    "a.$",
    "^[aé]*$",
    "[-\n]",
    "\\$",
    "\\^a",
    "a^",
]

SUBJECTS = [
    "",
    "a",
    "A",
    "a\n",
    "\na",
    "a\nb",
    "ab\n",
    "a\rb",
    "a\r",
    "axb",
    "é",
    "É",
    "àÿ",
    "ß",
    "ẞ",
    "ΣΑ",
    "\u03c3",  # small sigma
    "%",
    "_",
    "'",
    '"',
    "\\",
    "a.b",
    "abab",
    "abcd",
    "aac",
    "😀",
    "é😀a",
    "]",
    "-",
    "^",
    "&",
    "[",
    "$",
    "^a",
    "\n",
    "a\u2028b",
    "a\u0085b",
    "aéaé",
    "x",
]

Runner = Callable[[str, str], bool]


# The engines come from tests/backends.py (skipped, or failed when required, if a server
# is unreachable); each fixture holds one connection for the module.
BackendNamed = Callable[[str], Any]


@pytest.fixture(scope="module")
def postgres(backend_named: BackendNamed) -> Iterator[Runner]:
    query = sa.text(
        "SELECT " + regex_search_sql("postgres", "CAST(:s AS text)", "CAST(:p AS text)")
    )
    with backend_named("postgres").engine.connect() as conn:

        def run(pattern: str, subject: str) -> bool:
            params = {"s": subject, "p": for_dialect(pattern, "postgres")}
            return bool(conn.execute(query, params).scalar_one())

        yield run


@pytest.fixture(scope="module")
def mariadb_conn(backend_named: BackendNamed) -> Iterator[sa.Connection]:
    with backend_named("mariadb").engine.connect() as conn:
        yield conn


@pytest.fixture(scope="module")
def mariadb(mariadb_conn: sa.Connection) -> Runner:
    query = sa.text("SELECT " + regex_search_sql("mariadb", ":s", ":p"))

    def run(pattern: str, subject: str) -> bool:
        params = {"s": subject, "p": for_dialect(pattern, "mysql")}
        return bool(mariadb_conn.execute(query, params).scalar_one())

    return run


@pytest.fixture(scope="module")
def duck(backend_named: BackendNamed) -> Iterator[Runner]:
    sql = "SELECT " + regex_search_sql("duckdb", "CAST(? AS VARCHAR)", "CAST(? AS VARCHAR)")
    with backend_named("duckdb").engine.connect() as conn:

        def run(pattern: str, subject: str) -> bool:
            params = (subject, for_dialect(pattern, "duckdb"))
            return bool(conn.exec_driver_sql(sql, params).scalar_one())

        yield run


@pytest.fixture(scope="module")
def lite(backend_named: BackendNamed) -> Iterator[Runner]:
    sql = "SELECT " + regex_search_sql("sqlite", ":s", ":p")
    with backend_named("sqlite").engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        raw.create_function("sk_regexp", 2, sqlite_regexp, deterministic=True)

        def run(pattern: str, subject: str) -> bool:
            params = {"s": subject, "p": for_dialect(pattern, "sqlite")}
            return bool(conn.exec_driver_sql(sql, params).scalar_one())

        yield run


JAVA_HARNESS = """
import java.io.*;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.regex.Pattern;

public class Harness {
    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        HexFormat hex = HexFormat.of();
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split(" ", -1);
            String p = new String(hex.parseHex(parts[0]), StandardCharsets.UTF_8);
            String s = new String(hex.parseHex(parts[1]), StandardCharsets.UTF_8);
            String r;
            try {
                r = Pattern.compile(p).matcher(s).find() ? "1" : "0";
            } catch (RuntimeException e) {
                r = "E " + e.getMessage().replace('\\n', ' ');
            }
            out.println(r);
            out.flush();
        }
    }
}
"""


@pytest.fixture(scope="module")
def java(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """java.util.regex, the engine of Spark's RLIKE (the Spark/Trino rewrite)."""
    exe = shutil.which("java")
    if exe is None:
        pytest.skip("no JDK on PATH: the Spark/Trino (Java regex) rewrite is not exercised")
    src = Path(tmp_path_factory.mktemp("java")) / "Harness.java"
    src.write_text(JAVA_HARNESS)
    proc = subprocess.Popen(
        [exe, str(src)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )
    assert proc.stdin is not None and proc.stdout is not None
    stdin, stdout = proc.stdin, proc.stdout

    def run(pattern: str, subject: str) -> bool:
        p = for_dialect(pattern, "spark").encode("utf-8").hex()
        stdin.write(f"{p} {subject.encode('utf-8').hex()}\n")
        stdin.flush()
        answer = stdout.readline().strip()
        assert answer in ("0", "1"), f"java refused {pattern!r}: {answer}"
        return answer == "1"

    yield run
    stdin.close()
    proc.wait(timeout=30)
    stdout.close()


ENGINES = ["postgres", "mariadb", "duck", "lite", "java"]


def _disagreements(run: Runner, patterns: list[str]) -> list[tuple[str, str, bool, bool]]:
    bad = []
    for pattern in patterns:
        expected = python_search(pattern)
        for subject in SUBJECTS:
            want = expected(subject)
            got = run(pattern, subject)
            if got != want:
                bad.append((pattern, subject, want, got))
    return bad


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_agree_with_python(engine: str, request: pytest.FixtureRequest) -> None:
    run: Runner = request.getfixturevalue(engine)
    assert _disagreements(run, PATTERNS) == []


def test_corpus_is_not_trivial() -> None:
    # The differential test would pass vacuously if every answer were the same.
    answers = [python_search(p)(s) for p in PATTERNS for s in SUBJECTS]
    assert 0.05 < sum(answers) / len(answers) < 0.6


def test_mariadb_needs_binary_collation(mariadb: Runner, mariadb_conn: sa.Connection) -> None:
    """Why the MySQL/MariaDB regex search runs under COLLATE utf8mb4_bin: the default is case-blind."""
    plain = mariadb_conn.execute(
        sa.text("SELECT CONVERT(:s USING utf8mb4) COLLATE utf8mb4_general_ci REGEXP :p"),
        {"s": "É", "p": "é"},
    ).scalar_one()
    assert plain == 1
    assert mariadb("é", "É") is False


def test_mariadb_ignores_session_regex_flags(mariadb: Runner, mariadb_conn: sa.Connection) -> None:
    """A server may set default_regex_flags; the rewritten pattern must not care."""
    before = mariadb_conn.execute(sa.text("SELECT @@SESSION.default_regex_flags")).scalar_one()
    mariadb_conn.execute(
        sa.text("SET SESSION default_regex_flags = 'EXTENDED,MULTILINE,DOTALL,UNGREEDY'")
    )
    try:
        assert _disagreements(mariadb, [*PATTERNS, "a b", "[ ]x", "a #b"]) == []
    finally:
        mariadb_conn.execute(sa.text("SET SESSION default_regex_flags = :f"), {"f": before})


# ------------------------------------------------------------ generated patterns

_LITERALS = ["a", "b", "A", "é", "É", "%", "_", "'", "\\\\", "\\.", "\\n", "\\$", "-", "😀"]
_CLASSES = ["[a-c]", "[^a]", "[é-ü]", "[\\n]", "[^\\n]", "[\\]\\-]", "[A-Za-z]", "[&_%]"]
_ATOMS = st.sampled_from([*_LITERALS, *_CLASSES, "."])
_SIMPLE_QUANT = st.sampled_from(["", "", "", "*", "+", "?", "{2}", "{0,2}", "{1,}"])
_GROUP_QUANT = st.sampled_from(["", "", "?", "{0,1}"])
_PLAIN_QUANT = st.sampled_from(["*", "+", "{2}", "{1,3}", "{2,}"])


def _items(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    quantified = st.tuples(_ATOMS, _SIMPLE_QUANT).map("".join)
    group = st.tuples(children, _GROUP_QUANT).map(lambda t: f"({t[0]}){t[1]}")
    # Only a group without '|' or quantifiers may be repeated (see the validator).
    plain = st.tuples(st.lists(_ATOMS, min_size=1, max_size=3).map("".join), _PLAIN_QUANT)
    repeated = plain.map(lambda t: f"({t[0]}){t[1]}")
    seq = st.lists(st.one_of(quantified, quantified, group, repeated), min_size=1, max_size=4).map(
        "".join
    )
    return st.lists(seq, min_size=1, max_size=3).map("|".join)


_BODIES = st.recursive(st.tuples(_ATOMS, _SIMPLE_QUANT).map("".join), _items, max_leaves=8)
PATTERN_STRATEGY = st.tuples(
    st.sampled_from(["", "", "^"]), _BODIES, st.sampled_from(["", "", "$"])
)


def _pattern(parts: tuple[str, str, str]) -> str:
    start, body, end = parts
    return f"{start}({body}){end}" if start or end else body


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.too_slow,
    ],
)
@given(parts=PATTERN_STRATEGY)
def test_generated_patterns_agree(
    parts: tuple[str, str, str], request: pytest.FixtureRequest
) -> None:
    pattern = _pattern(parts)
    # The generator knows the syntax, not the cost bounds (ambiguous repetition).
    assume(len(pattern) <= MAX_PATTERN_LENGTH and validate_pattern(pattern) == [])
    for engine in ENGINES:
        try:
            run: Runner = request.getfixturevalue(engine)
        except pytest.skip.Exception:
            continue
        assert _disagreements(run, [pattern]) == [], engine


# ------------------------------------------------- arbitrary text: never crash, and
# whatever the validator accepts, every engine compiles and agrees on.

_NOISE = st.text(
    alphabet=st.sampled_from(list("ab-^$.|*+?{}[]()\\:,0129_&%né\n")), min_size=1, max_size=14
)


@settings(
    max_examples=MAX_EXAMPLES * 4,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.too_slow,
    ],
)
@given(pattern=_NOISE)
def test_accepted_noise_compiles_and_agrees(pattern: str, request: pytest.FixtureRequest) -> None:
    problems = validate_pattern(pattern)
    assert all(isinstance(p, str) for p in problems)
    if problems:
        with pytest.raises(RuleError):
            python_search(pattern)
        return
    for engine in ENGINES:
        try:
            run: Runner = request.getfixturevalue(engine)
        except pytest.skip.Exception:
            continue
        # A server error (pattern refused) fails the test as surely as a wrong answer.
        assert _disagreements(run, [pattern]) == [], (engine, pattern)


def test_mariadb_match_limit_gives_silent_false(mariadb_conn: sa.Connection) -> None:
    """Why the validator refuses ambiguous repetition: a pattern needing quadratic
    backtracking on a long subject makes MariaDB stop at PCRE2's match limit and answer 0
    with warning 1139 instead of raising. The validator refuses such patterns; here the
    engine is given one directly (and the guard switched off) to watch it fail.
    (If MariaDB ever answers correctly here, this test fails and the docs change.)"""
    pattern, subject = "^[^x]*a[^x]*b$|!", "a" * 5000 + "!"
    assert any("may go on or stop" in p for p in validate_pattern(pattern))
    got = mariadb_conn.execute(
        sa.text("SELECT " + regex_search_sql("mariadb", ":s", ":p")).execution_options(
            segmentkit_regex_guard=False
        ),
        {"s": subject, "p": "(?-ix)" + pattern},
    ).scalar_one()
    warnings = mariadb_conn.execute(sa.text("SHOW WARNINGS")).all()
    assert got == 0
    assert [w[1] for w in warnings] == [1139]
    assert "match limit" in warnings[0][2]


# ------------------------------------------------------------------ cost bounds


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        # RE2's automaton blows up on these counted repeats (5 s on 100,000 characters).
        ("(.{1,255}){0,1}" * 8 + "x$", "at most 100"),
        ("a{0,101}", "101 positions"),
        ("(ab){51}", "102 positions"),
        # Cubic / quadratic backtracking on MariaDB (11 s on 8,000 characters).
        ("^[^q]*[^q]*[^q]*q$", "may go on or stop"),
        ("^[^x]*a[^x]*b$", "may go on or stop at the same character ('b')"),
        (".*foo", "may go on or stop at the same character ('f')"),
        ("^a.*b.*c$", "may go on or stop"),
        # Exponential: every optional 'a' may or may not take part.
        ("a?" * 5 + "a" * 5, "more than 16 tries"),
        ("[^q]{0,50}[^q]{0,50}q", "more than 16 tries"),
    ],
)
def test_cost_bounds_refuse(pattern: str, words: str) -> None:
    problems = validate_pattern(pattern)
    assert any(words in p for p in problems), problems
    with pytest.raises(RuleError):
        python_search(pattern)


@pytest.mark.parametrize(
    "pattern",
    [
        "a{0,100}",
        "(ab){50}",
        "^[^x]*x[^y]*y$",
        "^[^q]*q$",
        "[^x]*$",
        "a?" * 4 + "a" * 4,  # 16 ways at most
        "(ab|cd)?c",
        "a{2,3}a",
        "^[a-z]+@[a-z]+\\.[a-z]{2,6}$",
        "foo.*",
    ],
)
def test_cost_bounds_accept(pattern: str) -> None:
    assert validate_pattern(pattern) == []


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "[ab]", "[^a]", "."]), st.sampled_from(["*", "+"])),
        min_size=2,
        max_size=4,
    )
)
def test_accepted_unbounded_repetitions_are_deterministic(items: list[tuple[str, str]]) -> None:
    """Property: in an accepted pattern, no two adjacent unbounded repetitions share a
    character (the first would have to guess where to stop)."""
    pattern = "^" + "".join(a + q for a, q in items) + "$"
    if validate_pattern(pattern):
        return
    import re

    for (a, _), (b, _) in itertools.pairwise(items):
        for ch in ("a", "b", "c"):
            assert not (re.fullmatch(a, ch) and re.fullmatch(b, ch)), pattern


_LONG_SUBJECTS = ["a" * 8000, "ab" * 4000, "é" * 4000 + "!", "a\n" * 4000, "xay" * 2700]


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
        HealthCheck.too_slow,
    ],
)
@given(parts=PATTERN_STRATEGY)
def test_accepted_patterns_stay_under_mariadb_match_limit(
    parts: tuple[str, str, str], mariadb_conn: sa.Connection
) -> None:
    """Property: no accepted pattern makes PCRE2 give up (warning 1139) on long
    subjects — the cost bounds keep backtracking constant per attempt."""
    pattern = _pattern(parts)
    assume(len(pattern) <= MAX_PATTERN_LENGTH and validate_pattern(pattern) == [])
    # MariaDB resets the warning list only for statements that use a table.
    mariadb_conn.execute(sa.text("CREATE TEMPORARY TABLE IF NOT EXISTS sk_one (i INT)"))
    if mariadb_conn.execute(sa.text("SELECT COUNT(*) FROM sk_one")).scalar_one() == 0:
        mariadb_conn.execute(sa.text("INSERT INTO sk_one VALUES (1)"))
    query = sa.text(
        "SELECT " + regex_search_sql("mariadb", ":s", ":p") + " FROM sk_one"
    ).execution_options(segmentkit_regex_guard=False)
    for subject in _LONG_SUBJECTS:
        got = mariadb_conn.execute(
            query, {"s": subject, "p": for_dialect(pattern, "mysql")}
        ).scalar_one()
        warnings = mariadb_conn.execute(sa.text("SHOW WARNINGS")).all()
        assert warnings == [], (pattern, subject[:10], warnings)
        assert bool(got) == python_search(pattern)(subject), (pattern, subject[:10])
