"""Demo clinical data: schedules at every stage, completed scales, queries, a signed visit, a verified
and a locked form, adverse events with one SAE on a running clock, an IxCell diary with a code, and
ended participations (a completion, a withdrawal, a loss to follow-up)."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from trialkit.instruments import OUTCOME_INSTRUMENTS, ItemType
from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role
from trialkit.server.audit.service import record_event
from trialkit.server.capture import services
from trialkit.server.capture.form_names import instrument_for, instrument_name
from trialkit.server.capture.models import FormRecord, Visit
from trialkit.server.capture.screening_forms import confirm_carried_forms
from trialkit.server.demo import DAY0_AGES
from trialkit.server.participants import consent as consent_rules
from trialkit.server.participants.models import Participant
from trialkit.server.screening import services as screening_services

# Days since day 0 for the demo participants of each trial (see trialkit.server.demo.DAY0_AGES):
# the allocation demo gives their doses on those days. Visits whose window is still open are left
# for the site to enter.
ANCHOR_AGES = DAY0_AGES
DEMO_PASSWORD_HINT = "trialkit-demo"


def _at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, 0)))


def _staff(trial, site, role, users):
    membership = (
        Membership.objects.filter(trial=trial, role=role, site=site).select_related("user").first()
        or Membership.objects.filter(trial=trial, role=role, site__isnull=True).select_related("user").first()
    )
    return membership.user if membership else None


def _scale_values(name: str, severity: float, rng: random.Random) -> dict | None:
    """Plausible item values for a scale at a severity between 0 (best) and 1 (worst), valid by the instrument."""
    instrument = instrument_for(name)
    for _attempt in range(40):
        values = {}
        for item in instrument.items:
            if item.part_of is not None or (not item.required and not item.scored):
                continue
            if item.type is ItemType.integer:
                allowed = [c.code for c in item.choices] or list(range(int(item.minimum), int(item.maximum) + 1))
                best_first = sorted(allowed, reverse=instrument.better == "higher")
                jitter = rng.uniform(-0.25, 0.25)
                index = round(max(0.0, min(1.0, severity + jitter)) * (len(best_first) - 1))
                values[item.key] = best_first[index]
        if not instrument.validate(values):
            return values
    return None


def _vitals(rng: random.Random, weight: float) -> dict:
    return {
        "systolic_bp": rng.randint(118, 152),
        "diastolic_bp": rng.randint(70, 92),
        "heart_rate": rng.randint(60, 88),
        "weight_kg": round(weight + rng.uniform(-1.5, 1.5), 1),
    }


def _enroll_stand_ins(trial, users, today: date) -> None:
    """Participants for a database where no screening demo has run, so the capture pages have content."""
    from trialkit.server.participants.models import ScreeningRecord

    sites = list(trial.sites.order_by("code")[:2])
    for n in range(len(ANCHOR_AGES)):
        site = sites[0] if n < len(ANCHOR_AGES) - 1 else sites[-1]
        enrolled = today - timedelta(days=ANCHOR_AGES[n] + 10)
        record = ScreeningRecord.objects.create(
            trial=trial,
            site=site,
            screening_number=f"{trial.protocol.randomization.kit_prefix}-S{n + 1:03d}",
            screening_date=enrolled,
            outcome=ScreeningRecord.Outcome.ENROLLED,
            verdict=ScreeningRecord.Verdict.ELIGIBLE,
            facts={"weight_kg": 60 + 4 * n},
            created_by=users["coordinator"],
        )
        Participant.objects.create(
            trial=trial,
            site=site,
            screening=record,
            participant_number=f"{site.code.upper()}-{n + 1:03d}",
            status="treated",
            enrolled_at=_at(enrolled),
            randomization_number=f"R{n + 1:03d}",
            kit_number=f"{trial.protocol.randomization.kit_prefix}-{1000 + n}",
        )


def _anchored(trial, users, today: date) -> list[Participant]:
    if not Participant.objects.filter(trial=trial).exists():
        _enroll_stand_ins(trial, users, today)
    # Oldest day 0 first, so the n-th participant is the one whose day 0 is ANCHOR_AGES[n] back.
    people = list(
        Participant.objects.filter(trial=trial, anchor_date__isnull=False).order_by("anchor_date", "participant_number")
    )
    if len(people) < len(ANCHOR_AGES):
        # Without the allocation demo's infusions, enrolled participants get day 0 here.
        extra = Participant.objects.filter(trial=trial, anchor_date__isnull=True).order_by("participant_number")
        people += list(extra[: len(ANCHOR_AGES) - len(people)])
    return people[: len(ANCHOR_AGES)]


def populate(trials, users, today: date) -> dict[str, int]:
    # The allocation demo has entered the dosing visits' vital signs, and the screening visits carry
    # the screening facts; anything more means this ran.
    if FormRecord.objects.exclude(instrument="vital_signs").exclude(visit__kind="screening").exists():
        return {}
    rng = random.Random(20260601)
    counts = {"participants": 0, "forms": 0, "adverse_events": 0, "diary_entries": 0, "ended": 0}
    diary_codes = []
    for trial_index, trial in enumerate(trials):
        for n, participant in enumerate(_anchored(trial, users, today)):
            if participant.anchor_date is None:
                # Only without the allocation demo (no dose given): day 0 is set here, and says so.
                participant.anchor_date = today - timedelta(days=ANCHOR_AGES[n])
                participant.save(update_fields=["anchor_date"])
                record_event(
                    actor=None,
                    action="demo_anchor",
                    object_type="participant",
                    object_id=participant.pk,
                    before={"anchor_date": None},
                    after={"anchor_date": participant.anchor_date},
                    reason="demo data without doses: day 0 set so visits show every status",
                    trial_id=trial.id,
                    site_id=participant.site_id,
                    participant_id=participant.pk,
                )
            counts["participants"] += 1
            coordinator = _staff(trial, participant.site, Role.COORDINATOR, users)
            if coordinator is None:
                services.ensure_schedule(participant)
                continue
            visits = services.ensure_schedule(participant, coordinator)
            counts["forms"] += _fill_visits(participant, visits, coordinator, today, rng, skip_missed=n == 1)
            counts["adverse_events"] += _adverse_events(participant, coordinator, today, n, rng)
            if trial.protocol.diary is not None and n in (2, 3):
                counts["diary_entries"] += _diary(participant, coordinator, today, rng, diary_codes)
            counts["ended"] += _end(participant, coordinator, today, n, trial_index)
        _review(trial, users, today)
    for number, code in diary_codes:
        print(f"diary code for {number}: {services.format_code(code)}  (open /diary/{code}/)")
    return counts


def _fill_visits(participant, visits: list[Visit], coordinator, today: date, rng, skip_missed: bool) -> int:
    recorded = services.dosing_visit_weight(participant)
    weight = (
        recorded.weight_kg if recorded else float(participant.screening.facts.get("weight_kg") or rng.uniform(58, 88))
    )
    entered = set(FormRecord.objects.filter(participant=participant).values_list("visit__visit_id", "instrument"))
    saved = 0
    closed_visits = [v for v in visits if v.latest < today]
    for visit in closed_visits:
        if skip_missed and visit.visit_id == "month3":
            continue  # one missed visit in the demo
        # Recovery: severity falls from about 0.45 at baseline towards 0.2 by month 12.
        severity = max(0.1, 0.45 - 0.03 * max(0, visit.day) ** 0.5 + rng.uniform(-0.05, 0.05))
        early, late = (visit.target - visit.earliest).days, (visit.latest - visit.target).days
        done_on = min(today, visit.target + timedelta(days=rng.randint(-min(2, early), min(2, late))))
        now = _at(done_on)
        for form_name in visit.forms:
            name = instrument_name(form_name)
            if (visit.visit_id, name) in entered:
                continue  # the dosing visit's vital signs, entered before the infusion
            if name in OUTCOME_INSTRUMENTS:
                values = _scale_values(name, severity, rng)
            elif name == "vital_signs":
                values = _vitals(rng, weight)
            elif name in DEMO_FILLED:
                values = _required_values(name, done_on)
            else:
                continue
            if not values:
                continue
            if not _consented(participant, name, done_on, coordinator, now):
                continue
            # One draft among the completed forms: the last visit's MMSE is still being entered.
            complete = not (visit is closed_visits[-1] and name == "mmse")
            services.save_form(participant, visit.visit_id, name, values, coordinator, complete=complete, now=now)
            saved += 1
        if visit.awaiting_review:
            # Past screening visits: the coordinator reviewed the carried-in screening data that day.
            confirm_carried_forms(visit, coordinator, confirmed=True, now=now)
    return saved


def _consented(participant, name: str, done_on: date, coordinator, now: datetime) -> bool:
    """Whether ``name`` may be entered on ``done_on``: a participant who signed an older version of
    the consent document than an amendment naming the form re-consents at this visit (IxCell's
    version 2.0 and the biomarkers form), as the demo's way of showing the re-consent."""
    block = consent_rules.block_for_form(participant.screening, name, done_on)
    if block is None:
        return True
    if block.kind != "reconsent":
        return False
    screening_services.record_consent(
        participant.screening, done_on, "participant", coordinator, today=done_on, signed_at=now
    )
    return True


