"""Permuted blocks with randomly varying block sizes, one pre-generated list per stratum.

Following R ``blockrand`` (Snow, cran/blockrand): each block's size is drawn at random from the
protocol's block sizes; a block holds every arm in proportion to the ratio and is a random
permutation of those assignments. Two departures, both to keep a list usable as a concealed
list: (1) near the end of a list of known length (a dose cohort) the size is drawn among the
sizes that still fit, so a full cohort ends on a block boundary whenever the sizes allow (a
single-site cohort of 20 at 3:1 ends exactly 15:5); only if none fits is the last block
completed beyond the length, as blockrand does; (2) every slot carries a kit number drawn at
random, so neither the kit nor its order reveals the arm.

The list is generated and held by the unblinded statistician. The application hands out the
next unused slot of a stratum (:func:`allocate_next`) and shows blinded staff only the
randomization number and the kit number (:meth:`Slot.blinded`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from trialkit.protocol.schema import Protocol, Randomization
from trialkit.randomization.strata import (
    AllocationError,
    StratumError,
    all_strata,
    parse_stratum_key,
    randomization_spec,
)
from trialkit.randomization.stream import SeededStream


@dataclass(frozen=True)
class BlindedAllocation:
    """All that blinded staff (investigator, coordinator, assessor) ever see of an allocation."""

    randomization_number: str
    kit_number: str


@dataclass(frozen=True)
class Slot:
    """One line of the concealed list: the unblinded truth behind a randomization number."""

    stratum: str
    sequence_no: int  # 1-based position within the stratum's list
    randomization_number: str
    arm_id: str
    dose_level: str | None
    cohort: str | None
    block_no: int  # 1-based block within the stratum
    block_size: int
    kit_number: str

    def blinded(self) -> BlindedAllocation:
        return BlindedAllocation(self.randomization_number, self.kit_number)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


SLOT_FIELDS = [f for f in Slot.__dataclass_fields__]


@dataclass(frozen=True)
class AllocationList:
    protocol_id: str | None
    seed: int | str
    ratio: dict[str, int]
    block_sizes: tuple[int, ...]
    strata: tuple[str, ...]
    slots: tuple[Slot, ...] = field(repr=False)

    def for_stratum(self, stratum: str) -> list[Slot]:
        if stratum not in self.strata:
            raise StratumError(f"stratum {stratum!r} is not in this list; strata: {', '.join(self.strata)}")
        return [s for s in self.slots if s.stratum == stratum]

    def arms_by_stratum(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {key: [] for key in self.strata}
        for s in self.slots:
            out[s.stratum].append(s.arm_id)
        return out

    def by_kit(self) -> dict[str, Slot]:
        """The code list: kit number -> slot (unblinded pharmacy and emergency unblinding)."""
        return {s.kit_number: s for s in self.slots}

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol_id,
            "seed": self.seed,
            "method": "permuted_block",
            "ratio": self.ratio,
            "block_sizes": list(self.block_sizes),
            "strata": list(self.strata),
            "slots": [s.as_dict() for s in self.slots],
        }


@dataclass(frozen=True)
class Candidate:
    """What the allocation rule needs to know of a participant before allocating."""

    participant_id: str
    eligible: bool
    consented: bool
    already_allocated: bool = False


def block_pool(ratio: Mapping[str, int], block_size: int) -> list[str]:
    """The assignments of one block, before permutation: each arm ``size/total × weight`` times."""
    total = sum(ratio.values())
    if block_size <= 0 or block_size % total:
        raise ValueError(f"block size {block_size} is not a positive multiple of the ratio total {total}")
    per_unit = block_size // total
    return [arm for arm, weight in ratio.items() for _ in range(weight * per_unit)]


def permuted_block_sequence(
    ratio: Mapping[str, int], block_sizes: Iterable[int], n: int, stream: SeededStream
) -> list[tuple[str, int, int]]:
    """At least ``n`` assignments as (arm id, block number, block size), in whole blocks."""
    sizes = sorted(set(block_sizes))
    if not sizes:
        raise ValueError("at least one block size is needed")
    if n <= 0:
        raise ValueError(f"the list length must be positive, got {n}")
    out: list[tuple[str, int, int]] = []
    block_no = 0
    while len(out) < n:
        remaining = n - len(out)
        fitting = [b for b in sizes if b <= remaining]
        size = stream.choice(fitting or sizes)
        block = block_pool(ratio, size)
        stream.shuffle(block)
        block_no += 1
        out.extend((arm, block_no, size) for arm in block)
    return out


def arm_dose_levels(protocol: Protocol | None) -> dict[str, str | None]:
    """Each arm's dose level when it has exactly one (e.g. placebo), else None (set by cohort)."""
    if protocol is None:
        return {}
    return {
        arm.id: (arm.dose.levels[0].id if arm.dose and len(arm.dose.levels) == 1 else None) for arm in protocol.arms
    }


def _cohort_arm(protocol: Protocol | None, dose_level: str) -> str | None:
    if protocol is None:
        return None
    for arm in protocol.arms:
        if arm.dose and any(lvl.id == dose_level for lvl in arm.dose.levels):
            return arm.id
    return None


