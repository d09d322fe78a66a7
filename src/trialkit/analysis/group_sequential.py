"""Group-sequential boundaries by alpha spending, for interim monitoring of the primary analysis.

At look k the standardized statistic Z_k of the primary analysis is compared with a boundary c_k.
With information fractions t_1 < … < t_K (t = information now / information planned at the end),
Z_k = B(t_k)/√t_k for a Brownian motion B under H0, so the increments of B are independent normal
with variance t_k − t_{k−1} (Jennison C, Turnbull BW. Group Sequential Methods with Applications to
Clinical Trials. Chapman & Hall/CRC 2000, section 3.1).

The boundaries spend the type I error α along a spending function α(t) (Lan KKG, DeMets DL. Discrete
sequential boundaries for clinical trials. Biometrika 1983;70:659-663):

- O'Brien–Fleming type: a(t) = 2 − 2Φ(z_{1−a/2}/√t),
- Pocock type: a(t) = a·ln(1 + (e − 1)t),

for a one-sided level a; a two-sided test at level α spends a = α/2 in each tail (see :func:`spent`).

c_k is the value for which the probability of first crossing at look k, having stayed inside at every
earlier look, equals α(t_k) − α(t_{k−1}). The probability is computed exactly (to the accuracy of the
quadrature) by the recursive numerical integration of Armitage, McPherson and Rowe (J R Stat Soc A
1969;132:235-244): the sub-density of B(t_k) on the continuation region is carried from look to look
by convolution with the normal increment, integrated with composite Simpson rules on a fine grid.
This is the method of R ``ldbounds``/``gsDesign``; the tests check it against published boundary
values and against scipy's multivariate normal distribution.

Pure core: numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import optimize, stats

Spending = Literal["obrien_fleming", "pocock"]
SPENDING_LABELS = {
    "obrien_fleming": "Lan–DeMets O'Brien–Fleming type",
    "pocock": "Lan–DeMets Pocock type",
}
# Points of the Simpson grid per unit of standard deviation of B: the grid step is a small fraction
# of the increment's standard deviation, so the Gaussian kernel is resolved (error well below 1e-8
# in the crossing probabilities).
_POINTS_PER_SD = 60
_MIN_POINTS = 401


class GroupSequentialError(ValueError):
    """Input that cannot define boundaries; the message names the field and the rule."""


def spent(spending: Spending, alpha: float, t: float, sides: int = 2) -> float:
    """Cumulative type I error spent by information fraction ``t`` (0 ≤ t ≤ 1), over both tails.

    ``alpha`` is the total level of the test as it is run: two-sided α for ``sides=2``, one-sided α
    for ``sides=1``. A two-sided test spends α/2 in each tail with the one-sided function, as
    ld98/R ``ldbounds`` (Reboussin et al., Control Clin Trials 2000;21:190-207), R ``gsDesign``
    (``sfLDOF``, ``sfLDPocock``) and R ``rpact`` (``asOF``, ``asP``) do; the published tables of
    boundaries are computed so."""
    if sides not in (1, 2):
        raise GroupSequentialError(f"sides: {sides} must be 1 or 2")
    if t <= 0:
        return 0.0
    t = min(t, 1.0)
    tail = alpha / sides
    if spending == "obrien_fleming":
        # Lan & DeMets 1983: α*(t) = 2 − 2Φ(z_{1−a/2}/√t) for a one-sided level a; equals a at t = 1.
        return sides * float(2.0 * stats.norm.sf(stats.norm.isf(tail / 2.0) / math.sqrt(t)))
    if spending == "pocock":
        # Lan & DeMets 1983: α*(t) = a·ln(1 + (e − 1)t).
        return sides * float(tail * math.log(1.0 + (math.e - 1.0) * t))
    raise GroupSequentialError(f"spending: unknown spending function {spending!r}; use obrien_fleming or pocock")


def _simpson_weights(n: int, step: float) -> np.ndarray:
    """Composite Simpson weights for ``n`` (odd) equally spaced points."""
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * step / 3.0


def _grid(low: float, high: float, sd: float) -> tuple[np.ndarray, np.ndarray]:
    n = max(_MIN_POINTS, math.ceil((high - low) / sd * _POINTS_PER_SD) | 1)
    if n % 2 == 0:
        n += 1
    x = np.linspace(low, high, n)
    return x, _simpson_weights(n, (high - low) / (n - 1))


@dataclass
class _State:
    """The sub-density of B(t) on the continuation region of the last look (None before the first)."""

    t: float = 0.0
    x: np.ndarray | None = None
    w: np.ndarray | None = None
    f: np.ndarray | None = None

    def exit_probability(self, t: float, upper: float, lower: float, drift: float = 0.0) -> float:
        """P(stayed inside so far, and B(t) ≥ upper or B(t) ≤ lower) (B on the B-scale, with drift·t)."""
        sd = math.sqrt(t - self.t)
        mean_step = drift * (t - self.t)
        if self.x is None:
            return float(stats.norm.sf(upper, loc=mean_step, scale=sd) + stats.norm.cdf(lower, loc=mean_step, scale=sd))
        assert self.w is not None and self.f is not None  # set together with x
        m = self.x + mean_step
        tail = stats.norm.sf((upper - m) / sd) + stats.norm.cdf((lower - m) / sd)
        return float(np.sum(self.w * self.f * tail))

    def advance(self, t: float, upper: float, lower: float, drift: float = 0.0) -> _State:
        """The sub-density at ``t`` on (lower, upper)."""
        sd = math.sqrt(t - self.t)
        mean_step = drift * (t - self.t)
        x, w = _grid(lower, upper, sd)
        if self.x is None:
            f = stats.norm.pdf(x, loc=mean_step, scale=sd)
        else:
            assert self.w is not None and self.f is not None  # set together with x
            kernel = stats.norm.pdf((x[:, None] - self.x[None, :] - mean_step) / sd) / sd
            f = kernel @ (self.w * self.f)
        return _State(t, x, w, f)


def _lower_limit(t: float) -> float:
    # For a one-sided test the continuation region is (−∞, c); below −10 standard deviations the
    # density is under 1e-22 and is left out.
    return -10.0 * math.sqrt(t)


@dataclass(frozen=True)
class Look:
    """One analysis: its information fraction and boundary."""

    number: int
    information_fraction: float
    z: float  # reject H0 when |Z| ≥ z (two-sided) or Z ≥ z (one-sided)
    nominal_p: float  # the p-value that corresponds to z at this look alone
    alpha_spent: float  # cumulative, α(t)
    alpha_this_look: float  # α(t_k) − α(t_{k−1})

    def as_dict(self) -> dict[str, Any]:
        return {
            "look": self.number,
            "information_fraction": self.information_fraction,
            "z": self.z if math.isfinite(self.z) else None,  # None: nothing spent, no boundary
            "nominal_p": self.nominal_p,
            "alpha_spent": self.alpha_spent,
            "alpha_this_look": self.alpha_this_look,
        }


@dataclass(frozen=True)
class Boundaries:
    spending: Spending
    alpha: float
    sides: int
    looks: tuple[Look, ...]
    method: str = field(default="Armitage–McPherson–Rowe recursive numerical integration")

    @property
    def z(self) -> list[float]:
        return [look.z for look in self.looks]

    @property
    def information_fractions(self) -> list[float]:
        return [look.information_fraction for look in self.looks]

    def crossing_probabilities(self, drift: float = 0.0) -> list[float]:
        """Probability of stopping at each look with these boundaries, for a drift θ of B
        (0 under H0; E[Z_k] = θ√t_k)."""
        return _crossing(self.information_fractions, self.z, self.sides, drift)

    def as_dict(self) -> dict[str, Any]:
        return {
            "spending": self.spending,
            "spending_label": SPENDING_LABELS[self.spending],
            "alpha": self.alpha,
            "sides": self.sides,
            "method": self.method,
            "looks": [look.as_dict() for look in self.looks],
        }


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    values = [float(t) for t in fractions]
    if not values:
        raise GroupSequentialError("information_fractions: give at least one look")
    for i, t in enumerate(values):
        if not math.isfinite(t) or not 0.0 < t <= 1.0:
            raise GroupSequentialError(f"information_fractions[{i}]: {t} is not in (0, 1]")
        if i and t <= values[i - 1]:
            raise GroupSequentialError(
                f"information_fractions[{i}]: {t} does not increase (the previous look is {values[i - 1]})"
            )
    return values


def boundaries(
    information_fractions: Sequence[float],
    spending: Spending = "obrien_fleming",
    alpha: float = 0.05,
    sides: int = 2,
) -> Boundaries:
    """Boundaries at the given looks by alpha spending.

    ``information_fractions`` are the looks done or planned, increasing, in (0, 1]; the last need not
    be 1 (a trial stopped at t = 0.8 has spent α(0.8) only). ``alpha`` is two-sided for
    ``sides=2`` (symmetric boundaries ±c_k) and one-sided for ``sides=1`` (upper boundary only)."""
    fractions = _check_fractions(information_fractions)
    if spending not in SPENDING_LABELS:
        raise GroupSequentialError(f"spending: unknown spending function {spending!r}; use obrien_fleming or pocock")
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise GroupSequentialError(f"alpha: {alpha} is not in (0, 1)")
    if sides not in (1, 2):
        raise GroupSequentialError(f"sides: {sides} must be 1 or 2")
    state = _State()
    looks: list[Look] = []
    previous = 0.0
    for k, t in enumerate(fractions, start=1):
        cumulative = spent(spending, alpha, t, sides)
        target = cumulative - previous
        root_t = math.sqrt(t)

        def excess(c: float, t: float = t, root_t: float = root_t) -> float:
            lower = -c * root_t if sides == 2 else _lower_limit(t)
            return state.exit_probability(t, c * root_t, lower) - target

        c = math.inf if target <= 0 else optimize.brentq(excess, 0.0, 40.0, xtol=1e-12, rtol=1e-12)
        lower_b = -c * root_t if sides == 2 else _lower_limit(t)
        if math.isfinite(c):
            state = state.advance(t, c * root_t, lower_b)
        nominal = float(sides * stats.norm.sf(c)) if math.isfinite(c) else 0.0
        looks.append(Look(k, t, float(c), nominal, cumulative, target))
        previous = cumulative
    return Boundaries(spending, float(alpha), sides, tuple(looks))


def _crossing(fractions: Sequence[float], z: Sequence[float], sides: int, drift: float) -> list[float]:
    state = _State()
    out = []
    for t, c in zip(fractions, z):
        if not math.isfinite(c):
            out.append(0.0)  # no boundary at this look: as if it were not taken
            continue
        root_t = math.sqrt(t)
        lower = -c * root_t if sides == 2 else _lower_limit(t)
        out.append(state.exit_probability(t, c * root_t, lower, drift))
        state = state.advance(t, c * root_t, lower, drift)
    return out


@dataclass(frozen=True)
class Monitoring:
    """The boundaries with the observed statistic at each look done so far."""

    boundaries: Boundaries
    observed: tuple[float | None, ...]  # Z at each look done, None for a look not yet done
    crossed_at: int | None  # the first look whose |Z| reached its boundary

    def as_dict(self) -> dict[str, Any]:
        looks = []
        for look, z in zip(self.boundaries.looks, self.observed):
            row = look.as_dict()
            row["observed_z"] = z
            row["crossed"] = None if z is None else _crosses(z, look.z, self.boundaries.sides)
            looks.append(row)
        return {**self.boundaries.as_dict(), "looks": looks, "crossed_at": self.crossed_at}


def _crosses(z: float, c: float, sides: int) -> bool:
    return (abs(z) if sides == 2 else z) >= c


def monitor(boundaries: Boundaries, observed: Sequence[float | None]) -> Monitoring:
    """Compare the observed statistics (one per look done, in order) with the boundaries."""
    if len(observed) > len(boundaries.looks):
        raise GroupSequentialError(f"observed: {len(observed)} statistics for {len(boundaries.looks)} looks")
    values: list[float | None] = []
    crossed: int | None = None
    for i, z in enumerate(observed):
        if z is not None and not math.isfinite(float(z)):
            raise GroupSequentialError(f"observed[{i}]: {z} is not a finite number")
        values.append(None if z is None else float(z))
        if z is not None and crossed is None and _crosses(float(z), boundaries.looks[i].z, boundaries.sides):
            crossed = i + 1
    values += [None] * (len(boundaries.looks) - len(values))
    return Monitoring(boundaries, tuple(values), crossed)
