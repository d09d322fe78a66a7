"""What the allocation services ask of the chain of custody when a dose is prepared and given.

Imported by ``allocation.services`` at load time, so it imports the product services only when
called; a refusal of the chain reaches the allocation's pages and API as an ``AllocationProblem``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any


def _as_allocation_problem(call: Callable[[], Any]) -> Any:
    from trialkit.server.allocation.services import AllocationProblem
    from trialkit.server.product.services import ProductProblem

    try:
        return call()
    except ProductProblem as exc:
        raise AllocationProblem(str(exc), field=exc.field, rule=exc.rule) from exc


def thawed_at_for_label(participant, preparation) -> datetime | None:
    from trialkit.server.product import services

    return _as_allocation_problem(lambda: services.thawed_at_for_label(participant, preparation))


def kit_prepared(participant, actor, *, now: datetime) -> None:
    from trialkit.server.product import services

    _as_allocation_problem(lambda: services.kit_prepared(participant, actor, now=now))


def kit_infused(participant, actor, *, now: datetime) -> None:
    from trialkit.server.product import services

    _as_allocation_problem(lambda: services.kit_infused(participant, actor, now=now))