# Forms the demo fills with the first allowed answer to each required item, so visits can be done.
DEMO_FILLED = (
    "labs",
    "biomarkers",
    "imaging",
    "pregnancy",
    "demographics",
    "stroke_history",
    "medical_history",
    "con_meds",
)


def _required_values(name: str, day: date) -> dict | None:
    """Plain values for the required items of a form (dates: the visit day); None when the form
    does not accept them complete (the demo then leaves it out)."""
    instrument = instrument_for(name)
    values: dict = {}
    for item in instrument.items:
        if not item.required:
            continue
        if item.choices:
            values[item.key] = item.choices[-1].code if item.key in ("ethnicity", "race") else item.choices[0].code
        elif item.type is ItemType.boolean:
            values[item.key] = item.key == "ongoing"
        elif item.type is ItemType.date:
            values[item.key] = day.isoformat()
        elif item.type in (ItemType.integer, ItemType.number):
            values[item.key] = item.minimum if item.minimum is not None else 0
        else:
            values[item.key] = "demo entry"
    return values if not instrument.validate(values, partial=False) else None


def _adverse_events(participant, coordinator, today: date, n: int, rng) -> int:
    if n == 0:
        services.save_adverse_event(
            participant,
            {
                "term": "Headache",
                "onset_date": (today - timedelta(days=20)).isoformat(),
                "resolution_date": (today - timedelta(days=18)).isoformat(),
                "ctcae_grade": 1,
                "serious": False,
                "relatedness": "unlikely",
                "expectedness": "expected",
                "action_taken": "not_applicable",
                "outcome": "recovered",
            },
            coordinator,
            complete=True,
            now=_at(today - timedelta(days=17)),
        )
        return 1
    if n == 3:
        aware = timezone.now() - timedelta(hours=6)
        services.save_adverse_event(
            participant,
            {
                "term": "Pneumonia",
                "onset_date": (today - timedelta(days=1)).isoformat(),
                "ctcae_grade": 3,
                "serious": True,
                "sae_hospitalization": True,
                "relatedness": "unlikely",
                "expectedness": "unexpected",
                "action_taken": "not_applicable",
                "outcome": "recovering",
            },
            coordinator,
            complete=True,
            now=aware,
            awareness_at=aware,
        )
        return 1
    return 0


