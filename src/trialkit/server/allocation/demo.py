"""Demo allocation: lists for both trials, most enrolled participants randomized, doses prepared
and given for some, others awaiting preparation, and one emergency unblinding in IxCell."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.contrib.auth import get_user_model

from trialkit.server.accounts.models import Membership
from trialkit.server.accounts.roles import Role
from trialkit.server.allocation import services
from trialkit.server.allocation.models import AllocationList, DoseRecord
from trialkit.server.participants.models import Consent, Participant, ScreeningRecord
from trialkit.server.product import demo as product_demo

MIN_ENROLLED_PER_TRIAL = 10
UNBLINDING_PASSWORD = "trialkit-demo"  # the demo investigator's password (see trialkit.server.demo)


def _site_staff(trial, site, role):
    """A demo user holding ``role`` at ``site`` (the listed demo users work at the first site)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=f"{role.value.split('_')[-1]}-{site.code}")
    if created:
        user.set_unusable_password()
        user.save()
    Membership.objects.get_or_create(user=user, trial=trial, site=site, role=role)
    return user


def _ensure_enrolled(trial, today: date, users) -> None:
    """Enrolled participants across sites when the screening demo has not provided enough."""
    have = Participant.objects.filter(trial=trial).count()
    sites = list(trial.sites.order_by("code"))
    clerk = users["coordinator"]
    for i in range(have, MIN_ENROLLED_PER_TRIAL):
        site = sites[i % len(sites)] if i % 3 else sites[0]
        number = f"{site.code.upper()}-D{i + 1:02d}"
        screening = ScreeningRecord.objects.create(
            trial=trial,
            site=site,
            screening_number=f"S-{number}",
            screening_date=today - timedelta(days=20 - i),
            facts={"nihss_total": 7 + (i * 3) % 12},
            verdict=ScreeningRecord.Verdict.ELIGIBLE,
            outcome=ScreeningRecord.Outcome.ENROLLED,
            created_by=clerk,
        )
        Consent.objects.create(
            screening=screening,
            document_version=trial.protocol.consent.in_effect(screening.screening_date)
            or trial.protocol.consent.versions[0],
            consent_date=screening.screening_date,
            signed_by=Consent.Signer.PARTICIPANT,
            recorded_by=clerk,
        )
        Participant.objects.create(
            trial=trial,
            site=site,
            screening=screening,
            participant_number=number,
            enrolled_at=datetime.combine(screening.screening_date, time(10), UTC),
        )


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def _dosing_visit(trial) -> str | None:
    """The visit whose vital signs give the dosing weight: kind treatment, else baseline."""
    from trialkit.server.capture.services import DOSING_VISIT_KINDS

    for kind in DOSING_VISIT_KINDS:
        for visit in trial.protocol.schedule.visits:
            if visit.kind == kind and "vital_signs" in visit.forms:
                return visit.id
    return None


def _record_weight(participant, when: datetime, weight: float) -> None:
    """The site enters the dosing visit's vital signs through data capture; the pharmacist doses from them."""
    from trialkit.server.capture import services as capture

    visit_id = _dosing_visit(participant.trial)
    if visit_id is None:
        return
    coordinator = _site_staff(participant.trial, participant.site, Role.COORDINATOR)
    capture.save_form(
        participant,
        visit_id,
        "vital_signs",
        {
            "systolic_bp": 128 + int(weight) % 17,
            "diastolic_bp": 74 + int(weight) % 9,
            "heart_rate": 62 + int(weight) % 15,
            "weight_kg": weight,
        },
        coordinator,
        complete=True,
        now=when,
    )


