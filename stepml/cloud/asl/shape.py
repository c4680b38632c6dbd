"""The plan's step graph as the state machine runs it: sequences and Parallel states of independent branches.

:func:`shape` turns the steps (in dependency order) and what each needs into a tree of :class:`Seq` and
:class:`Par` blocks whose leaves are step names. It is pure and deterministic. Rules, applied recursively to a set
of steps ``S`` (the steps outside ``S`` that they need are done already):

- steps with no edge between them (``S`` falls into several weakly connected parts) run as a :class:`Par`, one
  branch per part - e.g. ``extract_train -> train -> gate`` beside ``extract_score``;
- a connected ``S`` is cut into ``A`` then ``B`` where ``A`` is everything some step ``x`` needs (its ancestors in
  ``S``) and every step of ``B`` needs all of ``A``: running ``A`` before ``B`` then delays nothing. The smallest such
  ``A`` is taken (the reference pipeline: ``{extracts, train, gate}`` then ``score -> check``);
- a connected ``S`` with no such cut (a graph that is not series-parallel, e.g. ``a -> c``, ``b -> c``,
  ``b -> d``) runs its sources first, then the rest: a valid order that may start a step later than it could.

A step never starts before everything it needs has finished, whatever the shape (tested on random graphs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Seq:
    items: tuple[Block, ...]


@dataclass(frozen=True)
class Par:
    branches: tuple[Block, ...]


Block = str | Seq | Par


def shape(steps: Sequence[str], needs: Mapping[str, Sequence[str]]) -> Block:
    """The blocks of ``steps`` (dependency order) given what each step ``needs``."""
    index = {s: i for i, s in enumerate(steps)}
    return _shape(list(steps), {s: [d for d in needs.get(s, ()) if d in index] for s in steps})


def _shape(group: list[str], needs: Mapping[str, Sequence[str]]) -> Block:
    if len(group) == 1:
        return group[0]
    inside = set(group)
    parts = _components(group, needs)
    if len(parts) > 1:
        return Par(tuple(_shape(p, needs) for p in parts))
    ancestors = {s: _ancestors(s, needs, inside) for s in group}
    cuts = []
    for x in group:
        first = ancestors[x]
        rest = inside - first
        if first and rest and all(first <= ancestors[b] for b in rest):
            cuts.append(first)
    if cuts:
        first = min(cuts, key=lambda c: (len(c), sorted(c)))
    else:  # not series-parallel: the sources, then the rest
        first = {s for s in group if not any(d in inside for d in needs[s])}
    before = [s for s in group if s in first]
    after = [s for s in group if s not in first]
    return _seq(_shape(before, needs), _shape(after, needs))


def _seq(*blocks: Block) -> Seq:
    items: list[Block] = []
    for b in blocks:
        items.extend(b.items if isinstance(b, Seq) else (b,))
    return Seq(tuple(items))


def _ancestors(step: str, needs: Mapping[str, Sequence[str]], inside: set[str]) -> set[str]:
    out: set[str] = set()
    todo = [d for d in needs[step] if d in inside]
    while todo:
        d = todo.pop()
        if d not in out:
            out.add(d)
            todo.extend(u for u in needs[d] if u in inside)
    return out


def _components(group: list[str], needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Weakly connected parts of ``group``, each in the group's order, ordered by their first step."""
    inside = set(group)
    neighbours: dict[str, set[str]] = {s: set() for s in group}
    for s in group:
        for d in needs[s]:
            if d in inside:
                neighbours[s].add(d)
                neighbours[d].add(s)
    seen: dict[str, int] = {}
    for s in group:
        if s in seen:
            continue
        seen[s] = len(set(seen.values()))
        todo = [s]
        while todo:
            for n in neighbours[todo.pop()]:
                if n not in seen:
                    seen[n] = seen[s]
                    todo.append(n)
    parts: dict[int, list[str]] = {}
    for s in group:
        parts.setdefault(seen[s], []).append(s)
    return list(parts.values())


def steps_of(block: Block) -> list[str]:
    """Every step of ``block``, in order."""
    if isinstance(block, str):
        return [block]
    children = block.items if isinstance(block, Seq) else block.branches
    return [s for c in children for s in steps_of(c)]


def parallels(block: Block) -> int:
    """How many Parallel states ``block`` compiles to."""
    if isinstance(block, str):
        return 0
    children = block.items if isinstance(block, Seq) else block.branches
    return (1 if isinstance(block, Par) else 0) + sum(parallels(c) for c in children)
