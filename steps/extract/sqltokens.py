"""SQL for cloud extracts: rendered once at synth time, parameter values substituted per execution.

At synth time ``steps.extract.sqlrender.template`` renders the step's Trino SQL with every ``:name`` placeholder
replaced by a unique string literal token (``'__stepml_param_as_of__'``), using the same renderer as the local run
(sqlglot, available where CDK synthesizes). The plan Lambda - standard library
only - then replaces each quoted token by the typed literal of the validated run parameter
(:func:`substitute`): ``DATE '2026-05-01'``, ``180``, ``'text'``, ``TRUE``. A token is a quoted SQL string, so
it can only stand where a value stands, and a parameter value can never change the statement's structure.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

TOKEN_PREFIX = "__stepml_param_"
_TOKEN = re.compile(r"'" + TOKEN_PREFIX + r"([A-Za-z_]\w*)__'")


def token(name: str) -> str:
    """The unquoted token standing for parameter ``name`` (the renderer quotes it as a string literal)."""
    return f"{TOKEN_PREFIX}{name}__"


def literal(type_: str, value: Any) -> str:
    """A typed SQL literal (Trino/Athena and Redshift agree on these forms) for a coerced parameter value."""
    if type_ == "bool" or isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if type_ == "date":
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
        return f"DATE '{day.isoformat()}'"
    if type_ in ("int", "float"):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"cannot render {value!r} as a SQL number")
        return str(int(value)) if type_ == "int" else repr(number)
    return "'" + str(value).replace("'", "''") + "'"


def substitute(sql: str, types: Mapping[str, str], values: Mapping[str, Any]) -> str:
    """Replace every token in ``sql`` by the literal of ``values[name]``; an unknown token is a ValueError."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values or name not in types:
            raise ValueError(f"the SQL uses parameter {name!r}, which the run does not define")
        return literal(types[name], values[name])

    return _TOKEN.sub(one, sql)


def unload(select: str, *, engine: str, uri: str, iam_role: str | None = None) -> str:
    """Wrap a SELECT into the engine's UNLOAD-to-parquet statement writing under ``uri`` (an s3:// prefix)."""
    if engine == "athena":
        return f"UNLOAD ({select}) TO '{uri}' WITH (format = 'PARQUET', compression = 'SNAPPY')"
    if engine == "redshift":
        quoted = select.replace("\\", "\\\\").replace("'", "\\'")
        role = f" IAM_ROLE '{iam_role}'" if iam_role else " IAM_ROLE default"
        return f"UNLOAD ('{quoted}') TO '{uri}'{role} FORMAT AS PARQUET"
    raise ValueError(f"unknown warehouse engine {engine!r}")