# The second demo participant of each trial (day 0 200 days back) leaves 12 days before the demo
# day: withdrawn in the first trial, lost to follow-up in the second. Its missed month 3 stays
# missed; its later visits are no longer expected.
_LEFT = (
    (
        "withdrawn",
        "Withdrew consent to further visits after moving out of the region; "
        "agreed that the data collected so far are kept.",
    ),
    ("lost_to_follow_up", "No answer to three phone calls and a registered letter since the month 6 visit."),
)


def _end(participant, coordinator, today: date, n: int, trial_index: int) -> int:
    """The first participant (every visit held) completes on the day of the end-of-study visit."""
    if n == 0:
        _definition, visit = services.end_of_study_visit(participant)
        if visit is None or visit.done_on is None:
            return 0
        services.end_participation(
            participant, coordinator, outcome="completed", ended_on=visit.done_on, now=_at(today)
        )
        return 1
    if n == 1:
        outcome, reason = _LEFT[trial_index % len(_LEFT)]
        services.end_participation(
            participant,
            coordinator,
            outcome=outcome,
            ended_on=today - timedelta(days=12),
            reason=reason,
            now=_at(today),
        )
        return 1
    return 0


def _diary(participant, coordinator, today: date, rng, codes: list) -> int:
    from trialkit.schedule.diary import local_midnight

    who = "caregiver" if len(codes) % 2 else "participant"
    access, code = services.create_diary_access(participant, who, coordinator, now=_at(today - timedelta(days=12)))
    codes.append((participant.participant_number, code))
    written = 0
    for back in range(10, -1, -1):
        day = today - timedelta(days=back)
        if participant.anchor_date and day < participant.anchor_date:
            continue
        if rng.random() < 0.2:
            continue  # forgotten days, as in real diaries
        sections = {
            "symptoms": {
                "new_or_worse": rng.random() < 0.15,
                "details": rng.choice(["Right hand tingling", "Tired in the afternoon", "No change"]),
            },
            "functional_activities": {
                "details": rng.choice(
                    ["Walked to the shop with the cane", "Dressed alone", "Arm exercises 20 minutes", "Cooked lunch"]
                )
            },
            "rehabilitation_medicines": {"taken": True, "details": "Baclofen 10 mg twice daily"},
            "assistive_devices": {"used": rng.random() < 0.7, "details": "Quad cane"},
        }
        # Written on its own day, in the evening at the participant's site (Site.time_zone).
        services.save_diary_entry(
            access, day, sections, now=local_midnight(day, participant.site.tz) + timedelta(hours=20)
        )
        written += 1
    return written