def kit_digits(total_slots: int) -> int:
    """Digits of a kit code: at least 4 and at least 100 codes per slot, so that a code is
    mostly unused space and guessing a valid kit number is unlikely."""
    return max(4, math.ceil(math.log10(max(total_slots, 1) * 100)))


# A bound on a generated list, far above any trial TrialKit runs (phase 1/2: tens to hundreds per stratum),
# so that a mistyped --n ends at once instead of filling memory.
MAX_SLOTS_PER_STRATUM = 10_000


def generate_list(
    protocol_or_spec: Protocol | Randomization,
    seed: int | str,
    *,
    n: int | None = None,
    strata: Iterable[str] | None = None,
) -> AllocationList:
    """Generate the concealed allocation list: ``n`` slots per stratum (default: the cohort's
    size for dose-cohort strata, else the trial's planned enrollment, since one stratum may in
    principle receive every participant).

    Each stratum draws from its own stream (seed, stratum key): the same seed always gives the
    same list, and adding a stratum leaves the others unchanged.
    """
    spec = randomization_spec(protocol_or_spec)
    protocol = protocol_or_spec if isinstance(protocol_or_spec, Protocol) else None
    if spec.method != "permuted_block":
        raise ValueError(f"randomization method is {spec.method!r}: it has no pre-generated list; use Minimizer")
    if n is not None and n <= 0:
        raise ValueError(f"n (slots per stratum) must be a positive integer, got {n}")
    if n is not None and n > MAX_SLOTS_PER_STRATUM:
        raise ValueError(f"n (slots per stratum) must be at most {MAX_SLOTS_PER_STRATUM:,}, got {n:,}")
    keys = list(strata) if strata is not None else all_strata(protocol_or_spec)
    if len(set(keys)) != len(keys):
        raise StratumError("strata must be unique")
    cohorts = {c.id: c for c in spec.cohorts}
    fixed_levels = arm_dose_levels(protocol)

    planned: list[tuple[str, str | None, list[tuple[str, int, int]]]] = []
    for key in keys:
        cohort_id = parse_stratum_key(key).get("cohort")
        if cohorts and cohort_id not in cohorts:
            raise StratumError(f"stratum {key!r} names no cohort of this trial ({', '.join(cohorts)})")
        length = n
        if length is None:
            if cohort_id:
                length = cohorts[cohort_id].size
            elif protocol is not None:
                length = protocol.registry.enrollment.count
            else:
                raise ValueError("n (slots per stratum) is needed when no protocol gives the enrollment")
        stream = SeededStream(seed, f"blocks|{key}")
        planned.append((key, cohort_id, permuted_block_sequence(spec.ratio, spec.block_sizes, length, stream)))

    total = sum(len(seq) for _, _, seq in planned)
    digits = kit_digits(total)
    used_kits: set[str] = set()
    slots: list[Slot] = []
    for stratum_no, (key, cohort_id, sequence) in enumerate(planned, start=1):
        cohort_level = cohorts[cohort_id].dose_level if cohort_id else None
        cohort_arm = _cohort_arm(protocol, cohort_level) if cohort_level else None
        kit_stream = SeededStream(seed, f"kits|{key}")
        width = max(3, len(str(len(sequence))))
        for sequence_no, (arm, block_no, block_size) in enumerate(sequence, start=1):
            while True:
                kit = f"{spec.kit_prefix}-{kit_stream.below(10**digits):0{digits}d}"
                if kit not in used_kits:
                    used_kits.add(kit)
                    break
            # The cohort's dose level belongs to the arm that has it; other arms keep their own.
            level = cohort_level if cohort_arm is not None and arm == cohort_arm else fixed_levels.get(arm)
            slots.append(
                Slot(
                    stratum=key,
                    sequence_no=sequence_no,
                    randomization_number=f"R{stratum_no:02d}-{sequence_no:0{width}d}",
                    arm_id=arm,
                    dose_level=level,
                    cohort=cohort_id,
                    block_no=block_no,
                    block_size=block_size,
                    kit_number=kit,
                )
            )
    return AllocationList(
        protocol_id=protocol.id if protocol else None,
        seed=seed,
        ratio=dict(spec.ratio),
        block_sizes=tuple(spec.block_sizes),
        strata=tuple(keys),
        slots=tuple(slots),
    )


def allocate_next(
    allocation_list: AllocationList, stratum: str, used_sequence_nos: Iterable[int], candidate: Candidate
) -> Slot:
    """The slot to give ``candidate``: the first unused slot of the stratum, in list order.

    Allocation happens once, and only for an enrolled participant (eligible and consented). The
    caller serializes allocations (a row lock on the stratum) and records the slot as used in the
    same transaction; this function decides, it stores nothing.
    """
    if candidate.already_allocated:
        raise AllocationError(f"participant {candidate.participant_id} is already randomized; allocation happens once")
    if not candidate.eligible:
        raise AllocationError(
            f"participant {candidate.participant_id} is not eligible; only eligible participants are randomized"
        )
    if not candidate.consented:
        raise AllocationError(
            f"participant {candidate.participant_id} has not consented; consent comes before randomization"
        )
    used = set(used_sequence_nos)
    for slot in allocation_list.for_stratum(stratum):
        if slot.sequence_no not in used:
            return slot
    raise AllocationError(f"the list for stratum {stratum!r} is used up; the statistician must extend it")
