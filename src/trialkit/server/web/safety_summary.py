"""The DSMB statistician's unblinded safety summary by arm, counted by the database.

The numbers are those of ``trialkit.analysis.safety`` over the one extract (``exports.extract`` then
``analysis.trial_data.analysis_tables``, the tables of the unblinded report and export), which
``unblinded_safety_from_extract`` still computes and ``tests/web/test_web_safety_summary.py``
compares with this one. The home does not read every form of the trial for it: one grouped query
counts the randomized participants per arm, one the adverse events per arm, one the participants per
event term and arm. The same rules as the extract:

- randomized participants only (a randomization time); the arm of each is its allocated slot's;
- adverse events neither deleted nor drafts; term "(no term yet)" when none is entered;
- grade: ``ctcae_grade`` when it is a JSON number from 1 to 5 (cut to its whole part), so a grade
  of 3 or more is a number in [3, 5] and a death a 5;
- related: ``relatedness`` possible, probable or definite.

Callers check ``can_see_allocation`` first; both functions check it again.
"""

from __future__ import annotations

from django.db.models import Count, F, FloatField, Func, OuterRef, Q, Subquery, TextField, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, NullIf

from trialkit.analysis.safety import SEVERE_GRADE, SafetyRow, events_by_term, safety_summary
from trialkit.analysis.trial_data import RELATED, analysis_tables, trial_data
from trialkit.server.allocation.services import AllocationDenied, arms_by_participant
from trialkit.server.exports.extract import select

NO_TERM = "(no term yet)"  # as the extract names an event without a term
DEATH_GRADE = 5


class JsonNumber(Func):
    """The value at ``key`` of a JSON column when it is a JSON number; NULL for a string, a boolean,
    null or a missing key (PostgreSQL and SQLite, the two databases TrialKit runs on)."""

    output_field = FloatField()

    def __init__(self, column: str, key: str) -> None:
        super().__init__(F(column))
        self.key = key

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        if connection.vendor == "postgresql":
            sql = f"(CASE WHEN jsonb_typeof({column} -> %s) = 'number' THEN ({column} ->> %s)::double precision END)"
            return sql, [*params, self.key, *params, self.key]
        if connection.vendor == "sqlite":
            path = f"$.{self.key}"
            sql = f"(CASE WHEN json_type({column}, %s) IN ('integer', 'real') THEN json_extract({column}, %s) END)"
            return sql, [*params, path, *params, path]
        raise NotImplementedError(f"JsonNumber on {connection.vendor}")


def _arm_of_participant(trial, participant_ref: str):
    from trialkit.server.allocation.models import AllocationSlot

    slots = AllocationSlot.objects.filter(trial=trial, participant_id=OuterRef(participant_ref))
    return Subquery(slots.values("arm_id")[:1])


def unblinded_safety(trial, user) -> dict:
    """The safety table by arm and the participants per event term and arm, from grouped queries."""
    from trialkit.server.accounts.access import access_for
    from trialkit.server.allocation.models import AllocationSlot
    from trialkit.server.capture.models import AdverseEvent, FormRecord

    if not access_for(user, trial).can_see_allocation:
        raise AllocationDenied("your role does not allow seeing allocation")
    labels = {arm.id: arm.label for arm in trial.protocol.arms}
    # A participant holds one slot at most (one-to-one): the randomized are counted from their slots,
    # one grouped join, rather than looking up each participant's arm.
    per_arm = (
        AllocationSlot.objects.filter(trial=trial, participant__trial=trial, participant__randomized_at__isnull=False)
        .exclude(arm_id="")
        .order_by()
        .values("arm_id")
        .annotate(n=Count("participant", distinct=True))
    )
    participants = {row["arm_id"]: row["n"] for row in per_arm}
    events = (
        AdverseEvent.objects.filter(
            participant__trial=trial, participant__randomized_at__isnull=False, deleted_at__isnull=True
        )
        .exclude(status=FormRecord.Status.DRAFT)
        .annotate(
            arm=_arm_of_participant(trial, "participant_id"),
            grade=JsonNumber("data", "ctcae_grade"),
            term_shown=Coalesce(NullIf(KT("data__term"), Value("")), Value(NO_TERM), output_field=TextField()),
        )
        .exclude(arm__isnull=True)
        .exclude(arm="")
        .order_by()
    )
    serious = Q(serious=True)
    severe = Q(grade__gte=SEVERE_GRADE, grade__lte=DEATH_GRADE)
    related = Q(**{"data__relatedness__in": sorted(RELATED)})
    per_arm_events = events.values("arm").annotate(
        with_any_ae=Count("participant", distinct=True),
        ae_events=Count("id"),
        with_serious_ae=Count("participant", distinct=True, filter=serious),
        serious_events=Count("id", filter=serious),
        with_grade3_or_more=Count("participant", distinct=True, filter=severe),
        with_related_ae=Count("participant", distinct=True, filter=related),
        deaths=Count("participant", distinct=True, filter=Q(grade=DEATH_GRADE)),
    )
    counted = {row.pop("arm"): row for row in per_arm_events}
    empty = dict.fromkeys(
        (
            "with_any_ae",
            "ae_events",
            "with_serious_ae",
            "serious_events",
            "with_grade3_or_more",
            "with_related_ae",
            "deaths",
        ),
        0,
    )
    rows = [
        SafetyRow(group=labels.get(arm, arm), participants=participants[arm], **counted.get(arm, empty))
        for arm in sorted(participants)
    ]
    by_term: dict[str, dict[str, int]] = {}
    for row in events.values("term_shown", "arm").annotate(n=Count("participant", distinct=True)):
        by_term.setdefault(row["term_shown"], {})[row["arm"]] = row["n"]
    arms = sorted({arm for counts in by_term.values() for arm in counts})
    terms = sorted(by_term.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return {
        "rows": rows,
        "terms": [(term, [counts.get(arm, 0) for arm in arms]) for term, counts in terms],
        "term_columns": [labels.get(arm, arm) for arm in arms],
        "allocated": sum(participants.values()),
    }


def unblinded_safety_from_extract(trial, user) -> dict:
    """The same summary computed by ``trialkit.analysis.safety`` on the whole extract (every form of
    the trial read): the reference the database version is checked against."""
    records = select(trial, arms=arms_by_participant(trial, user))
    data = trial_data(analysis_tables(records, trial.protocol, unblinded=True))
    participants, events = data.participants, data.adverse_events
    participants["arm"] = participants["arm"].replace("", None)
    labels = {arm.id: arm.label for arm in trial.protocol.arms}
    rows = safety_summary(participants, events, by_arm=True, arm_labels=labels)
    terms = events_by_term(participants, events, by_arm=True, arm_labels=labels) if len(events) else None
    return {
        "rows": rows,
        "terms": [] if terms is None else [(term, values) for term, values in zip(terms.index, terms.values.tolist())],
        "term_columns": [] if terms is None else list(terms.columns),
        "allocated": int(participants["arm"].notna().sum()),
    }
