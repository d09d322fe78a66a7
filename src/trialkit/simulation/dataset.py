"""A simulated dataset of a protocol, in the data directory format the report reads.

Files (described in docs/analysis.md): participants.csv, outcomes.csv (long), adverse_events.csv,
screening.csv. Outcomes follow a simple recovery model driven by a latent NIHSS trajectory: NIHSS
improves towards a plateau over the first months (exponential recovery, time constant 90 days), more
so with treatment when ``treatment_effect`` > 0; mRS, Barthel, Fugl-Meyer and MMSE are derived from
it with noise and clipped to each scale's range. The model is for rehearsing reports and pipelines,
not for estimating effects.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from trialkit.instruments import OUTCOME_INSTRUMENTS
from trialkit.simulation.allocation import permuted_blocks

# Scale ranges: NIHSS 0–42 (Brott 1989), mRS 0–6 (van Swieten 1988), Barthel 0–100 in steps of 5
# (Mahoney & Barthel 1965), Fugl-Meyer UE 0–66 and LE 0–34 (Fugl-Meyer 1975), MMSE 0–30 (Folstein 1975).
AE_TERMS = (
    "Headache",
    "Fever",
    "Fatigue",
    "Dizziness",
    "Urinary tract infection",
    "Pneumonia",
    "Fall",
    "Constipation",
    "Insomnia",
    "Infusion site reaction",
    "Recurrent ischemic stroke",
)


def _inclusion_bounds(protocol, kind: str) -> tuple[float | None, float | None]:
    """The tightest [low, high] that the inclusion rules put on ``kind`` ("nihss_total" or "age").

    Walks the computable rules (trialkit.eligibility.rules) through ``all_of``; bounds under
    ``any_of`` or ``unless`` are alternatives, not requirements, and are not used.
    """
    low: float | None = None
    high: float | None = None

    def visit(rule) -> None:
        nonlocal low, high
        if rule is None:
            return
        bounds = getattr(rule, kind, None)
        if bounds is not None:
            lo = (
                bounds.min
                if bounds.min is not None
                else (bounds.greater_than + 1 if bounds.greater_than is not None else None)
            )
            hi = (
                bounds.max
                if bounds.max is not None
                else (bounds.less_than - 1 if bounds.less_than is not None else None)
            )
            if lo is not None:
                low = lo if low is None else max(low, lo)
            if hi is not None:
                high = hi if high is None else min(high, hi)
        for sub in rule.all_of or ():
            visit(sub)

    for criterion in protocol.eligibility.criteria:
        if criterion.type == "inclusion":
            visit(criterion.rule)
    return low, high


def nihss_range(protocol) -> tuple[int, int]:
    """The NIHSS total band required by the inclusion rules (default 6–20 when none is set)."""
    low, high = _inclusion_bounds(protocol, "nihss_total")
    return int(low if low is not None else 6), int(high if high is not None else 20)


def age_range(protocol) -> tuple[int, int]:
    """The age band of the inclusion rules, else the registry's limits (upper default 85)."""
    low, high = _inclusion_bounds(protocol, "age")
    low = low if low is not None else protocol.registry.minimum_age_years or 18
    high = high if high is not None else protocol.registry.maximum_age_years or 85
    return int(low), int(high)


def treatment_and_control(protocol) -> tuple[str, str]:
    experimental = [a.id for a in protocol.arms if a.type == "EXPERIMENTAL"]
    controls = [a.id for a in protocol.arms if a.type != "EXPERIMENTAL"]
    return experimental[0], controls[0]


