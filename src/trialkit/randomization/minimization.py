"""Pocock–Simon minimization with a random element.

For a new participant with factor levels x, and for each arm j in turn, suppose the participant
were given j: for every factor i, take the numbers of earlier participants sharing the
participant's level of i in each arm (plus this one in j), divide them by the arms' ratio
weights, and measure their spread by the range, the standard deviation or the variance. The
arm's total imbalance is the factor-weighted sum of those spreads. The arm(s) of least total
imbalance share probability p; the others share 1 − p. (Pocock SJ, Simon R. Biometrics
1975;31:103–115; computed as R ``Minirand`` by Jin, Polis and Hartzel, Commun Stat Simul Comput
2019, whose SD and variance are the sample (n − 1) ones.)

One departure from ``Minirand``: when every arm ties (always so for the first participant), the
arm is drawn in proportion to the allocation ratio for every participant, not only the first,
which keeps an unequal ratio honoured. For 1:1 both rules are the same.

The state is a plain JSON-serializable dict, so the application can keep it in one database row
and lock that row for each assignment. The random number of assignment k comes from the seed and
k alone, so replaying the recorded factors from the empty state reproduces every assignment.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from trialkit.protocol.schema import Protocol, Randomization
from trialkit.randomization.strata import StratumError, randomization_spec
from trialkit.randomization.stream import SeededStream

STATE_VERSION = 1


@dataclass(frozen=True)
class MinimizationResult:
    arm_id: str
    state: dict[str, Any]  # the new state; the input state is left unchanged
    imbalance: dict[str, float]  # arm -> total imbalance if assigned there
    probabilities: dict[str, float]  # arm -> probability it had
    draw: float  # the uniform number that chose the arm
    assignment_no: int  # 1-based


class Minimizer:
    """Assign arms by minimization for one trial (or one independent list), reproducibly from a seed."""

    def __init__(self, protocol_or_spec: Protocol | Randomization, seed: int | str):
        spec = randomization_spec(protocol_or_spec)
        if spec.minimization is None:
            raise ValueError("the randomization has no 'minimization' section")
        self.spec = spec
        self.seed = seed
        self.ratio = dict(spec.ratio)
        self.arms = list(spec.ratio)
        self.probability = spec.minimization.probability
        self.imbalance_measure = spec.minimization.imbalance
        self.factors = [f.id for f in spec.stratify_by]
        unknown = set(spec.minimization.weights) - set(self.factors)
        if unknown:
            raise ValueError(f"minimization weights name unknown factors: {', '.join(sorted(unknown))}")
        self.weights = {f: spec.minimization.weights.get(f, 1.0) for f in self.factors}
        if not self.factors:
            raise ValueError("minimization needs at least one factor in stratify_by")

    def empty_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "assigned": 0,
            "counts": {factor: {} for factor in self.factors},
        }

    def _spread(self, values: list[float]) -> float:
        if self.imbalance_measure == "range":
            return max(values) - min(values)
        if self.imbalance_measure == "sd":
            return statistics.stdev(values)
        return statistics.variance(values)

    def imbalance_scores(self, state: Mapping[str, Any], levels: Mapping[str, str]) -> dict[str, float]:
        """Total weighted imbalance for each arm, were the participant assigned to it."""
        self._check_levels(levels)
        scores = {}
        for candidate in self.arms:
            total = 0.0
            for factor in self.factors:
                at_level = state["counts"][factor].get(levels[factor], {})
                adjusted = [
                    (at_level.get(arm, 0) + (1 if arm == candidate else 0)) / self.ratio[arm] for arm in self.arms
                ]
                total += self.weights[factor] * self._spread(adjusted)
            scores[candidate] = total
        return scores

    def probabilities(self, scores: Mapping[str, float]) -> dict[str, float]:
        low = min(scores.values())
        # Tolerance: sums of float ratios of equal spreads can differ in the last bit.
        best = [arm for arm in self.arms if scores[arm] - low <= 1e-9]
        if len(best) == len(self.arms):
            total = sum(self.ratio.values())
            return {arm: self.ratio[arm] / total for arm in self.arms}
        others = [arm for arm in self.arms if arm not in best]
        probs = {arm: self.probability / len(best) for arm in best}
        probs.update({arm: (1 - self.probability) / len(others) for arm in others})
        return probs

    def draw_for(self, assignment_no: int) -> float:
        """The uniform number used by assignment ``assignment_no`` (1-based)."""
        return SeededStream(self.seed, f"minimization|{assignment_no}").uniform()

    def assign(
        self, state: Mapping[str, Any], levels: Mapping[str, str], draw: float | None = None
    ) -> MinimizationResult:
        """Assign the next participant, given their level of every factor (see
        :func:`trialkit.randomization.strata.stratum_levels`). ``draw`` overrides the seeded
        uniform number, for tests."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"minimization state version {state.get('version')!r} is not {STATE_VERSION}")
        if str(state.get("seed")) != str(self.seed):
            raise ValueError("the minimization state was made with a different seed")
        scores = self.imbalance_scores(state, levels)
        probs = self.probabilities(scores)
        assignment_no = state["assigned"] + 1
        u = self.draw_for(assignment_no) if draw is None else draw
        if not 0.0 <= u < 1.0:
            raise ValueError(f"draw must be in [0, 1), got {u}")
        cumulative = 0.0
        chosen = self.arms[-1]  # guards against float round-off leaving u above the last sum
        for arm in self.arms:
            cumulative += probs[arm]
            if u < cumulative:
                chosen = arm
                break
        new_state = copy.deepcopy(dict(state))
        new_state["assigned"] = assignment_no
        for factor in self.factors:
            at_level = new_state["counts"][factor].setdefault(levels[factor], {})
            at_level[chosen] = at_level.get(chosen, 0) + 1
        return MinimizationResult(chosen, new_state, scores, probs, u, assignment_no)

    def replay(self, levels_in_order: Sequence[Mapping[str, str]]) -> tuple[list[str], dict[str, Any]]:
        """Assign a whole sequence from the empty state: arms in order and the final state."""
        state = self.empty_state()
        arms = []
        for levels in levels_in_order:
            result = self.assign(state, levels)
            arms.append(result.arm_id)
            state = result.state
        return arms, state

    def _check_levels(self, levels: Mapping[str, str]) -> None:
        for factor in self.spec.stratify_by:
            if factor.id not in levels:
                raise StratumError(f"minimization factor {factor.id!r} has no level for this participant")
            known = [lvl.id for lvl in factor.levels]
            if known and levels[factor.id] not in known:
                raise StratumError(
                    f"minimization factor {factor.id!r}: level {levels[factor.id]!r} is not one of {', '.join(known)}"
                )


