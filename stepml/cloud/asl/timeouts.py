"""How long one execution may run: the state machine's ``TimeoutSeconds``, from the steps' own limits.

A step's compute task may run ``timeout`` seconds per attempt, ``retries + 1`` attempts with the Retry's backoff
between them (``builder.step_retry``: 30 s doubling, at most 600 s each); a partitioned step runs its partitions
``max_concurrency`` at a time, so the slowest case is ``ceil(partitions / max_concurrency)`` waves of that, one
after another. The execution's bound is the sum over the steps (they run one after another in the worst case) plus
an allowance for the Lambdas, cache checks and lock waits - capped at the one year a Standard execution may run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MAX_EXECUTION_SECONDS = 365 * 24 * 3600  # a Standard execution lasts at most one year
BOOKKEEPING_SECONDS = 3600  # Lambdas, cache checks, lock waits, notifications
RETRY_INTERVAL, RETRY_BACKOFF, RETRY_MAX_DELAY = 30, 2, 600  # builder.step_retry


@dataclass(frozen=True)
class StepBudget:
    timeout_s: int  # one attempt of one task
    retries: int = 0  # attempts after the first (resources.retries)
    partitions: int = 1
    max_concurrency: int = 1

    @property
    def waves(self) -> int:
        concurrency = max(1, min(self.max_concurrency, self.partitions))
        return -(-self.partitions // concurrency)  # ceil

    @property
    def seconds(self) -> int:
        delays = sum(min(RETRY_MAX_DELAY, RETRY_INTERVAL * int(RETRY_BACKOFF**k)) for k in range(self.retries))
        return self.waves * (self.timeout_s * (self.retries + 1) + delays)


def budget_of(spec: Any) -> StepBudget:
    """A step's budget from its spec: ``resources`` (timeout, retries) and, for a partitioned step, its
    ``partitions`` and ``max_concurrency``."""
    partitions = getattr(spec, "partitions", None) or 1
    return StepBudget(
        timeout_s=spec.resources.timeout_minutes * 60,
        retries=spec.resources.retries,
        partitions=partitions,
        max_concurrency=getattr(spec, "max_concurrency", None) or partitions,
    )


def execution_timeout(budgets: Iterable[StepBudget], *, bookkeeping_s: int = BOOKKEEPING_SECONDS) -> int:
    """The state machine's ``TimeoutSeconds``: every step's worst case, one after another, plus bookkeeping."""
    return min(MAX_EXECUTION_SECONDS, sum(b.seconds for b in budgets) + bookkeeping_s)