def _review(trial, users, today: date) -> None:
    """A monitor's queries and verification, an investigator's signature, a data manager's lock."""
    now = timezone.now()
    first_site = trial.sites.order_by("code").first()
    forms = list(
        FormRecord.objects.filter(participant__trial=trial, participant__site=first_site, status="complete")
        .select_related("participant", "visit")
        .order_by("participant__participant_number", "visit__order", "instrument")
    )
    if not forms:
        return
    monitor, dm, investigator = users.get("monitor"), users.get("datamanager"), users.get("investigator")
    mrs = [f for f in forms if f.instrument == "mrs"]
    nihss = [f for f in forms if f.instrument == "nihss"]
    if mrs:
        services.open_query(
            mrs[-1],
            "score",
            "Source notes say the participant walks unaided; please confirm the mRS.",
            monitor,
            now=now - timedelta(days=2),
        )
    if nihss:
        query = services.open_query(
            nihss[0],
            "5a",
            "Motor arm scored differently on the source worksheet?",
            monitor,
            now=now - timedelta(days=3),
        )
        services.answer_query(
            query,
            "Checked the worksheet: the eCRF value is correct.",
            _staff(trial, first_site, Role.COORDINATOR, users),
            now=now - timedelta(days=1),
        )
    services.verify_form(forms[0], monitor, now=now - timedelta(days=1))
    baseline = next((f.visit for f in forms if f.visit.visit_id == "baseline"), None)
    if baseline is not None and investigator is not None:
        drafts = baseline.form_records.exclude(status="complete").exists()
        if not drafts:
            services.sign_visit(baseline, investigator, password=DEMO_PASSWORD_HINT, now=now - timedelta(hours=20))
    if len(forms) > 1:
        services.lock_form(
            forms[1], dm, reason="Baseline cleaned and reconciled for the interim review", now=now - timedelta(hours=4)
        )
