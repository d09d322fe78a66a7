"""The chain of identity and custody of one kit, as a state machine: which step may follow which,
and the refusals (with their reasons) when a step must not happen.

A kit is one vial (or the vials of one dose) of one lot, placebo or cells: both follow the same
steps with the same rules, so nothing in a kit's history differs by arm. The steps::

    registered ─ship→ in_transit ─receive→ received ─store→ stored ─assign→ assigned ─thaw→ thawed
        ─prepare→ prepared ─infuse→ infused

    stored/received/in_transit/assigned ─excursion→ quarantined ─release→ (back where it was)
    any state before infused ─destroy→ destroyed

A quarantined kit is released only after its excursion was reviewed as usable; an expired lot, an
unreleased lot or a thaw older than the protocol's thaw-to-infusion limit refuses the step. This
module decides; the shell stores the kit, audits each step and asks this module first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

REGISTERED = "registered"
IN_TRANSIT = "in_transit"
RECEIVED = "received"
STORED = "stored"
QUARANTINED = "quarantined"
ASSIGNED = "assigned"
THAWED = "thawed"
PREPARED = "prepared"
INFUSED = "infused"
DESTROYED = "destroyed"

STATES = (REGISTERED, IN_TRANSIT, RECEIVED, STORED, QUARANTINED, ASSIGNED, THAWED, PREPARED, INFUSED, DESTROYED)
STATE_LABELS = {
    REGISTERED: "Registered at the depot",
    IN_TRANSIT: "In transit",
    RECEIVED: "Received at site",
    STORED: "In storage",
    QUARANTINED: "Quarantined",
    ASSIGNED: "Assigned to a participant",
    THAWED: "Thawed",
    PREPARED: "Prepared",
    INFUSED: "Infused",
    DESTROYED: "Destroyed",
}

# step -> (states it may start from, state it leads to; None: back to the state before quarantine)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    "ship": (frozenset({REGISTERED}), IN_TRANSIT),
    "receive": (frozenset({IN_TRANSIT}), RECEIVED),
    "store": (frozenset({RECEIVED}), STORED),
    "excursion": (frozenset({IN_TRANSIT, RECEIVED, STORED, ASSIGNED}), QUARANTINED),
    "release": (frozenset({QUARANTINED}), None),
    "assign": (frozenset({STORED}), ASSIGNED),
    "thaw": (frozenset({ASSIGNED}), THAWED),
    "prepare": (frozenset({THAWED}), PREPARED),
    "infuse": (frozenset({PREPARED}), INFUSED),
    "destroy": (frozenset(set(STATES) - {INFUSED, DESTROYED}), DESTROYED),
}
STEPS = tuple(TRANSITIONS)


class CustodyRefused(ValueError):
    """A step the kit's state, lot or clock does not allow; ``step`` names it, ``rule`` the reason."""

    def __init__(self, step: str, rule: str, message: str):
        self.step = step
        self.rule = rule
        super().__init__(message)


@dataclass(frozen=True)
class LotFacts:
    """What a step needs to know of the kit's lot (nothing that differs by arm)."""

    released: bool
    expires_on: date


@dataclass(frozen=True)
class KitFacts:
    kit_number: str
    status: str
    lot: LotFacts
    status_before_quarantine: str | None = None
    excursion_reviewed_usable: bool | None = None  # None: an excursion not yet reviewed
    thawed_at: datetime | None = None


def use_by(thawed_at: datetime, max_thaw_to_infusion_hours: float) -> datetime:
    """The end of a thawed kit's use: thaw time + the protocol's thaw-to-infusion limit."""
    return thawed_at + timedelta(hours=max_thaw_to_infusion_hours)


def next_state(
    kit: KitFacts,
    step: str,
    *,
    now: datetime,
    max_thaw_to_infusion_hours: float | None = None,
) -> str:
    """The kit's state after ``step`` at ``now``, or CustodyRefused saying why not."""
    if step not in TRANSITIONS:
        raise CustodyRefused(step, "unknown_step", f"{step!r} is not a step of the chain ({', '.join(STEPS)})")
    sources, target = TRANSITIONS[step]
    if kit.status not in sources:
        if kit.status == QUARANTINED:
            raise CustodyRefused(
                step,
                "quarantined",
                f"kit {kit.kit_number} is quarantined after a temperature excursion; "
                "review the excursion and release it first",
            )
        allowed = ", ".join(STATE_LABELS[s].lower() for s in STATES if s in sources)
        raise CustodyRefused(
            step,
            "state",
            f"kit {kit.kit_number} is {STATE_LABELS[kit.status].lower()}; '{step}' needs it {allowed}",
        )
    today = now.date()
    if step in ("ship", "assign", "thaw") and not kit.lot.released:
        raise CustodyRefused(step, "lot_not_released", f"kit {kit.kit_number}'s lot has not passed release testing")
    if step in ("ship", "receive", "store", "assign", "thaw", "release") and kit.lot.expires_on < today:
        raise CustodyRefused(
            step, "expired", f"kit {kit.kit_number} expired on {kit.lot.expires_on.isoformat()}; it may not be used"
        )
    if step == "release":
        if kit.excursion_reviewed_usable is None:
            raise CustodyRefused(
                step,
                "excursion_not_reviewed",
                f"kit {kit.kit_number}'s temperature excursion has not been reviewed; it cannot be released",
            )
        if not kit.excursion_reviewed_usable:
            raise CustodyRefused(
                step,
                "excursion_unusable",
                f"kit {kit.kit_number}'s excursion was reviewed as not usable; destroy the kit",
            )
        target = kit.status_before_quarantine or STORED
    if step in ("prepare", "infuse"):
        if kit.thawed_at is None:
            raise CustodyRefused(step, "not_thawed", f"kit {kit.kit_number} has no thaw time")
        if max_thaw_to_infusion_hours is not None:
            limit = use_by(kit.thawed_at, max_thaw_to_infusion_hours)
            if now > limit:
                raise CustodyRefused(
                    step,
                    "past_use_by",
                    f"kit {kit.kit_number} was thawed at {kit.thawed_at.isoformat(timespec='minutes')}; "
                    f"its use-by ({max_thaw_to_infusion_hours:g} h after thawing) passed at "
                    f"{limit.isoformat(timespec='minutes')}",
                )
        if now < kit.thawed_at:
            raise CustodyRefused(step, "before_thaw", f"kit {kit.kit_number} cannot be {step}d before it was thawed")
    assert target is not None
    return target


def excursion_outside(range_c: tuple[float, float], min_c: float, max_c: float) -> bool:
    """Whether a reading (lowest, highest) leaves the storage range."""
    lo, hi = range_c
    return min_c < lo or max_c > hi
