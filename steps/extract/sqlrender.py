"""SQL for extract steps: written once in the Athena/Trino dialect, rendered for DuckDB locally or Athena in AWS.

Run parameters appear in the SQL as named placeholders (``:as_of``, ``:lookback_days``). They are replaced by typed
literals built from the validated parameter values (never by string formatting), then the statement is transpiled
with sqlglot. Pure: no I/O, no warehouse connection.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from stepml.errors import QueryError


def placeholders(sql: str, *, step: str = "extract") -> list[str]:
    """Names of the ``:name`` placeholders in ``sql``, in order of first appearance in the text."""
    tree = _parse(sql, step)
    from sqlglot import exp

    names = {node.name for node in tree.find_all(exp.Placeholder)}
    if names & {"", "?"}:
        raise QueryError(step, "positional '?' placeholders are not supported; use named ones like :as_of")
    in_text = [n for n in scan_placeholders(sql) if n in names]
    return in_text + sorted(names - set(in_text))


def render(sql: str, params: Mapping[str, Any], *, dialect: str = "duckdb", step: str = "extract") -> str:
    """Replace placeholders by typed literals and transpile from Trino to ``dialect`` (duckdb | trino)."""
    from sqlglot import exp

    tree = _parse(sql, step)
    missing = sorted({n.name for n in tree.find_all(exp.Placeholder) if n.name not in params})
    if missing:
        raise QueryError(step, f"the SQL uses parameter(s) {', '.join(missing)} that the run does not define")

    def substitute(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            literal: exp.Expression = _literal(params[node.name])
            return literal
        return node

    try:
        rendered: str = tree.transform(substitute).sql(dialect=dialect)
        return rendered
    except Exception as exc:  # sqlglot raises several error classes while generating
        raise QueryError(step, f"cannot render the SQL for {dialect}: {exc}") from exc


def _parse(sql: str, step: str) -> Any:
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except ParseError as exc:
        raise QueryError(step, f"SQL syntax error (Trino/Athena dialect): {exc}") from exc
    if len(statements) != 1:
        raise QueryError(step, f"expected exactly one SQL statement, found {len(statements)}")
    return statements[0]


def _literal(value: Any) -> Any:
    from sqlglot import exp

    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, dt.date):
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise TypeError(f"cannot render parameter value {value!r} as SQL")


_SCAN = re.compile(
    r"""'(?:[^']|'')*'      # string literal
      | "(?:[^"]|"")*"      # quoted identifier
      | --[^\n]*            # line comment
      | /\*.*?\*/           # block comment
      | (?<![:\w]):([A-Za-z_]\w*)  # placeholder (not a :: cast)
    """,
    re.VERBOSE | re.DOTALL,
)


def scan_placeholders(sql: str) -> list[str]:
    """Placeholder names found by a light scan (no sqlglot import): used when loading a spec."""
    seen: list[str] = []
    for m in _SCAN.finditer(sql):
        name = m.group(1)
        if name and name not in seen:
            seen.append(name)
    return seen


def template(sql: str, names: list[str], *, dialect: str = "trino", step: str = "extract") -> str:
    """``sql`` rendered (at synth time) for ``dialect`` with each placeholder in ``names`` kept as a quoted token,
    which the plan Lambda replaces per execution (``steps.extract.sqltokens.substitute``)."""
    from steps.extract.sqltokens import token

    return render(sql, {n: token(n) for n in names}, dialect=dialect, step=step)
