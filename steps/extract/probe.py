"""The data version of an extract's sources on a laptop: a cheap probe of the DuckDB warehouse, run when the
plan is made, whose digest enters the extract's key (``stepml.core.plan``: ``resolved``).

Per source table: its row count and an order-independent digest of its rows (``sum(hash(row))``: DuckDB reads
the table once, about 0.1 s per million rows); plus the spec's own probe query, if it declares one (e.g.
``SELECT max(updated_at) FROM orders``). A reloaded table - other rows, fewer rows - gives another data version,
so the extract and everything downstream re-run; an unchanged warehouse keeps every key. ``max_age`` adds the
current time window: the extract is recomputed at least that often whatever the probe says.

DuckDB rewrites its file (or its ``.wal``) on every change, so what the probe found is kept in the artifact store
(``_probes/``) with the files' size and modification time, and reused while they are unchanged: a cached run does
not even import duckdb.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepml.errors import QueryError

if TYPE_CHECKING:
    from stepml.spec.pipeline import Pipeline


class WarehouseProbe:
    """Probes of one warehouse file, each table probed once per plan (``store``: where earlier answers are kept)."""

    def __init__(self, warehouse: Path, store: Any = None) -> None:
        self.warehouse = warehouse
        self.store = store
        self._tables: dict[str, Any] = {}
        self._answers: dict[str, Any] = {}
        self._stat = self._file_stat()
        self._key = "_probes/" + hashlib.sha256(str(warehouse.resolve()).encode()).hexdigest()[:24] + ".json"
        self._loaded = False

    def _file_stat(self) -> list[int]:
        out: list[int] = []
        for path in (self.warehouse, self.warehouse.with_name(self.warehouse.name + ".wal")):
            st = path.stat() if path.exists() else None
            out += [st.st_size, st.st_mtime_ns, st.st_ino] if st else [-1, -1, -1]
        return out

    def _load(self) -> None:
        """What an earlier probe of the unchanged file found."""
        if self._loaded or self.store is None:
            return
        self._loaded = True
        try:
            saved = json.loads(self.store.read_bytes(self._key)) if self.store.exists(self._key) else None
        except (OSError, ValueError):
            saved = None
        if isinstance(saved, dict) and saved.get("stat") == self._stat:
            self._tables.update(saved.get("tables", {}))
            self._answers.update(saved.get("answers", {}))

    def _save(self) -> None:
        if self.store is not None and self._file_stat() == self._stat:
            body = {"stat": self._stat, "tables": self._tables, "answers": self._answers}
            self.store.write_bytes(self._key, json.dumps(body).encode())

    def _probe(self, step: str, tables: list[str], probe: str) -> None:
        from steps.extract.query import connect

        con = connect(self.warehouse, step=step)
        try:
            for t in tables:
                self.table(con, t, step)
            if probe and probe not in self._answers:
                try:
                    rows = con.execute(probe).fetchall()
                except Exception as exc:
                    raise QueryError(step, f"the data_version probe failed: {str(exc).splitlines()[0]}") from None
                self._answers[probe] = [[str(v) for v in row] for row in rows]
        finally:
            con.close()
        self._save()

    def table(self, con: Any, name: str, step: str) -> Any:
        if name not in self._tables:
            quoted = ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))
            try:
                count, digest = con.execute(f"SELECT count(*), sum(hash(t)) FROM {quoted} AS t").fetchone()
            except Exception as exc:  # duckdb.CatalogException: the extract's own query then names the error
                self._tables[name] = ["unreadable", str(exc).splitlines()[0]]
                return self._tables[name]
            self._tables[name] = [int(count), str(digest)]
        return self._tables[name]

    def resolve(self, step: str, lookup: Mapping[str, Any], now: float) -> dict[str, Any]:
        started = time.perf_counter()
        self._load()
        tables = [str(t) for t in lookup.get("tables", [])]
        probe = str(lookup.get("probe") or "")
        if any(t not in self._tables for t in tables) or (probe and probe not in self._answers):
            self._probe(step, tables, probe)
        found: dict[str, Any] = {"tables": {t: self._tables[t] for t in tables}}
        if probe:
            found["probe"] = self._answers[probe]
        if lookup.get("max_age_s"):
            found["window"] = int(now // int(lookup["max_age_s"]))
        digest = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()
        return {"digest": digest, **found, "seconds": round(time.perf_counter() - started, 3)}


def resolver(pipeline: Pipeline, *, clock: Any = time.time, store: Any = None) -> Any:
    """A data-version resolver for ``pipeline``'s local warehouse (``lookup`` of ``kind: data``); ``store``: the
    artifact store, where answers for an unchanged warehouse file are kept."""
    warehouse = pipeline.resolve(pipeline.spec.warehouse.local.path)
    probes: list[WarehouseProbe] = []

    def resolve(step: str, lookup: Mapping[str, Any], upstream: Mapping[str, str]) -> dict[str, Any] | None:
        if not warehouse.exists():  # no data version; the extract itself, if it runs, names the missing file
            return None
        if not probes:
            probes.append(WarehouseProbe(warehouse, store))
        return probes[0].resolve(step, lookup, clock())

    return resolve
