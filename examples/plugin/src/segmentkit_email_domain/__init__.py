"""An example segmentkit plugin: ``email_domain`` and its complement ``not_email_domain``.

Installed, it is found through the ``segmentkit.operators`` entry point; nothing in
segmentkit's backends changes, because the operator lowers to existing primitives.
"""

from __future__ import annotations

import segmentkit as sk
from segmentkit import primitives as p


def _email_domain(ctx: object, ref: p.FieldRef, value: str) -> p.Predicate:
    domain = sk.simple_lower(value.removeprefix("@"))
    return p.Suffix(p.Lower(ref), p.Param("@" + domain, sk.FieldType.STRING))


EMAIL_DOMAIN = sk.Operator(
    "email_domain",
    frozenset({sk.FieldType.STRING}),
    "needle",
    _email_domain,
    description="the e-mail address is at the domain (case-insensitive)",
    example={"field": "email", "operator": "email_domain", "value": "example.com"},
)
NOT_EMAIL_DOMAIN = sk.Operator(
    "not_email_domain",
    frozenset({sk.FieldType.STRING}),
    "needle",
    complement_of="email_domain",
    description="the e-mail address is not at the domain (or is missing)",
)
OPERATORS = [EMAIL_DOMAIN, NOT_EMAIL_DOMAIN]