def _derived_scores(nihss: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = len(nihss)
    return {
        "nihss": nihss,
        "mrs": np.clip(np.round(nihss / 4.0 + 0.3 + rng.normal(0, 0.7, n)), 0, 5).astype(int),
        "barthel": (np.clip(np.round((100 - 4.5 * nihss + rng.normal(0, 8, n)) / 5), 0, 20) * 5).astype(int),
        "fma_ue": np.clip(np.round(66 - 2.8 * nihss + rng.normal(0, 6, n)), 0, 66).astype(int),
        "fma_le": np.clip(np.round(34 - 1.3 * nihss + rng.normal(0, 3, n)), 0, 34).astype(int),
        "mmse": np.clip(np.round(29 - 0.3 * nihss + rng.normal(0, 2, n)), 0, 30).astype(int),
    }


def simulate_dataset(
    protocol,
    directory: str | Path,
    seed: int = 0,
    treatment_effect: float = 2.0,
    dropout: float = 0.1,
    screen_failure_rate: float = 0.3,
    start: date = date(2026, 1, 5),
    enrollment_days: int = 540,
) -> Path:
    """Write a simulated dataset for ``protocol`` into ``directory`` and return it.

    ``treatment_effect``: extra NIHSS points recovered with treatment at the plateau.
    """
    rng = np.random.default_rng(seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    n = protocol.registry.enrollment.count
    prefix = protocol.randomization.kit_prefix or "P"
    sites = [loc.id for loc in protocol.registry.locations] or ["site-01"]

    # Screening log: enough screened to enrol n, failures citing a criterion.
    n_failed = round(n * screen_failure_rate / (1 - screen_failure_rate))
    outcomes_screen = np.array(["enrolled"] * n + ["screen_failed"] * n_failed)
    rng.shuffle(outcomes_screen)
    criteria = [c.id for c in protocol.eligibility.criteria if c.id != "inc-consent"]
    screening = pd.DataFrame(
        {
            "screening_id": [f"S{i + 1:04d}" for i in range(len(outcomes_screen))],
            "outcome": outcomes_screen,
            "reason": [rng.choice(criteria) if o == "screen_failed" else "" for o in outcomes_screen],
        }
    )

    arms = permuted_blocks(protocol.randomization.ratio, protocol.randomization.block_sizes, n, rng)
    days = np.sort(rng.integers(0, enrollment_days, n))
    nihss_low, nihss_high = nihss_range(protocol)
    age_low, age_high = age_range(protocol)
    baseline_nihss = rng.integers(nihss_low, nihss_high + 1, n)
    age = rng.integers(age_low, age_high + 1, n)
    treatment, _control = treatment_and_control(protocol)
    treated = np.array([a == treatment for a in arms])

    schedule = sorted(protocol.schedule.visits, key=lambda v: v.day)
    last_day = max(v.day for v in schedule)
    drops = rng.random(n) < dropout
    drop_day = np.where(drops, rng.integers(1, max(last_day, 2), n), 10**6)
    status = np.where(drops, rng.choice(["withdrawn", "lost"], n), "completed")
    participants = pd.DataFrame(
        {
            "participant_id": [f"{prefix}-{i + 1:03d}" for i in range(n)],
            "site": rng.choice(sites, n),
            "arm": arms,
            "randomized_on": [start + timedelta(days=int(d)) for d in days],
            "baseline_nihss": baseline_nihss,
            "age": age,
            "sex": rng.choice(["F", "M"], n),
            "status": status,
        }
    )

    rows = []
    person_noise = rng.normal(0, 1.0, n)
    for visit in schedule:
        if visit.day < 0:
            continue
        wanted = [i for i in OUTCOME_INSTRUMENTS if i in visit.forms]
        if not wanted:
            continue
        present = drop_day > visit.day
        recovery = 1 - np.exp(-visit.day / 90.0)  # exponential recovery, time constant 90 days
        gain = recovery * (0.25 * baseline_nihss + treatment_effect * treated + person_noise)
        nihss = np.clip(np.round(baseline_nihss - gain + rng.normal(0, 0.8, n)), 0, 42).astype(int)
        if visit.day == 0:
            nihss = baseline_nihss
        scores = _derived_scores(nihss, rng)
        jitter = rng.integers(-visit.window_before, visit.window_after + 1, n) if visit.day > 0 else np.zeros(n, int)
        for instrument in wanted:
            for i in np.flatnonzero(present).tolist():
                rows.append(
                    (
                        participants.participant_id[i],
                        visit.id,
                        int(visit.day + jitter[i]),
                        instrument,
                        int(scores[instrument][i]),
                    )
                )
    outcomes = pd.DataFrame(rows, columns=["participant_id", "visit", "day", "instrument", "total"])

    events = []
    for i in range(n):
        for _ in range(rng.poisson(1.3)):
            grade = int(rng.choice([1, 2, 3, 4], p=[0.55, 0.3, 0.12, 0.03]))
            serious = grade >= 3 and rng.random() < 0.6
            events.append(
                (
                    participants.participant_id[i],
                    str(rng.choice(AE_TERMS)),
                    grade,
                    serious,
                    bool(rng.random() < 0.25),
                    int(rng.integers(0, min(drop_day[i], last_day))),
                )
            )
    adverse_events = pd.DataFrame(
        events, columns=["participant_id", "term", "grade", "serious", "related", "onset_day"]
    )

    participants.to_csv(directory / "participants.csv", index=False)
    outcomes.to_csv(directory / "outcomes.csv", index=False)
    adverse_events.to_csv(directory / "adverse_events.csv", index=False)
    screening.to_csv(directory / "screening.csv", index=False)
    return directory
