"""Site supply: when to resupply a site, and which kits are close to expiry.

Counts are of kits whatever their arm: a resupply asks for a number of kits, and the depot (an
unblinded role) chooses which, so neither the request nor the stock count shows an arm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from trialkit.protocol.schema import Supply


def resupply_quantity(spec: Supply, *, available: int, in_transit: int, requested: int) -> int:
    """Kits to request for a site now: 0 while available + on the way + already requested stays at
    or above the minimum; otherwise the protocol's resupply quantity (enough to reach the minimum)."""
    coming = available + in_transit + requested
    if coming >= spec.min_stock_per_site:
        return 0  # in stock, or on the way: the minimum holds
    return max(spec.resupply_quantity, spec.min_stock_per_site - coming)


@dataclass(frozen=True)
class ExpiryWarning:
    kit_number: str
    expires_on: date
    days_left: int
    expired: bool


def expiry_warnings(spec: Supply, kits: list[tuple[str, date]], today: date) -> list[ExpiryWarning]:
    """Kits (number, expiry date) expired or expiring within the protocol's warning days,
    soonest first (then by kit number, so the order says nothing else)."""
    horizon = today + timedelta(days=spec.expiry_warning_days)
    out = [
        ExpiryWarning(number, expires, (expires - today).days, expires < today)
        for number, expires in kits
        if expires <= horizon
    ]
    return sorted(out, key=lambda w: (w.expires_on, w.kit_number))
