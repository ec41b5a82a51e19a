"""Python evaluation benchmark: ``compile_python`` against hand-written code and peers.

On the same synthetic contacts (``data.py``) and the same 5- and 20-condition rules:

* ``match(record)`` (segmentkit) vs a hand-written predicate, one call per record;
* ``match.filter(records)`` vs a hand-written list comprehension with the same
  condition inlined;
* rule-engine (``Rule(text).matches`` / ``.filter``) and two JsonLogic
  implementations (panzi-json-logic's ``apply``, json-logic-qubit's ``jsonLogic``),
  on a sample because they are too slow for a million records;

and the bind + code generation time of a 50-condition rule, cold (new shape) and
for a cached shape (new values), via ``timeit``.

Every implementation must return the same number of matches on the same records, or
the run stops: a benchmark of wrong answers is worthless. The hand-written versions
guard NULLs as SEMANTICS.md requires (``age >= 25`` is FALSE for a missing age,
``country not_in [...]`` is TRUE for it); the peers get the same guards written in
their own languages.

Run: ``python bench/bench_python.py [--records N] [--sample N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data
from _timing import Result, Timing, interleaved, micro, summary, table

import segmentkit as sk
from segmentkit.compile import python as skpy

NOW = data.NOW
Record = Mapping[str, Any]

# --------------------------------------------------------------------------- the rules
RULE_5: dict[str, Any] = {
    "combinator": "and",
    "rules": [
        {"field": "country", "operator": "in", "value": ["DE", "AT", "CH"]},
        {"field": "age", "operator": "gte", "value": 25},
        {"field": "newsletter", "operator": "is_true"},
        {"field": "lifetime_value", "operator": "gt", "value": "100.00"},
        {"field": "last_seen_at", "operator": "in_last", "value": {"amount": 30, "unit": "days"}},
    ],
}

RULE_20: dict[str, Any] = {
    "combinator": "and",
    "rules": [
        {"field": "email", "operator": "is_not_null"},
        {"field": "email", "operator": "not_ends_with", "value": "@test.com"},
        {"field": "email", "operator": "not_contains", "value": "example"},
        {"field": "country", "operator": "not_in", "value": ["US", "JP"]},
        {"field": "age", "operator": "between", "value": [18, 80]},
        {"field": "plan", "operator": "neq", "value": "enterprise"},
        {"field": "orders", "operator": "gte", "value": 1},
        {"field": "score", "operator": "gte", "value": 10.0},
        {"field": "signup_at", "operator": "before", "value": "2025-10-01"},
        {"field": "tags", "operator": "has_none", "value": ["spam"]},
        {"field": "city", "operator": "neq", "value": "Leipzig"},
        {"field": "lifetime_value", "operator": "gte", "value": 10},
        {"field": "phone", "operator": "not_starts_with", "value": "+1"},
        {"field": "last_seen_at", "operator": "is_not_null"},
        {"field": "vip", "operator": "is_not_null"},
        {
            "combinator": "or",
            "rules": [
                {"field": "tags", "operator": "has_any", "value": ["newsletter", "b2c", "beta"]},
                {"field": "newsletter", "operator": "is_true"},
            ],
        },
        {"field": "orders", "operator": "lte", "value": 150},
        {"field": "email", "operator": "not_contains", "value": "NoReply", "ignore_case": True},
        {"field": "last_seen_at", "operator": "in_last", "value": {"amount": 365, "unit": "days"}},
    ],
}


def _count_leaves(rule: Mapping[str, Any]) -> int:
    if "rules" in rule:
        return sum(_count_leaves(r) for r in rule["rules"])
    return 1


assert _count_leaves(RULE_5) == 5 and _count_leaves(RULE_20) == 20


# --------------------------------------------------------------------------- hand-written
# What a careful engineer writes by hand: constants bound once in a closure, NULL
# guards where the column is nullable, the condition inlined into the comprehension.
def hand_5() -> tuple[Callable[[Record], bool], Callable[[Iterable[Record]], list[Record]]]:
    countries = frozenset({"DE", "AT", "CH"})
    ltv = Decimal("100.00")
    since = NOW - dt.timedelta(days=30)
    now = NOW

    def match(r: Record) -> bool:
        return (
            r["country"] in countries
            and (a := r["age"]) is not None and a >= 25
            and r["newsletter"] is True
            and (v := r["lifetime_value"]) is not None and v > ltv
            and (t := r["last_seen_at"]) is not None and since <= t <= now
        )  # fmt: skip

    def filter_(records: Iterable[Record]) -> list[Record]:
        return [
            r for r in records
            if r["country"] in countries
            and (a := r["age"]) is not None and a >= 25
            and r["newsletter"] is True
            and (v := r["lifetime_value"]) is not None and v > ltv
            and (t := r["last_seen_at"]) is not None and since <= t <= now
        ]  # fmt: skip

    return match, filter_


def hand_20() -> tuple[Callable[[Record], bool], Callable[[Iterable[Record]], list[Record]]]:
    not_countries = frozenset({"US", "JP"})
    signup_before = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
    ltv = Decimal(10)
    any_tags = frozenset({"newsletter", "b2c", "beta"})
    since = NOW - dt.timedelta(days=365)
    now = NOW

    def match(r: Record) -> bool:
        return (
            (e := r["email"]) is not None
            and not e.endswith("@test.com")
            and "example" not in e
            and r["country"] not in not_countries
            and (a := r["age"]) is not None and 18 <= a <= 80
            and r["plan"] != "enterprise"
            and r["orders"] >= 1
            and (s := r["score"]) is not None and s >= 10.0
            and r["signup_at"] < signup_before
            and ((g := r["tags"]) is None or "spam" not in g)
            and r["city"] != "Leipzig"
            and (v := r["lifetime_value"]) is not None and v >= ltv
            and ((p := r["phone"]) is None or not p.startswith("+1"))
            and (t := r["last_seen_at"]) is not None
            and r["vip"] is not None
            and ((g is not None and not any_tags.isdisjoint(g)) or r["newsletter"] is True)
            and r["orders"] <= 150
            and "noreply" not in e.lower()
            and since <= t <= now
        )  # fmt: skip

    def filter_(records: Iterable[Record]) -> list[Record]:
        return [
            r for r in records
            if (e := r["email"]) is not None
            and not e.endswith("@test.com")
            and "example" not in e
            and r["country"] not in not_countries
            and (a := r["age"]) is not None and 18 <= a <= 80
            and r["plan"] != "enterprise"
            and r["orders"] >= 1
            and (s := r["score"]) is not None and s >= 10.0
            and r["signup_at"] < signup_before
            and ((g := r["tags"]) is None or "spam" not in g)
            and r["city"] != "Leipzig"
            and (v := r["lifetime_value"]) is not None and v >= ltv
            and ((p := r["phone"]) is None or not p.startswith("+1"))
            and (t := r["last_seen_at"]) is not None
            and r["vip"] is not None
            and ((g is not None and not any_tags.isdisjoint(g)) or r["newsletter"] is True)
            and r["orders"] <= 150
            and "noreply" not in e.lower()
            and since <= t <= now
        ]  # fmt: skip

    return match, filter_


# --------------------------------------------------------------------------- peers' rules
# rule-engine compares NULL with a number as a type error, so guards are explicit.
RULE_ENGINE_5 = (
    "country in ['DE', 'AT', 'CH']"
    " and age != null and age >= 25"
    " and newsletter == true"
    " and lifetime_value != null and lifetime_value > 100.00"
    " and last_seen_at != null and last_seen_at >= d'2025-12-02T00:00:00Z' and last_seen_at <= d'2026-01-01T00:00:00Z'"
)
RULE_ENGINE_20 = (
    "email != null"
    " and not email.ends_with('@test.com')"
    " and not 'example' in email"
    " and not country in ['US', 'JP']"
    " and age != null and age >= 18 and age <= 80"
    " and plan != 'enterprise'"
    " and orders >= 1"
    " and score != null and score >= 10.0"
    " and signup_at < d'2025-10-01T00:00:00Z'"
    " and (tags == null or not 'spam' in tags)"
    " and city != 'Leipzig'"
    " and lifetime_value != null and lifetime_value >= 10"
    " and (phone == null or not phone.starts_with('+1'))"
    " and last_seen_at != null"
    " and vip != null"
    " and ((tags != null and ('newsletter' in tags or 'b2c' in tags or 'beta' in tags)) or newsletter == true)"
    " and orders <= 150"
    " and not 'noreply' in email.as_lower"
    " and last_seen_at >= d'2025-01-01T00:00:00Z' and last_seen_at <= d'2026-01-01T00:00:00Z'"
)


def _v(name: str) -> dict[str, Any]:
    return {"var": name}


def _not_null(name: str) -> dict[str, Any]:
    return {"!==": [_v(name), None]}


# JsonLogic has no datetime or decimal type; Python constants are passed where the
# implementations compare with Python operators. It has no lowercase or suffix
# operator either: "noreply" is searched as is (the synthetic e-mails are lower case,
# so the answer is the same) and a suffix is ``substr(x, -n) == s``.
JSONLOGIC_5: dict[str, Any] = {
    "and": [
        {"in": [_v("country"), ["DE", "AT", "CH"]]},
        _not_null("age"), {">=": [_v("age"), 25]},
        {"===": [_v("newsletter"), True]},
        _not_null("lifetime_value"), {">": [_v("lifetime_value"), 100.0]},
        _not_null("last_seen_at"),
        {">=": [_v("last_seen_at"), NOW - dt.timedelta(days=30)]},
        {"<=": [_v("last_seen_at"), NOW]},
    ]
}  # fmt: skip
JSONLOGIC_20: dict[str, Any] = {
    "and": [
        _not_null("email"),
        {"!": {"==": [{"substr": [_v("email"), -9]}, "@test.com"]}},
        {"!": {"in": ["example", _v("email")]}},
        {"!": {"in": [_v("country"), ["US", "JP"]]}},
        _not_null("age"), {">=": [_v("age"), 18]}, {"<=": [_v("age"), 80]},
        {"!=": [_v("plan"), "enterprise"]},
        {">=": [_v("orders"), 1]},
        _not_null("score"), {">=": [_v("score"), 10.0]},
        {"<": [_v("signup_at"), dt.datetime(2025, 10, 1, tzinfo=dt.UTC)]},
        {"or": [{"===": [_v("tags"), None]}, {"!": {"in": ["spam", _v("tags")]}}]},
        {"!=": [_v("city"), "Leipzig"]},
        _not_null("lifetime_value"), {">=": [_v("lifetime_value"), 10]},
        {"or": [{"===": [_v("phone"), None]}, {"!=": [{"substr": [_v("phone"), 0, 2]}, "+1"]}]},
        _not_null("last_seen_at"),
        _not_null("vip"),
        {"or": [
            {"and": [_not_null("tags"), {"or": [{"in": [t, _v("tags")]} for t in ("newsletter", "b2c", "beta")]}]},
            {"===": [_v("newsletter"), True]},
        ]},
        {"<=": [_v("orders"), 150]},
        {"!": {"in": ["noreply", _v("email")]}},
        {">=": [_v("last_seen_at"), NOW - dt.timedelta(days=365)]},
        {"<=": [_v("last_seen_at"), NOW]},
    ]
}  # fmt: skip


def peer_records(
    records: list[dict[str, Any]], *, json_numbers: bool = False
) -> list[dict[str, Any]]:
    """The records as the peers accept them, converted once, outside every timing.

    Tags become lists (neither rule-engine nor panzi-json-logic takes a frozenset). For
    JsonLogic, ``json_numbers`` turns Decimal money into float, JSON's only number:
    json-logic-qubit truncates a Decimal to an int before comparing.
    """
    out = []
    for r in records:
        r = dict(r)
        if r["tags"] is not None:
            r["tags"] = sorted(r["tags"])
        if json_numbers and r["lifetime_value"] is not None:
            r["lifetime_value"] = float(r["lifetime_value"])
        out.append(r)
    return out


def _jsonlogic_impls() -> dict[str, Callable[[Any, Any], Any]]:
    """The JsonLogic implementations installed (both ship a ``json_logic`` package).

    panzi-json-logic's evaluator is ``json_logic.apply.apply``; json-logic-qubit is a
    single ``json_logic/__init__.py`` with ``jsonLogic``. Installed together, qubit's
    ``__init__`` wins and panzi's modules stay importable beside it.
    """
    impls: dict[str, Callable[[Any, Any], Any]] = {}
    try:
        from json_logic.apply import apply as panzi_apply

        impls["panzi-json-logic"] = panzi_apply
    except ImportError:
        pass
    try:
        import json_logic

        # panzi's own __init__ also exports ``jsonLogic`` (its ``apply``); only qubit's
        # module has ``add_operation``.
        if hasattr(json_logic, "add_operation") and hasattr(json_logic, "jsonLogic"):
            impls["json-logic-qubit"] = json_logic.jsonLogic
    except ImportError:
        pass
    return impls


# --------------------------------------------------------------------------- 50 conditions
def rule_50(variant: int = 0) -> dict[str, Any]:
    """A 50-condition rule: 30 top-level conditions, an OR of 10, a NOT group of 10.

    ``variant`` changes every value but no list length, so every variant has the same
    shape (the code-generation cache hits) and different parameters.
    """
    k = variant
    pool: list[dict[str, Any]] = [
        {"field": "country", "operator": "in", "value": ["DE", "FR", f"N{k}"]},
        {"field": "age", "operator": "gte", "value": 18 + k},
        {"field": "age", "operator": "lte", "value": 90 - k},
        {"field": "email", "operator": "ends_with", "value": f".d{k}e"},
        {"field": "email", "operator": "not_contains", "value": f"test{k}"},
        {"field": "city", "operator": "neq", "value": f"Leipzig{k}"},
        {"field": "plan", "operator": "in", "value": ["pro", f"enterprise{k}"]},
        {"field": "orders", "operator": "between", "value": [1 + k, 100 + k]},
        {"field": "lifetime_value", "operator": "gt", "value": str(100 + k)},
        {"field": "score", "operator": "lt", "value": 99.5 - k},
        {"field": "vip", "operator": "is_true"},
        {"field": "newsletter", "operator": "is_false"},
        {"field": "signup_at", "operator": "after", "value": f"2022-0{1 + k % 9}-01"},
        {
            "field": "last_seen_at",
            "operator": "in_last",
            "value": {"amount": 30 + k, "unit": "days"},
        },
        {"field": "tags", "operator": "has_any", "value": ["vip", f"press{k}"]},
        {"field": "tags", "operator": "has_none", "value": [f"spam{k}"]},
        {"field": "phone", "operator": "starts_with", "value": f"+4{k % 10}"},
        {"field": "phone", "operator": "is_not_null"},
        {"field": "email", "operator": "contains", "value": f"user{k}", "ignore_case": True},
        {"field": "country", "operator": "not_in", "value": [f"X{k}", "JP"]},
    ]
    leaves = [copy.deepcopy(pool[i % len(pool)]) for i in range(50)]
    return {
        "combinator": "and",
        "rules": [
            *leaves[:30],
            {"combinator": "or", "rules": leaves[30:40]},
            {"combinator": "and", "not": True, "rules": leaves[40:50]},
        ],
    }


assert _count_leaves(rule_50()) == 50


# --------------------------------------------------------------------------- running
def _rate(n: int, t: Timing) -> str:
    return f"{n / t.best / 1e6:6.2f}M/s" if n / t.best >= 1e6 else f"{n / t.best / 1e3:7.1f}k/s"


def bench_evaluation(records: list[dict[str, Any]], sample: int, repeat: int,
                     out: list[Result]) -> list[list[str]]:  # fmt: skip
    schema = data.schema()
    n = len(records)
    sample_records = records[:sample]
    peer_sample = peer_records(sample_records)
    jl_sample = peer_records(sample_records, json_numbers=True)
    jl = _jsonlogic_impls()
    print(f"JsonLogic implementations found: {', '.join(jl) or 'none'}")
    rows: list[list[str]] = []
    cases = [("5 conditions", RULE_5, hand_5, RULE_ENGINE_5, JSONLOGIC_5),
             ("20 conditions", RULE_20, hand_20, RULE_ENGINE_20, JSONLOGIC_20)]  # fmt: skip
    import rule_engine

    for label, rule, hand, re_text, jl_rule in cases:
        match = sk.compile_python(rule, schema, now=NOW)
        h_match, h_filter = hand()
        # Correctness first: every implementation must agree on the full data / sample.
        expected = len(h_filter(records))
        assert sum(map(h_match, records)) == expected, "hand-written lambda vs comprehension"
        assert sum(map(match, records)) == expected, f"segmentkit match: {label}"
        assert len(match.filter(records)) == expected, f"segmentkit filter: {label}"
        expected_sample = len(h_filter(sample_records))
        re_rule = rule_engine.Rule(re_text)
        assert sum(map(re_rule.matches, peer_sample)) == expected_sample, f"rule-engine: {label}"
        for name, fn in jl.items():
            got = sum(1 for r in jl_sample if fn(jl_rule, r))
            assert got == expected_sample, f"{name}: {label}: {got} != {expected_sample}"

        # Interleaved rounds (segmentkit, hand-written, segmentkit, ...): a busy machine
        # slows every contender of a round alike.
        full = interleaved({
            "match": lambda m=match: sum(map(m, records)),
            "hand": lambda m=h_match: sum(map(m, records)),
            "filter": lambda m=match: len(m.filter(records)),
            "comp": lambda f=h_filter: len(f(records)),
        }, repeat, warmup=False)  # fmt: skip
        t_match, t_hand, t_filter, t_comp = (
            full["match"],
            full["hand"],
            full["filter"],
            full["comp"],
        )
        peer_repeat = max(2, repeat // 2)
        peers = interleaved({
            "re_match": lambda r=re_rule: sum(map(r.matches, peer_sample)),
            "re_filter": lambda r=re_rule: len(list(r.filter(peer_sample))),
            **{name: (lambda fn=fn, lg=jl_rule: sum(1 for r in jl_sample if fn(lg, r))) for name, fn in jl.items()},
        }, peer_repeat, warmup=False)  # fmt: skip
        t_re_match, t_re_filter = peers["re_match"], peers["re_filter"]
        t_jl = {name: peers[name] for name in jl}
        sel = f"{expected:,} of {n:,} match"
        rows += [
            [label, "segmentkit match(r)", f"{n:,}", _rate(n, t_match), f"{t_match.best * 1e3:.0f}", f"{t_match.median * 1e3:.0f}", sel],
            [label, "hand-written predicate", f"{n:,}", _rate(n, t_hand), f"{t_hand.best * 1e3:.0f}", f"{t_hand.median * 1e3:.0f}", ""],
            [label, "segmentkit match.filter", f"{n:,}", _rate(n, t_filter), f"{t_filter.best * 1e3:.0f}", f"{t_filter.median * 1e3:.0f}", ""],
            [label, "hand-written comprehension", f"{n:,}", _rate(n, t_comp), f"{t_comp.best * 1e3:.0f}", f"{t_comp.median * 1e3:.0f}", ""],
            [label, "rule-engine matches", f"{sample:,}", _rate(sample, t_re_match), f"{t_re_match.best * 1e3:.0f}", f"{t_re_match.median * 1e3:.0f}", "sample"],
            [label, "rule-engine filter", f"{sample:,}", _rate(sample, t_re_filter), f"{t_re_filter.best * 1e3:.0f}", f"{t_re_filter.median * 1e3:.0f}", "sample"],
        ]  # fmt: skip
        for name, t in t_jl.items():
            rows.append([label, name, f"{sample:,}", _rate(sample, t), f"{t.best * 1e3:.0f}", f"{t.median * 1e3:.0f}", "sample"])  # fmt: skip

        sk_filter_rate = t_filter.per(n)
        sk_match_rate = t_match.per(n)
        re_best = max(t_re_match.per(sample), t_re_filter.per(sample))
        out += [
            Result("python", f"{label}: match / hand-written predicate", sk_match_rate / t_hand.per(n), 0.9, "x"),
            Result("python", f"{label}: filter / hand-written comprehension", sk_filter_rate / t_comp.per(n), 0.9, "x"),
            Result("python", f"{label}: filter / rule-engine (best of matches, filter)", sk_filter_rate / re_best, 250, "x",
                   f"rule-engine on {sample:,}"),
            Result("python", f"{label}: match / rule-engine matches", sk_match_rate / t_re_match.per(sample), None, "x",
                   f"rule-engine on {sample:,}"),
            # The ceiling: how far the hand-written comprehension itself is from rule-engine.
            Result("python", f"{label}: hand-written comprehension / rule-engine (ceiling)",
                   t_comp.per(n) / re_best, None, "x", f"rule-engine on {sample:,}"),
        ]  # fmt: skip
        if t_jl:
            best_name, best_t = max(t_jl.items(), key=lambda kv: kv[1].per(sample))
            out.append(Result("python", f"{label}: filter / best JsonLogic", sk_filter_rate / best_t.per(sample),
                              None, "x", f"{best_name} on {sample:,}"))  # fmt: skip
    return rows


def bench_compile(repeat: int, out: list[Result]) -> list[list[str]]:
    """bind + code generation of a 50-condition rule: cold, cached shape, bind alone."""
    schema = data.schema()
    rule_dict = rule_50(0)
    rule = sk.parse(rule_dict)
    variants = [sk.parse(rule_50(k)) for k in range(1, 9)]
    # Same shape, different values: the cache must hit for the "cached" figure to mean it.
    sk.compile_python(rule, schema, now=NOW)
    before = len(skpy._cache)
    for v in variants:
        sk.compile_python(v, schema, now=NOW)
    assert len(skpy._cache) == before, "variants of rule_50 do not share a shape"

    it = iter(range(10**9))

    def cached() -> None:
        sk.compile_python(variants[next(it) % len(variants)], schema, now=NOW)

    number = 20
    t_parse = micro(lambda: sk.parse(rule_dict), number=number, repeat=repeat)
    t_bind = micro(lambda: sk.bind(rule, schema, now=NOW), number=number, repeat=repeat)
    t_cold = micro(lambda: sk.compile_python(rule, schema, now=NOW), skpy._cache.clear, number=1,
                   repeat=repeat * 5)  # fmt: skip
    t_cached = micro(cached, number=number, repeat=repeat)
    t_dict_cached = micro(lambda: sk.compile_python(rule_50(3), schema, now=NOW), number=number,
                          repeat=repeat)  # fmt: skip
    t_source = micro(
        lambda: skpy.generate_source(*_shape_of(rule, schema)), number=number, repeat=repeat
    )
    rows = [
        ["parse (dict -> rule tree)", t_parse],
        ["bind alone (parsed rule)", t_bind],
        ["generate_source alone", t_source],
        ["compile_python cold (bind + generate + exec)", t_cold],
        ["compile_python cached shape (bind + lookup)", t_cached],
        ["compile_python cached shape, from dict (parse too)", t_dict_cached],
    ]
    out += [
        Result("python", "50-condition bind + codegen, cold", t_cold.best * 1e3, 0.5, "ms",
               f"median {t_cold.median * 1e3:.3f} ms"),
        Result("python", "50-condition bind + codegen, cached shape", t_cached.best * 1e3, 0.5, "ms",
               f"median {t_cached.median * 1e3:.3f} ms"),
        Result("python", "50-condition bind alone", t_bind.best * 1e3, None, "ms",
               f"median {t_bind.median * 1e3:.3f} ms"),
    ]  # fmt: skip
    return [
        [name, f"{t.best * 1e3:.3f}", f"{t.median * 1e3:.3f}", str(t.repeat)] for name, t in rows
    ]


def _shape_of(rule: Any, schema: sk.Schema) -> tuple[Any, str]:
    from segmentkit import primitives as p

    shape, _ = p.shape(sk.bind(rule, schema, now=NOW).predicate)
    return shape, schema.key


def run(records: int, sample: int, repeat: int, seed: int = data.DEFAULT_SEED,
        contacts: list[dict[str, Any]] | None = None) -> list[Result]:  # fmt: skip
    out: list[Result] = []
    print(f"== Python evaluation: {records:,} contacts, peers on the first {sample:,}; "
          f"best and median of {repeat} runs (peers {max(2, repeat // 2)}) ==")  # fmt: skip
    if contacts is None:
        t0 = time.perf_counter()
        contacts = data.contacts(records, seed)
        print(f"generated {records:,} contacts in {time.perf_counter() - t0:.1f} s")
    rows = bench_evaluation(contacts, min(sample, records), repeat, out)
    print(table(rows, ["rule", "implementation", "records", "rate", "best ms", "median ms", ""]))
    print()
    print(f"== bind + code generation, 50 conditions (timeit; best and median of {repeat * 5} "
          f"cold runs, {repeat} batches of 20 otherwise) ==")  # fmt: skip
    print(table(bench_compile(repeat, out), ["step", "best ms", "median ms", "repeats"]))
    print()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=data.DEFAULT_RECORDS)
    parser.add_argument("--sample", type=int, default=20_000, help="records for the slow peers")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=data.DEFAULT_SEED)
    args = parser.parse_args(argv)
    results = run(args.records, args.sample, args.repeat, args.seed)
    print(summary(results))


if __name__ == "__main__":
    main()