def populate(trials, users, today: date) -> None:
    from trialkit.server.demo import DAY0_AGES

    start = datetime.combine(today - timedelta(days=14), time(9), UTC)
    for trial in trials:
        if not AllocationList.objects.filter(trial=trial).exists():
            first_enrolled = (
                Participant.objects.filter(trial=trial)
                .order_by("enrolled_at")
                .values_list("enrolled_at", flat=True)
                .first()
            )
            generated_at = min(start, first_enrolled or start) - timedelta(days=7)
            services.generate_allocation_list(trial, users["dsmb"], now=generated_at, seed=f"demo-{trial.nct_id}")
        _ensure_enrolled(trial, today, users)
        enrolled = list(
            Participant.objects.filter(trial=trial, status=Participant.Status.ENROLLED)
            .select_related("site", "screening")
            .order_by("enrolled_at", "participant_number")
        )
        # Most are randomized; the last stays enrolled, waiting for the randomize button. The first
        # ones are randomized two days before their day 0 (DAY0_AGES), the others a day after enrolling
        # (the screening demo enrolls them in that order, so numbers follow time).
        for i, participant in enumerate(enrolled[:-1]):
            coordinator = _site_staff(trial, participant.site, Role.COORDINATOR)
            if i < len(DAY0_AGES):
                when = _at(today - timedelta(days=DAY0_AGES[i] + 2), 9)
            else:
                when = participant.enrolled_at + timedelta(days=1)
            try:
                services.randomize(participant, coordinator, now=when)
            except services.AllocationProblem:
                continue  # e.g. NIHSS outside the strata: the participant stays enrolled
        randomized = list(
            Participant.objects.filter(trial=trial, status=Participant.Status.RANDOMIZED)
            .select_related("site", "screening")
            .order_by("randomized_at")
        )
        # The first six are weighed, prepared and given on their day 0; the next one is prepared
        # and waits for the infusion; the rest await preparation.
        day0s = {
            participant.pk: (
                today - timedelta(days=DAY0_AGES[i])
                if i < len(DAY0_AGES)
                else participant.randomized_at.date() + timedelta(days=1)
            )
            for i, participant in enumerate(randomized)
        }
        # The kits reach the sites before anyone is dosed: from the first kit registered, a dose
        # is prepared only from the participant's thawed kit (trialkit.server.product).
        supply = product_demo.Supply.plan(
            trial,
            today,
            list_generated_at=AllocationList.objects.get(trial=trial).created_at,
            need={p.kit_number: (p.site, day0s[p.pk]) for p in randomized},
            pharmacist_of=lambda site, trial=trial: _site_staff(trial, site, Role.UNBLINDED_PHARMACIST),
        )
        for i, participant in enumerate(randomized[: len(DAY0_AGES) + 1]):
            if DoseRecord.objects.filter(participant=participant).exists():
                continue
            day0 = day0s[participant.pk]
            _record_weight(participant, _at(day0, 8), round(56 + 3.7 * i + (i % 3) * 1.4, 1))
            pharmacist = _site_staff(trial, participant.site, Role.UNBLINDED_PHARMACIST)
            if supply is not None:
                supply.assign_and_thaw(participant, day0)
            services.prepare_dose(participant, None, pharmacist, now=_at(day0, 9) + timedelta(minutes=30))
            if i < len(DAY0_AGES):
                investigator = _site_staff(trial, participant.site, Role.INVESTIGATOR)
                if supply is not None:
                    supply.infuse(participant, day0, investigator, interrupted=i == 2)
                else:
                    services.record_administration(participant, investigator, now=_at(day0, 11))
        if supply is not None:
            supply.advance(_at(today, 0))
        if trial.nct_id == "NCT07197606":
            investigator = users["investigator"]
            first_site = Membership.objects.filter(user=investigator, trial=trial).values_list("site_id", flat=True)
            candidates = [p for p in randomized if p.site_id in set(first_site) and not p.emergency_unblinded]
            if candidates:
                from trialkit.server.demo import demo_totp_code

                services.emergency_unblind(
                    candidates[0],
                    investigator,
                    password=UNBLINDING_PASSWORD,
                    otp_token=demo_totp_code(investigator.get_username()),
                    reason="Suspected anaphylaxis during follow-up; management depends on the product given.",
                    now=_at(today - timedelta(days=4), 15),
                )