def marginal_imbalance(state: Mapping[str, Any], ratio: Mapping[str, int]) -> float:
    """Sum over factors and levels of the range of ratio-adjusted arm counts: how far the
    allocation is from balance on every margin (0 = perfect)."""
    total = 0.0
    for per_level in state["counts"].values():
        for at_level in per_level.values():
            adjusted = [at_level.get(arm, 0) / w for arm, w in ratio.items()]
            total += max(adjusted) - min(adjusted)
    return total


def minimization_kit_codes(
    protocol_or_spec: Protocol | Randomization, seed: int | str, count: int, planned: int | None = None
) -> list[str]:
    """The first ``count`` kit codes of a minimization trial, the concealed kit list drawn in
    advance from the seed: code k belongs to assignment k whatever arm it receives, so a kit
    number tells nothing about the arm. Codes are distinct, random (prefix + digits, at least
    100 codes per planned participant, as for permuted-block lists) and reproducible from the
    seed alone. ``planned``: the number of participants the width is sized for (default: the
    protocol's planned enrollment)."""
    from trialkit.randomization.permuted_blocks import kit_digits

    spec = randomization_spec(protocol_or_spec)
    if planned is None:
        if not isinstance(protocol_or_spec, Protocol):
            raise ValueError("planned (participants) is needed when no protocol gives the enrollment")
        planned = protocol_or_spec.registry.enrollment.count
    digits = kit_digits(planned)
    if count > 10**digits:
        raise ValueError(f"{count} kits do not fit in {digits}-digit codes")
    stream = SeededStream(seed, "kits|minimization")
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < count:
        code = f"{spec.kit_prefix}-{stream.below(10**digits):0{digits}d}"
        if code not in seen:
            seen.add(code)
            codes.append(code)
    return codes


@dataclass(frozen=True)
class MinimizationCheck:
    """A simulated run of a minimization trial: counts per arm overall and per factor level."""

    protocol_id: str | None
    seed: int | str
    n: int
    ratio: dict[str, int]
    overall_counts: dict[str, int]
    counts: dict[str, dict[str, dict[str, int]]]  # factor -> level -> arm -> participants
    max_level_imbalance: dict[str, float]  # factor -> worst range of ratio-adjusted counts at one level
    marginal_imbalance: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "protocol_id": self.protocol_id,
            "seed": self.seed,
            "method": "minimization",
            "n": self.n,
            "ratio": self.ratio,
            "overall_counts": self.overall_counts,
            "counts": self.counts,
            "max_level_imbalance": self.max_level_imbalance,
            "marginal_imbalance": self.marginal_imbalance,
        }


def simulate_minimization(
    protocol: Protocol, seed: int | str, n: int, sites: list[str] | None = None
) -> MinimizationCheck:
    """Assign ``n`` simulated participants whose level of every factor is drawn uniformly (sites
    from ``sites``, else the registry locations), from the seed, and report the balance reached."""
    if n <= 0:
        raise ValueError(f"n must be a positive number of participants, got {n}")
    minimizer = Minimizer(protocol, seed)
    choices: dict[str, list[str]] = {}
    for factor in minimizer.spec.stratify_by:
        if factor.levels:
            choices[factor.id] = [lvl.id for lvl in factor.levels]
        elif factor.source == "site":
            choices[factor.id] = list(sites or [loc.id for loc in protocol.registry.locations]) or ["site-1"]
        else:
            raise StratumError(f"factor {factor.id!r} lists no levels, so its levels cannot be simulated")
    stream = SeededStream(seed, "minimization-check|levels")
    sequence = [{f: stream.choice(levels) for f, levels in choices.items()} for _ in range(n)]
    arms, state = minimizer.replay(sequence)
    ratio = dict(minimizer.ratio)
    counts = {
        f: {lvl: {arm: state["counts"][f].get(lvl, {}).get(arm, 0) for arm in ratio} for lvl in levels}
        for f, levels in choices.items()
    }
    worst = {
        f: max((max(c[a] / ratio[a] for a in ratio) - min(c[a] / ratio[a] for a in ratio)) for c in per_level.values())
        for f, per_level in counts.items()
    }
    return MinimizationCheck(
        protocol.id,
        seed,
        n,
        ratio,
        {arm: arms.count(arm) for arm in ratio},
        counts,
        worst,
        marginal_imbalance(state, ratio),
    )
