"""Strata: which list a participant is allocated from.

A stratum is the participant's cohort (for dose-cohort trials) plus one level of every
stratification factor the protocol names: the site, and factors read from the screening facts
(such as a baseline NIHSS band). Its key is a readable string, e.g.
``"site=ixcell-01|nihss-band=moderate"`` or ``"cohort=cohort-low|site=assist-01"``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from typing import Any

from trialkit.protocol.schema import Cohort, Protocol, Randomization, StratificationFactor

UNSTRATIFIED = "all"


class StratumError(ValueError):
    """A participant's facts do not place them in a stratum; the message names the factor."""


class AllocationError(ValueError):
    """An allocation that must not happen (not enrolled, allocated twice, list or cohort exhausted)."""


def randomization_spec(protocol_or_spec: Protocol | Randomization) -> Randomization:
    if isinstance(protocol_or_spec, Protocol):
        return protocol_or_spec.randomization
    if isinstance(protocol_or_spec, Randomization):
        return protocol_or_spec
    raise TypeError(f"expected a Protocol or a Randomization, got {type(protocol_or_spec).__name__}")


def _fact(facts: Mapping[str, Any], source: str) -> Any:
    """Read ``source`` from the facts: a plain key, else a dotted path into nested mappings."""
    if source in facts:
        return facts[source]
    value: Any = facts
    for part in source.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def factor_level(factor: StratificationFactor, facts: Mapping[str, Any], site_id: str | None = None) -> str:
    """The level id of one factor for one participant; StratumError names the factor and the rule."""
    if factor.source == "site":
        if not site_id:
            raise StratumError(f"stratification factor {factor.id!r} needs the participant's site")
        if factor.levels and site_id not in {lvl.id for lvl in factor.levels}:
            known = ", ".join(lvl.id for lvl in factor.levels)
            raise StratumError(f"stratification factor {factor.id!r}: site {site_id!r} is not one of {known}")
        return site_id
    value = _fact(facts, factor.source)
    if value is None:
        raise StratumError(f"stratification factor {factor.id!r} needs the fact {factor.source!r}, which is missing")
    ranged = [lvl for lvl in factor.levels if lvl.min is not None or lvl.max is not None]
    if ranged:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise StratumError(f"stratification factor {factor.id!r}: {factor.source} must be a number, got {value!r}")
        for lvl in factor.levels:
            lo = -math.inf if lvl.min is None else lvl.min
            hi = math.inf if lvl.max is None else lvl.max
            if lo <= value <= hi:
                return lvl.id
        bands = ", ".join(f"{lvl.id} [{_num(lvl.min)}, {_num(lvl.max)}]" for lvl in factor.levels)
        raise StratumError(
            f"stratification factor {factor.id!r}: {factor.source} = {value} is outside every band ({bands})"
        )
    if factor.levels:
        ids = [lvl.id for lvl in factor.levels]
        if str(value) not in ids:
            raise StratumError(
                f"stratification factor {factor.id!r}: {factor.source} = {value!r} is not one of {', '.join(ids)}"
            )
    return str(value)


def _num(x: float | None) -> str:
    if x is None:
        return "…"
    return str(int(x)) if float(x).is_integer() else str(x)


def known_sites(protocol_or_spec: Protocol | Randomization, sites: Iterable[str] | None = None) -> list[str]:
    """The site ids a ``source: site`` factor without listed levels accepts: ``sites`` when the
    caller knows them (an application keeps its sites in a database, often more than the
    registry lists), else the protocol's registry locations; empty when neither is known."""
    if sites is not None:
        return list(sites)
    if isinstance(protocol_or_spec, Protocol):
        return [loc.id for loc in protocol_or_spec.registry.locations]
    return []


def stratum_levels(
    protocol_or_spec: Protocol | Randomization,
    site_id: str | None,
    facts: Mapping[str, Any] | None = None,
    *,
    sites: Iterable[str] | None = None,
) -> dict[str, str]:
    """Factor id -> level id for every stratification factor, in protocol order.

    ``sites``: the trial's site ids, when the caller holds a list longer than the registry's."""
    spec = randomization_spec(protocol_or_spec)
    facts = facts or {}
    levels: dict[str, str] = {}
    known = known_sites(protocol_or_spec, sites)
    for factor in spec.stratify_by:
        if factor.source == "site" and not factor.levels and known and site_id not in known:
            raise StratumError(
                f"stratification factor {factor.id!r}: site {site_id!r} is not one of {', '.join(known)}"
            )
        levels[factor.id] = factor_level(factor, facts, site_id)
    return levels


