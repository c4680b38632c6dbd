"""What an extract's manifest records, the same locally and in AWS (standard library)."""

from __future__ import annotations


def summary(files: int) -> dict[str, int]:
    return {"files": files}


def detail(rows: int | None, files: int) -> str:
    return f"{rows:,} rows in {files} file(s)" if rows is not None else f"{files} file(s)"
