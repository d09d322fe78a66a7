"""Predictability of an allocation sequence: how often the best possible guesser is right.

The guesser knows every past assignment of the stratum (the worst case: concealment has failed for
the past, not for the next one) and the allocation scheme, and names the arm most likely to come
next; when several arms are equally likely the guess is split among them. The expected share of
correct guesses per participant is the predictability (Blackwell D, Hodges JL. Design for the control
of selection bias. Ann Math Stat 1957;28:449-460; Rosenberger WF, Lachin JM. Randomization in
Clinical Trials, 2nd ed., Wiley 2016, section 3.9).

- **Permuted blocks of a fixed size.** The guesser knows where each block starts, so the most likely
  arm is the one with the most slots left in the current block. For 1:1 this is Blackwell and
  Hodges' convergence strategy (the arm with fewer so far): 3/4, 17/24, 41/60, 373/560 for blocks of
  2, 4, 6, 8. For unequal ratios "fewer so far relative to the ratio" is *not* optimal: at 3:1 it is
  right 11/16 of the time with blocks of 4, less than the 3/4 of always naming the larger arm, while
  the optimal guesser gets 13/16 (blocks of 4) and 177/224 (blocks of 8).
- **Random block sizes.** The guesser does not see where blocks end; the next assignment's
  probability given the past is computed by filtering over the hidden block state (which size the
  current block has and how far into it the list is), with the generator's own rule for the sizes
  (drawn uniformly among the sizes, near the end of a list of known length among those that still
  fit: :func:`trialkit.randomization.permuted_blocks.permuted_block_sequence`). The rate reported is
  that of the guesser who knows each block's size once it has started and names the arm with the
  most slots left in it (the worst case, e.g. when sizes leak): exact over every possible list by
  dynamic programming over block states, in rational arithmetic. The guesser who sees only the past
  assignments does no better; for 1:1 exactly as well (the arm with fewer so far is then the arm with
  the most slots left whatever the block), for unequal ratios a little worse. Their rate is exact for
  short lists (``knows_block=False``) and estimated on generated lists for long ones.
- **Minimization.** The next participant's probabilities are known to a guesser who knows the past
  assignments and the participant's factor levels; the expected correct-guess rate is the mean of
  the largest probability, estimated by simulating trials.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from trialkit.randomization.permuted_blocks import block_pool

State = tuple[int, tuple[int, ...]] | None  # (block size, counts per arm so far in the block); None: between blocks
Belief = tuple[tuple[Any, Fraction], ...]


def _sizes(ratio: Mapping[str, int], block_sizes: Iterable[int]) -> list[int]:
    sizes = sorted(set(int(b) for b in block_sizes))
    if not sizes:
        raise ValueError("block_sizes: at least one block size is needed")
    for b in sizes:
        block_pool(ratio, b)  # raises when b is not a positive multiple of the ratio total
    return sizes


def _size_choices(sizes: list[int], position: int, n: int | None) -> list[int]:
    """The sizes the generator draws from (uniformly) for a block starting at ``position`` (0-based)."""
    if n is None:
        return sizes
    fitting = [b for b in sizes if b <= n - position]
    return fitting or sizes


class _Scheme:
    def __init__(self, ratio: Mapping[str, int], block_sizes: Iterable[int], n: int | None):
        self.arms = list(ratio)
        self.sizes = _sizes(ratio, block_sizes)
        total = sum(ratio.values())
        self.composition = {b: tuple(ratio[a] * b // total for a in self.arms) for b in self.sizes}
        self.n = n

    def emissions(self, state: State, position: int) -> list[tuple[int, State, int, Fraction]]:
        """(arm index, next state, size of the block the assignment belongs to, probability) from ``state``."""
        out = []
        if state is None:
            choices = _size_choices(self.sizes, position, self.n)
            for b in choices:
                for arm, p, nxt in self._within(b, (0,) * len(self.arms)):
                    out.append((arm, nxt, b, p / len(choices)))
        else:
            b, counts = state
            out = [(arm, nxt, b, p) for arm, p, nxt in self._within(b, counts)]
        return out

    def _within(self, b: int, counts: tuple[int, ...]) -> Iterator[tuple[int, Fraction, State]]:
        comp = self.composition[b]
        left = b - sum(counts)
        for i, c in enumerate(counts):
            slots = comp[i] - c
            if slots <= 0:
                continue
            nxt_counts = (*counts[:i], c + 1, *counts[i + 1 :])
            nxt: State = None if sum(nxt_counts) == b else (b, nxt_counts)
            yield i, Fraction(slots, left), nxt


def _normalized(weights: Mapping[Any, Fraction]) -> tuple[Belief, Fraction]:
    """The belief as a hashable key (states with their probabilities) and the total weight."""
    total = sum(weights.values(), Fraction(0))
    items = [(s, w / total) for s, w in weights.items() if w]
    return tuple(sorted(items, key=lambda item: repr(item[0]))), total


@dataclass(frozen=True)
class GuessRate:
    """The optimal guesser's expected correct-guess rate over a list of ``n`` assignments."""

    ratio: dict[str, int]
    block_sizes: list[int]
    n: int
    knows_block: bool
    rate: Fraction
    by_position: tuple[Fraction, ...]  # probability of a correct guess at each position

    @property
    def baseline(self) -> Fraction:
        """Always naming the largest arm: what any guesser gets without information."""
        return Fraction(max(self.ratio.values()), sum(self.ratio.values()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": "exact",
            "ratio": self.ratio,
            "block_sizes": self.block_sizes,
            "n": self.n,
            "knows_block": self.knows_block,
            "rate": float(self.rate),
            "rate_fraction": f"{self.rate.numerator}/{self.rate.denominator}",
            "baseline": float(self.baseline),
            "excess": float(self.rate - self.baseline),
        }


def block_guess_rate(
    ratio: Mapping[str, int], block_sizes: int | Iterable[int], n: int | None = None, *, knows_block: bool = True
) -> GuessRate:
    """Exact expected correct-guess rate per participant of the optimal guesser over a permuted-block
    list of ``n`` assignments (one block of a fixed size when ``n`` is None), in rational arithmetic.

    ``knows_block=True`` (the default) is the guesser who knows where the current block started and
    how large it is, and names the arm with the most slots left in it; the programme then runs over
    block states and is fast for any length. ``knows_block=False`` is the guesser who sees only the
    past assignments: with random sizes the belief over block states depends on the whole past and
    the number of distinct beliefs grows quickly with ``n`` (seconds at n = 36 for sizes 2, 4, 6);
    for long lists estimate it with :func:`sequence_guess_score` over generated lists. For 1:1 both
    guessers are the same (the arm with fewer so far), so the rates agree."""
    sizes_in = [block_sizes] if isinstance(block_sizes, int) else list(block_sizes)
    sizes = _sizes(ratio, sizes_in)
    if n is None:
        if len(sizes) > 1:
            raise ValueError("n: the list length is needed when block sizes are random")
        n = sizes[0]
    if n <= 0:
        raise ValueError(f"n: the list length must be positive, got {n}")
    scheme = _Scheme(ratio, sizes, n)
    layer: dict[Belief, Fraction] = {((None, Fraction(1)),): Fraction(1)}
    by_position: list[Fraction] = []
    for position in range(n):
        correct = Fraction(0)
        nxt_layer: dict[Belief, Fraction] = defaultdict(Fraction)
        for belief, mass in layer.items():
            # Joint weights of (observation, next state) given this belief.
            predictive: dict[int, Fraction] = defaultdict(Fraction)
            successors: dict[Any, dict[State, Fraction]] = defaultdict(lambda: defaultdict(Fraction))
            for state, p_state in belief:
                for arm, nxt, b, p in scheme.emissions(state, position):
                    weight = p_state * p
                    predictive[arm] += weight
                    # A guesser who knows the block also observes its size with the assignment.
                    key = (arm, b) if knows_block else arm
                    successors[key][nxt] += weight
            correct += mass * max(predictive.values())
            for weights in successors.values():
                new_belief, total = _normalized(weights)
                nxt_layer[new_belief] += mass * total
        by_position.append(correct)
        layer = dict(nxt_layer)
    rate = sum(by_position, Fraction(0)) / n
    return GuessRate(dict(ratio), sizes, n, knows_block, rate, tuple(by_position))


def sequence_guess_score(
    arms: Sequence[str], ratio: Mapping[str, int], block_sizes: Iterable[int], n: int | None = None
) -> Fraction:
    """Correct guesses the optimal guesser (not knowing block boundaries) expects on one realized
    list: at each position, 1/k if the arm that came is among the k most probable arms, else 0."""
    scheme = _Scheme(ratio, block_sizes, n if n is not None else None)
    index = {arm: i for i, arm in enumerate(scheme.arms)}
    belief: dict[State, Fraction] = {None: Fraction(1)}
    score = Fraction(0)
    for position, arm in enumerate(arms):
        predictive: dict[int, Fraction] = defaultdict(Fraction)
        following: dict[State, Fraction] = defaultdict(Fraction)
        for state, p_state in belief.items():
            for a, nxt, _b, p in scheme.emissions(state, position):
                predictive[a] += p_state * p
                if a == index[arm]:
                    following[nxt] += p_state * p
        best = max(predictive.values())
        tied = [a for a, p in predictive.items() if p == best]
        if index[arm] in tied:
            score += Fraction(1, len(tied))
        total = sum(following.values(), Fraction(0))
        if total == 0:
            raise ValueError(f"arms: the assignment at position {position + 1} is impossible under this scheme")
        belief = {s: w / total for s, w in following.items()}
    return score


@dataclass(frozen=True)
class SimulatedGuessRate:
    ratio: dict[str, int]
    n: int
    trials: int
    rate: float
    standard_error: float

    @property
    def baseline(self) -> float:
        return max(self.ratio.values()) / sum(self.ratio.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": "simulation",
            "ratio": self.ratio,
            "n": self.n,
            "trials": self.trials,
            "rate": self.rate,
            "standard_error": self.standard_error,
            "baseline": self.baseline,
            "excess": self.rate - self.baseline,
        }


def minimization_guess_rate(
    protocol_or_spec: Any, seed: int | str, n: int, trials: int = 200, sites: list[str] | None = None
) -> SimulatedGuessRate:
    """Expected correct-guess rate under minimization, by simulating ``trials`` trials of ``n``
    participants with factor levels drawn uniformly (as :func:`simulate_minimization`). The guesser
    knows the past assignments and the next participant's levels, hence the assignment probabilities,
    and names the most probable arm: the expected score of each guess is the largest probability."""
    import statistics

    from trialkit.randomization.minimization import Minimizer
    from trialkit.randomization.strata import StratumError
    from trialkit.randomization.stream import SeededStream

    if n <= 0 or trials <= 0:
        raise ValueError(f"n and trials must be positive, got n={n}, trials={trials}")
    per_trial = []
    for trial in range(trials):
        minimizer = Minimizer(protocol_or_spec, f"{seed}:{trial}")
        choices: dict[str, list[str]] = {}
        for factor in minimizer.spec.stratify_by:
            if factor.levels:
                choices[factor.id] = [lvl.id for lvl in factor.levels]
            elif factor.source == "site":
                registry = getattr(protocol_or_spec, "registry", None)
                known = [loc.id for loc in registry.locations] if registry is not None else []
                choices[factor.id] = list(sites or known) or ["site-1"]
            else:
                raise StratumError(f"factor {factor.id!r} lists no levels, so its levels cannot be simulated")
        stream = SeededStream(f"{seed}:{trial}", "minimization-guess|levels")
        state = minimizer.empty_state()
        expected = 0.0
        for _ in range(n):
            levels = {f: stream.choice(options) for f, options in choices.items()}
            result = minimizer.assign(state, levels)
            expected += max(result.probabilities.values())
            state = result.state
        per_trial.append(expected / n)
    rate = statistics.fmean(per_trial)
    se = statistics.stdev(per_trial) / len(per_trial) ** 0.5 if len(per_trial) > 1 else 0.0
    return SimulatedGuessRate(dict(minimizer.ratio), n, trials, rate, se)


# Beyond this list length the past-only guesser's exact programme is slow for unequal ratios with
# random sizes (its beliefs multiply); their rate is then estimated on generated lists.
_EXACT_PAST_ONLY_MAX_N = 24


def list_predictability(
    ratio: Mapping[str, int], block_sizes: Iterable[int], n: int, seed: int | str = 1, lists: int = 400
) -> dict[str, Any]:
    """What ``trialkit allocation check`` reports for a permuted-block list of ``n`` per stratum:
    the exact rate of the guesser who knows the blocks, the rate of the guesser who sees only the
    past (exact when the ratio is equal or the list short, else the mean over ``lists`` lists drawn
    by the generator), and the baseline of always naming the largest arm."""
    from trialkit.randomization.permuted_blocks import permuted_block_sequence
    from trialkit.randomization.stream import SeededStream

    sizes = _sizes(ratio, block_sizes)
    knows = block_guess_rate(ratio, sizes, n)
    out: dict[str, Any] = {
        "n": n,
        "block_sizes": sizes,
        "baseline": float(knows.baseline),
        "knows_block": knows.as_dict(),
    }
    if len(sizes) == 1 or len(set(ratio.values())) == 1:
        # One size: the block ends are known anyway. Equal ratio: the arm with fewer so far is the
        # arm with the most slots left in any block, so seeing the ends does not help.
        out["past_only"] = {**knows.as_dict(), "knows_block": False}
    elif n <= _EXACT_PAST_ONLY_MAX_N:
        out["past_only"] = block_guess_rate(ratio, sizes, n, knows_block=False).as_dict()
    else:
        scores = []
        for k in range(lists):
            arms = [a for a, _, _ in permuted_block_sequence(ratio, sizes, n, SeededStream(seed, f"guess|{k}"))][:n]
            scores.append(float(sequence_guess_score(arms, ratio, sizes, n)) / n)
        mean = sum(scores) / len(scores)
        se = (sum((s - mean) ** 2 for s in scores) / (len(scores) - 1) / len(scores)) ** 0.5
        out["past_only"] = {
            "method": "simulation",
            "lists": lists,
            "rate": mean,
            "standard_error": se,
            "baseline": float(knows.baseline),
            "excess": mean - float(knows.baseline),
        }
    return out