def key_from_levels(levels: Mapping[str, str], cohort_id: str | None = None) -> str:
    parts = [f"cohort={cohort_id}"] if cohort_id else []
    parts += [f"{factor}={level}" for factor, level in levels.items()]
    return "|".join(parts) or UNSTRATIFIED


def stratum_key(
    protocol_or_spec: Protocol | Randomization,
    site_id: str | None,
    facts: Mapping[str, Any] | None = None,
    cohort_id: str | None = None,
    *,
    sites: Iterable[str] | None = None,
) -> str:
    """The stratum a participant is allocated in. Trials with cohorts need ``cohort_id``
    (see :func:`current_cohort`); ``sites`` as in :func:`stratum_levels`."""
    spec = randomization_spec(protocol_or_spec)
    if spec.cohorts:
        ids = [c.id for c in spec.cohorts]
        if cohort_id not in ids:
            raise StratumError(f"cohort {cohort_id!r} is not one of {', '.join(ids)}; use current_cohort()")
    elif cohort_id is not None:
        raise StratumError(f"this trial has no cohorts, got cohort {cohort_id!r}")
    return key_from_levels(stratum_levels(protocol_or_spec, site_id, facts, sites=sites), cohort_id)


def all_strata(protocol_or_spec: Protocol | Randomization, *, sites: Iterable[str] | None = None) -> list[str]:
    """Every stratum key of the trial, in a stable order (cohorts, then factors as listed);
    ``sites`` as in :func:`stratum_levels`."""
    spec = randomization_spec(protocol_or_spec)
    per_factor: list[list[tuple[str, str]]] = []
    known = known_sites(protocol_or_spec, sites)
    for factor in spec.stratify_by:
        if factor.levels:
            ids = [lvl.id for lvl in factor.levels]
        elif factor.source == "site" and known:
            ids = known
        else:
            raise StratumError(
                f"stratification factor {factor.id!r} lists no levels, so its strata cannot be enumerated"
            )
        per_factor.append([(factor.id, level) for level in ids])
    cohorts: list[str | None] = [c.id for c in spec.cohorts] or [None]
    keys = []
    for cohort_id in cohorts:
        for combo in itertools.product(*per_factor):
            keys.append(key_from_levels(dict(combo), cohort_id))
    return keys


def parse_stratum_key(key: str) -> dict[str, str]:
    """The inverse of the key: ``{"cohort": ..., factor: level, ...}`` (empty for ``all``)."""
    if key == UNSTRATIFIED:
        return {}
    return dict(part.split("=", 1) for part in key.split("|"))


def current_cohort(protocol_or_spec: Protocol | Randomization, counts: Mapping[str, int]) -> Cohort | None:
    """The cohort now enrolling: the first one not yet full, given participants allocated per
    cohort id. Cohorts open in protocol order (dose escalation), each only after the previous is
    full; None once every cohort is full."""
    spec = randomization_spec(protocol_or_spec)
    open_cohort: Cohort | None = None
    for cohort in spec.cohorts:
        allocated = counts.get(cohort.id, 0)
        if allocated > cohort.size:
            raise AllocationError(f"cohort {cohort.id!r} has {allocated} allocations but a size of {cohort.size}")
        if open_cohort is not None and allocated:
            raise AllocationError(
                f"cohort {cohort.id!r} has allocations while the earlier cohort {open_cohort.id!r} is not full"
            )
        if open_cohort is None and allocated < cohort.size:
            open_cohort = cohort
    return open_cohort


def allocation_stratum(
    protocol: Protocol,
    site_id: str | None,
    facts: Mapping[str, Any] | None = None,
    cohort_counts: Mapping[str, int] | None = None,
    *,
    sites: Iterable[str] | None = None,
) -> str:
    """The stratum the next participant is allocated in: the enrolling cohort (if the trial has
    cohorts) plus the participant's factor levels. AllocationError once every cohort is full.
    ``sites`` as in :func:`stratum_levels`."""
    cohort_id = None
    if protocol.randomization.cohorts:
        cohort = current_cohort(protocol, cohort_counts or {})
        if cohort is None:
            raise AllocationError("every cohort is full; no further participant can be randomized")
        cohort_id = cohort.id
    return stratum_key(protocol, site_id, facts, cohort_id, sites=sites)
