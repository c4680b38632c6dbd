"""Assignment: which units an experiment takes and which variant each gets - a salted hash of the unit id.

Standard library only (the plan Lambda and the serving containers import it), and the same wherever it runs:
SHA-256, never Python's ``hash()``; a unit id is hashed as its canonical text (``unit_text``), so 42, 42.0 and
"42" are one unit whether a table stores it as an integer, a float or a string.

- **Bucket.** ``sha256("<layer>|<unit>")`` -> one of :data:`BUCKETS` buckets. An experiment holds the buckets
  ``[offset, offset + coverage)`` of its layer; experiments of one layer hold disjoint ranges, so a unit is in at
  most one of them. Raising coverage only adds buckets: no assigned unit moves.
- **Variant.** ``sha256("<salt>|variant|<unit>")`` -> a number in [0, 1) -> the variant whose cumulative weight
  range holds it. It does not depend on the bucket, so coverage changes never move a unit between variants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BUCKETS = 10_000
_SCALE = float(2**64)


def unit_text(value: Any) -> str:
    """The canonical text of a unit id: integers (and integral floats) as digits, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a numpy scalar
        return unit_text(value.item())
    return str(value)


def _h64(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def bucket(layer: str, unit: Any) -> int:
    return _h64(f"{layer}|{unit_text(unit)}") % BUCKETS


def draw(salt: str, unit: Any) -> float:
    """The unit's uniform draw in [0, 1) for choosing its variant."""
    return _h64(f"{salt}|variant|{unit_text(unit)}") / _SCALE


def pick(weights: Mapping[str, float], u: float) -> str:
    """The variant whose cumulative share of the (positive) weights holds ``u``."""
    names = [n for n, w in weights.items() if w > 0]
    total = sum(weights[n] for n in names)
    edge = 0.0
    for n in names:
        edge += weights[n] / total
        if u < edge:
            return n
    return names[-1]


@dataclass(frozen=True)
class Assignment:
    unit: str
    bucket: int
    in_experiment: bool
    variant: str  # the assigned variant (the control for units outside the experiment)


def segment(settings: Mapping[str, Any], coverage: float) -> tuple[int, int]:
    lo = round(float(settings["offset"]) * BUCKETS)
    return lo, min(BUCKETS, lo + round(coverage * BUCKETS))


def assign(units: Iterable[Any], settings: Mapping[str, Any], coverage: float) -> list[Assignment]:
    """Each distinct unit's assignment, in first-seen order. ``settings``: the experiment's settings record
    (``stepml.spec.experiments.settings``: kind, salt, layer, offset, weights)."""
    lo, hi = segment(settings, coverage)
    weights: Mapping[str, float] = settings["weights"]
    control = next(iter(weights))
    ab = settings["kind"] == "ab"
    out: list[Assignment] = []
    seen: set[str] = set()
    layer, salt = str(settings["layer"]), str(settings["salt"])
    for raw in units:
        u = unit_text(raw)
        if u in seen:
            continue
        seen.add(u)
        b = _h64(f"{layer}|{u}") % BUCKETS
        inside = lo <= b < hi
        variant = pick(weights, _h64(f"{salt}|variant|{u}") / _SCALE) if inside and ab else control
        out.append(Assignment(u, b, inside, variant))
    return out


def differences(record: Mapping[str, Any], settings: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, recorded, in the spec) for each setting a running experiment may not change."""
    found: list[tuple[str, Any, Any]] = []
    for field in ("kind", "unit", "salt", "layer"):
        if record.get(field) != settings.get(field):
            found.append((field, record.get(field), settings.get(field)))
    if abs(float(record.get("offset", -1)) - float(settings["offset"])) > 1e-9:
        found.append(("offset", record.get("offset"), settings["offset"]))
    old, new = record.get("weights") or {}, settings["weights"]
    if not isinstance(old, Mapping) or set(old) != set(new) or any(abs(float(old[k]) - new[k]) > 1e-9 for k in new):
        found.append(("weights", old, new))
    return found


def split(assignments: Sequence[Assignment]) -> dict[str, int]:
    """Units per variant among those in the experiment, plus ``(not in experiment)``."""
    counts: dict[str, int] = {}
    for a in assignments:
        key = a.variant if a.in_experiment else "(not in experiment)"
        counts[key] = counts.get(key, 0) + 1
    return counts
