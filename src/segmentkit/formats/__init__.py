"""Interop formats: other rule languages in and out of segmentkit's native rule tree.

Every importer gives native rule nodes or one ``RuleError`` listing every problem
with a JSON pointer into the *input* document; nothing is widened silently (no
unknown construct becomes an empty group or ``1 = 1``). Every exporter refuses,
with a ``RuleError``, what the target format cannot express. See docs/formats.md.

=====================  ===========================================  =============================
format                 import                                       export
=====================  ===========================================  =============================
react-querybuilder     :func:`from_querybuilder`                    :func:`to_querybuilder`,
                                                                    :func:`querybuilder_fields`
jQuery QueryBuilder    :func:`from_jquery`                          :func:`to_jquery`
JsonLogic              :func:`from_jsonlogic`                       :func:`to_jsonlogic`
text                   :func:`parse_text`                           :func:`to_text` (``str(rule)``)
flat rule rows         :func:`from_rows`                            :func:`to_rows`
JSON Schema            --                                           :func:`json_schema`
=====================  ===========================================  =============================
"""

from .flat import from_rows, to_rows
from .jquery import from_jquery, to_jquery
from .jsonlogic import from_jsonlogic, to_jsonlogic
from .jsonschema import json_schema
from .querybuilder import from_querybuilder, querybuilder_fields, to_querybuilder
from .text import parse_text, to_text

__all__ = [
    "from_jquery",
    "from_jsonlogic",
    "from_querybuilder",
    "from_rows",
    "json_schema",
    "parse_text",
    "querybuilder_fields",
    "to_jquery",
    "to_jsonlogic",
    "to_querybuilder",
    "to_rows",
    "to_text",
]
