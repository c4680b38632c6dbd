"""cdk-nag suppressions, each with the reason it is acceptable. Used by stacks; listed in docs/deploy.md."""

from __future__ import annotations

from collections.abc import Sequence

from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import IConstruct


def suppress(construct: IConstruct, rule: str, reason: str, applies_to: Sequence[str] | None = None) -> None:
    """Suppress ``rule`` on ``construct`` and its children, with a written reason."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=reason, applies_to=list(applies_to) if applies_to else None)],
        apply_to_children=True,
    )
