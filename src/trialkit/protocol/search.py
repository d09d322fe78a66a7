"""The public trial finder's matching rules, on protocols alone (no database)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from trialkit.protocol.schema import PHASE_LABELS, Protocol


@dataclass(frozen=True)
class TrialQuery:
    text: str = ""
    condition: str = ""
    status: str = ""  # an OverallStatus value, e.g. RECRUITING
    phase: str = ""  # a phase value, e.g. PHASE2
    location: str = ""

    @property
    def empty(self) -> bool:
        return not any((self.text, self.condition, self.status, self.phase, self.location))


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[\w\-]+", text.lower()) if w]


def _has_word(word: str, haystack: str) -> bool:
    # Whole words only: "assist" must not find "assistive".
    return re.search(rf"(?<![\w\-]){re.escape(word)}(?![\w\-])", haystack) is not None


def searchable_text(protocol: Protocol) -> str:
    r = protocol.registry
    parts = [
        r.nct_id,
        r.org_study_id,
        r.acronym or "",
        r.brief_title,
        r.official_title or "",
        r.sponsor,
        r.brief_summary,
        r.detailed_description or "",
        *r.conditions,
        *r.keywords,
        *r.secondary_ids,
        *(i.name for i in r.interventions),
        *(a.label for a in protocol.arms),
        *(a.description for a in protocol.arms),
    ]
    return " ".join(parts).lower()


def location_text(protocol: Protocol, extra_locations: Iterable[str] = ()) -> str:
    places: list[str] = []
    for loc in protocol.registry.locations:
        places.extend(p for p in (loc.name, loc.city, loc.state, loc.country) if p)
    places.extend(extra_locations)
    return " ".join(places).lower()


def matches(protocol: Protocol, query: TrialQuery, extra_locations: Iterable[str] = ()) -> bool:
    """All given filters must hold; free text matches when every word occurs as a whole word."""
    r = protocol.registry
    if query.text and not all(_has_word(w, searchable_text(protocol)) for w in _words(query.text)):
        return False
    if query.condition and not any(query.condition.lower() in c.lower() for c in r.conditions):
        return False
    if query.status and r.overall_status.value != query.status:
        return False
    if query.phase and query.phase not in r.phases:
        return False
    return not (
        query.location
        and not all(_has_word(w, location_text(protocol, extra_locations)) for w in _words(query.location))
    )


def phase_label(protocol: Protocol) -> str:
    return " / ".join(PHASE_LABELS[p] for p in protocol.registry.phases)


# ------------------------------------------------------------------ distance ("trials near me")

MAX_DISTANCE_KM = 20_038  # half the Earth's circumference: every place is within it


def site_coordinates(protocol: Protocol, site_code: str, city: str = "") -> tuple[float, float] | None:
    """A site's coordinates: the protocol's (``registry.locations[].latitude/longitude``), else its city's
    in the offline gazetteer, else None (the site is listed without a distance)."""
    for loc in protocol.registry.locations:
        if loc.id == site_code and loc.coordinates is not None:
            return loc.coordinates
    if city:
        from trialkit.protocol.places import find_place

        place = find_place(city)
        if place is not None:
            return place.coordinates
    return None


def distances_km(origin: tuple[float, float], points: dict[str, tuple[float, float] | None]) -> dict[str, float | None]:
    """Each point's great-circle distance from ``origin`` (None where a point has no coordinates)."""
    from trialkit.protocol.places import haversine_km

    return {key: (None if where is None else haversine_km(origin, where)) for key, where in points.items()}


def nearest_km(distances: dict[str, float | None]) -> float | None:
    known = [d for d in distances.values() if d is not None]
    return min(known) if known else None


def by_distance(items: list[tuple[float | None, str]]) -> list[tuple[float | None, str]]:
    """Nearest first; items without a distance last, in their given order."""
    return sorted(items, key=lambda item: (item[0] is None, item[0] if item[0] is not None else 0.0))
