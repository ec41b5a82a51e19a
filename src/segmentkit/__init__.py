"""segmentkit: typed marketing/CRM segment rules for every database.

Rules are parsed (:func:`parse`), validated against a :class:`Schema` and lowered to
predicate primitives (:func:`bind`), then compiled to a Python predicate
(:func:`compile_python`), a SQLAlchemy expression (:func:`to_sqlalchemy`) or SQL text
for any dialect (:func:`to_sql`). See SEMANTICS.md for the meaning of every operator.
"""

from importlib.metadata import PackageNotFoundError, version

from . import operators
from .bind import BoundRule, bind
from .compile.engines import register_sqlite_functions
from .compile.python import compile_python
from .compile.sql import SegmentTable, SqlQuery, to_sql
from .compile.sqlalchemy import members_select, to_sqlalchemy
from .display import SqlView, show_sql
from .errors import (
    NotFoundError,
    Problem,
    ReadOnlyError,
    RuleError,
    SegmentkitError,
    StoreError,
    StoreInputError,
    UnsupportedError,
)
from .formats import (
    from_jquery,
    from_jsonlogic,
    from_querybuilder,
    from_rows,
    json_schema,
    parse_text,
    querybuilder_fields,
    to_jquery,
    to_jsonlogic,
    to_querybuilder,
    to_rows,
    to_text,
)
from .frames import FrameMembers, frame_members
from .membership import Diff, diff, members
from .model import (
    Condition,
    CountSpec,
    Duration,
    EventCondition,
    Group,
    Rule,
    Segment,
    SegmentRef,
    parse,
    parse_segment,
)
from .operators import Operator
from .operators import register as register_operator
from .performance import PerformanceConfig, PerformanceRow
from .schema import ChildTable, EventSource, Field, Schema, TagStorage
from .store import Store
from .types import FieldType, simple_lower

try:
    __version__ = version("segmentkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BoundRule",
    "ChildTable",
    "Condition",
    "CountSpec",
    "Diff",
    "Duration",
    "EventCondition",
    "EventSource",
    "Field",
    "FieldType",
    "FrameMembers",
    "Group",
    "NotFoundError",
    "Operator",
    "PerformanceConfig",
    "PerformanceRow",
    "Problem",
    "ReadOnlyError",
    "Rule",
    "RuleError",
    "Schema",
    "Segment",
    "SegmentRef",
    "SegmentTable",
    "SegmentkitError",
    "SqlQuery",
    "SqlView",
    "Store",
    "StoreError",
    "StoreInputError",
    "TagStorage",
    "UnsupportedError",
    "__version__",
    "bind",
    "compile_python",
    "diff",
    "frame_members",
    "from_jquery",
    "from_jsonlogic",
    "from_querybuilder",
    "from_rows",
    "json_schema",
    "members",
    "members_select",
    "operators",
    "parse",
    "parse_segment",
    "parse_text",
    "querybuilder_fields",
    "register_operator",
    "register_sqlite_functions",
    "show_sql",
    "simple_lower",
    "to_jquery",
    "to_jsonlogic",
    "to_querybuilder",
    "to_rows",
    "to_sql",
    "to_sqlalchemy",
    "to_text",
]
