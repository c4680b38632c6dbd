"""Extract SQL: placeholders, typed literals, transpiling to DuckDB/Trino, and errors as QueryError."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from stepml.errors import QueryError
from steps.extract.sqlrender import placeholders, render, scan_placeholders

ROOT = Path(__file__).resolve().parents[2]
SQL_FILES = sorted((ROOT / "sql").glob("*.sql"))

TRICKY = """
-- a comment mentioning :in_line_comment
/* a block comment
   mentioning :in_block_comment */
SELECT ':in_string' AS s,
       'it''s :in_escaped_string' AS t,
       "col:umn" AS q,
       x::INTEGER AS cast_x,
       :real AS r
FROM t
WHERE d >= :start AND d < :end AND r = :real
"""


# ---------------------------------------------------------------- placeholders
def test_sql_files_exist() -> None:
    assert {p.name for p in SQL_FILES} == {"training_set.sql", "scoring_set.sql"}


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: p.name)
def test_scan_agrees_with_sqlglot_on_reference_sql(path: Path) -> None:
    text = path.read_text()
    scanned = scan_placeholders(text)
    parsed = placeholders(text)
    assert sorted(scanned) == sorted(parsed)
    assert len(scanned) == len(set(scanned))  # each name once


def test_reference_sql_placeholders() -> None:
    by_file = {p.name: set(scan_placeholders(p.read_text())) for p in SQL_FILES}
    assert by_file == {
        "training_set.sql": {"as_of", "lookback_days"},
        "scoring_set.sql": {"as_of", "score_days"},
    }


def test_scan_ignores_strings_comments_identifiers_and_casts() -> None:
    assert scan_placeholders(TRICKY) == ["real", "start", "end"]
    assert sorted(placeholders(TRICKY)) == ["end", "real", "start"]


def test_scan_in_order_of_first_appearance() -> None:
    assert scan_placeholders("SELECT :b, :a, :b, :c") == ["b", "a", "c"]


def test_placeholders_in_order_of_first_appearance() -> None:
    text = (ROOT / "sql" / "training_set.sql").read_text()
    assert placeholders(text) == scan_placeholders(text) == ["lookback_days", "as_of"]


def test_positional_placeholder_is_rejected() -> None:
    with pytest.raises(QueryError, match="positional"):
        placeholders("SELECT * FROM t WHERE a = ?", step="extract_train")


def test_positional_placeholder_cannot_be_rendered() -> None:
    # whatever the message, a '?' never reaches the warehouse unrendered
    with pytest.raises(QueryError):
        render("SELECT * FROM t WHERE a = ?", {"a": 1}, step="extract_train")


# ---------------------------------------------------------------- rendering typed literals
@pytest.mark.parametrize("dialect", ["duckdb", "trino"])
@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (dt.date(2026, 5, 1), "CAST('2026-05-01' AS DATE)"),
        (42, "42"),
        (0.25, "0.25"),
        ("abc", "'abc'"),
        ("it's", "'it''s'"),
        (True, "TRUE"),
        (False, "FALSE"),
    ],
)
def test_render_typed_literals(dialect: str, value: Any, literal: str) -> None:
    assert render("SELECT :v AS v FROM t", {"v": value}, dialect=dialect) == f"SELECT {literal} AS v FROM t"


def test_bool_is_not_rendered_as_number() -> None:
    # bool is an int subclass: it must still be TRUE, not 1
    assert render("SELECT :b AS b", {"b": True}) == "SELECT TRUE AS b"


def test_render_reference_sql_for_duckdb_and_trino() -> None:
    text = (ROOT / "sql" / "training_set.sql").read_text()
    params = {"as_of": dt.date(2026, 5, 1), "lookback_days": 180}
    duck = render(text, params, dialect="duckdb")
    trino = render(text, params, dialect="trino")
    for out in (duck, trino):
        assert scan_placeholders(out) == []  # (comments are kept and still mention them)
        assert "CAST('2026-05-01' AS DATE)" in out
        assert "180" in out
    # Trino keeps its date_add; DuckDB gets interval arithmetic
    assert "DATE_ADD" in trino.upper()
    assert "INTERVAL" in duck.upper()
    # and each is valid in its dialect
    assert sqlglot.parse_one(duck, read="duckdb") is not None
    assert sqlglot.parse_one(trino, read="trino") is not None


def test_render_ignores_extra_params() -> None:
    assert render("SELECT :a AS a", {"a": 1, "unused": 2}) == "SELECT 1 AS a"


# ---------------------------------------------------------------- errors
def test_missing_param_is_a_query_error() -> None:
    with pytest.raises(QueryError) as info:
        render("SELECT * FROM t WHERE a = :a AND b = :b AND c = :c", {"b": 1}, step="extract_train")
    assert info.value.step == "extract_train"
    assert "a, c" in info.value.message


@pytest.mark.parametrize("sql", ["SELEC * FROM t", "SELECT * FROM t WHERE (a = :a", "SELECT 1; SELECT 2", ""])
def test_bad_sql_is_a_query_error(sql: str) -> None:
    with pytest.raises(QueryError) as info:
        render(sql, {"a": 1}, step="extract_score")
    assert info.value.step == "extract_score"


def test_syntax_error_message_names_the_dialect() -> None:
    with pytest.raises(QueryError, match="SQL syntax error"):
        placeholders("SELECT * FROM t WHERE (a = 1", step="extract_score")


def test_unsupported_value_type_is_rejected() -> None:
    with pytest.raises(QueryError, match="cannot render parameter value"):
        render("SELECT :a", {"a": [1, 2]})


# ---------------------------------------------------------------- no injection
@pytest.mark.parametrize("dialect", ["duckdb", "trino"])
@pytest.mark.parametrize("value", ["x' OR '1'='1", "x'; DROP TABLE t; --", "a\\' OR 1=1 --"])
def test_string_param_is_a_single_literal(dialect: str, value: str) -> None:
    # Given a hostile string parameter / When rendered
    out = render("SELECT * FROM t WHERE name = :n", {"n": value}, dialect=dialect)
    # Then the statement parses back to one statement whose WHERE is one comparison with one string literal
    statements = sqlglot.parse(out, read=dialect)
    assert len(statements) == 1 and statements[0] is not None
    where = statements[0].find(exp.Where)
    assert where is not None
    cond = where.this
    assert isinstance(cond, exp.EQ)
    assert isinstance(cond.left, exp.Column) and cond.left.name == "name"
    assert isinstance(cond.right, exp.Literal) and cond.right.is_string
    assert cond.right.this == value
    assert not list(where.find_all(exp.Or))


def test_negative_number_after_minus_is_not_a_comment() -> None:
    # "-:n" with n=-5 must not become "--5" (a line comment)
    out = render("SELECT 1 - :n AS x, -:n AS y FROM t", {"n": -5})
    assert "--" not in out
    tree = sqlglot.parse_one(out, read="duckdb")
    assert [e.alias for e in tree.expressions] == ["x", "y"]
