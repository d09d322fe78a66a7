"""Role homes: for each role in a trial, the panels that say what to do next, with links.

Each home is built by a function of ``HomeContext`` registered for its role. Panels are plain
data (title, items with links, an empty text); templates only lay them out. The queries here are
small read-only selectors over the apps' models; workflows stay in each app's ``services.py``.

Blinding: only ``ctx.access.can_see_allocation`` homes (the pharmacist and the DSMB statistician)
read anything arm-related; the blinded homes never touch the allocation list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, TruncMonth
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from trialkit.analysis.trial_data import screening_counts_by_outcome
from trialkit.server.accounts.access import Access
from trialkit.server.accounts.roles import Role
from trialkit.server.audit import vocabulary
from trialkit.server.audit.models import AuditEvent
from trialkit.server.jobs import runner
from trialkit.server.participants.models import Participant, ScreeningRecord
from trialkit.server.web.dates import format_date, format_datetime
from trialkit.server.web.status_words import BADGES

# --------------------------------------------------------------------------- panel data


@dataclass
class Item:
    text: str
    href: str | None = None
    detail: str = ""
    badge: str = ""
    tone: str = ""  # "", "ok", "warn", "bad"


@dataclass
class Stat:
    label: str
    value: int | str
    href: str | None = None
    tone: str = ""


@dataclass
class Panel:
    title: str
    items: list[Item] = field(default_factory=list)
    empty: str = gettext_lazy("Nothing to do here.")
    actions: list[tuple[str, str]] = field(default_factory=list)  # (label, href)
    template: str = ""  # a custom body, rendered with ``data``
    data: dict = field(default_factory=dict)
    wide: bool = False
    key: str = ""  # a stable id for the page and its tests
    total: int | None = None  # how many there are when ``items`` shows only the first of them
    more_href: str | None = None  # the full list, where that page exists

    @property
    def count(self) -> int:
        return len(self.items) if self.total is None else self.total

    @property
    def truncated(self) -> bool:
        return self.total is not None and self.total > len(self.items)


@dataclass
class Home:
    title: str
    intro: str
    stats: list[Stat] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)


@dataclass
class HomeContext:
    trial: object
    user: object
    access: Access
    role: str
    today: date
    now: datetime
    # What two panels of one home both read, read once (the open visits, for one).
    shared: dict = field(default_factory=dict)

    @property
    def sites(self):
        """The sites of the home's role (None: every site); another role held elsewhere adds none."""
        return self.access.sites_of_role(self.role)

    def at_my_sites(self, queryset, field_name: str = "site_id"):
        if self.sites is None:
            return queryset
        return queryset.filter(**{f"{field_name}__in": self.sites})


def url(name: str, *args, query: str = "") -> str:
    """The path of a named URL (a name that does not resolve is an error, never a silent plain-text link)."""
    path = reverse(name, args=args)
    return f"{path}?{query}" if query else path


def list_url(name: str, trial) -> str:
    """A trial's full list page (queries, verification, signatures)."""
    return url(name, trial.nct_id)


HOME_LIST_LIMIT = 15  # items a home panel shows; the rest are counted and linked to the full list


HOME_BUILDERS: dict[str, Callable[[HomeContext], Home]] = {}


def home_for(role: str):
    def register(builder):
        HOME_BUILDERS[role] = builder
        return builder

    return register


def build_home(ctx: HomeContext) -> Home:
    home = HOME_BUILDERS[ctx.role](ctx)
    home.panels = [p for p in home.panels if p is not None]
    return home


# --------------------------------------------------------------------------- selectors


def screening_counts(ctx: HomeContext) -> dict[str, int]:
    rows = ctx.at_my_sites(ScreeningRecord.objects.filter(trial=ctx.trial)).values("outcome").annotate(n=Count("id"))
    counts = {o.value: 0 for o in ScreeningRecord.Outcome}
    counts.update({r["outcome"]: r["n"] for r in rows})
    return counts


def open_screenings(ctx: HomeContext):
    return (
        ctx.at_my_sites(ScreeningRecord.objects.filter(trial=ctx.trial, outcome=ScreeningRecord.Outcome.IN_SCREENING))
        .select_related("site")
        .order_by("screening_date", "screening_number")
    )


def has_consent(record: ScreeningRecord) -> bool:
    return any(c.withdrawn_on is None for c in record.consents.all())


def participants(ctx: HomeContext):
    return ctx.at_my_sites(Participant.objects.filter(trial=ctx.trial)).select_related("site")


def unblinded_note(p: Participant) -> str:
    """Appended to a participant's line in every home list: the code was broken for them."""
    return " · " + _("emergency unblinded") if p.emergency_unblinded else ""


def screening_link(record: ScreeningRecord) -> str | None:
    return url("screening:record", record.trial.nct_id, record.screening_number)


def participant_link(p: Participant) -> str | None:
    if p.randomized_at is not None and (href := url("capture:participant", p.pk)):
        return href
    return url("allocation:participant", p.trial.nct_id, p.participant_number)


def criterion_texts(trial) -> dict[str, str]:
    return {c.id: c.text for c in trial.protocol.eligibility.criteria}


def fail_reason_ids(record: ScreeningRecord) -> list[str]:
    return record.fail_reason_ids()


def screen_fail_reasons(ctx: HomeContext) -> list[tuple[str, str, int]]:
    """(criterion id, criterion text, screen failures citing it), most frequent first."""
    texts = criterion_texts(ctx.trial)
    counts: Counter[str] = Counter()
    failed = ctx.at_my_sites(
        ScreeningRecord.objects.filter(trial=ctx.trial, outcome=ScreeningRecord.Outcome.SCREEN_FAILED)
    )
    # Only the reasons column is read (a JSON list each, which no portable SQL unnests).
    for reasons in failed.order_by().values_list("fail_reasons", flat=True):
        counts.update(set(ScreeningRecord(fail_reasons=reasons).fail_reason_ids()))
    return [(cid, texts.get(cid, cid), n) for cid, n in counts.most_common()]


def enrollment_by_site(ctx: HomeContext) -> dict:
    """Cumulative enrollment per site by month: {"months": [...], "sites": [{"code", "name", "counts"}]}."""
    from trialkit.server.trials.models import Site

    sites = list(ctx.at_my_sites(Site.objects.filter(trial=ctx.trial), "id"))
    # Participants per site and month of enrollment, counted by the database (a few rows per site).
    per_month = (
        participants(ctx)
        .order_by()
        .annotate(month=TruncMonth("enrolled_at"))
        .values("site_id", "month")
        .annotate(n=Count("id"))
    )
    enrolled: dict[int, dict[date, int]] = {}
    for row in per_month:
        month = row["month"]
        month = (month.date() if isinstance(month, datetime) else month).replace(day=1)
        by_month = enrolled.setdefault(row["site_id"], {})
        by_month[month] = by_month.get(month, 0) + row["n"]
    total = sum(n for by_month in enrolled.values() for n in by_month.values())
    if not total:
        return {"months": [], "sites": [], "total": 0, "target": ctx.trial.protocol.registry.enrollment.count}
    seen = [m for by_month in enrolled.values() for m in by_month]
    months = []
    month = min(seen)
    last = max(ctx.today.replace(day=1), max(seen))
    while month <= last:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    rows = []
    for site in sites:
        by_month = enrolled.get(site.id, {})
        running, counts = 0, []
        for m in months:
            running += by_month.get(m, 0)
            counts.append(running)
        rows.append({"code": site.code, "name": site.name, "counts": counts, "total": running})
    return {
        "months": months,
        "sites": rows,
        "total": total,
        "target": ctx.trial.protocol.registry.enrollment.count,
    }


def recent_audit(ctx: HomeContext, limit: int = 8):
    events = AuditEvent.objects.filter(trial_id=ctx.trial.id)
    if not ctx.access.can_see_allocation:
        events = events.filter(restricted=False)
    if ctx.sites is not None:
        events = events.filter(Q(site_id__in=ctx.sites) | Q(site_id__isnull=True))
    return list(events.order_by("-id")[:limit])


def my_jobs(ctx: HomeContext, kind: str):
    return list(runner.visible_jobs(ctx.user, trial=ctx.trial, kind=kind).filter(requested_by=ctx.user)[:5])


# --------------------------------------------------------------------------- shared panels


def screening_pipeline_panel(ctx: HomeContext) -> Panel:
    items = []
    open_records = open_screenings(ctx)
    records = list(open_records.prefetch_related("consents")[:HOME_LIST_LIMIT])
    for record in records:
        if record.verdict == ScreeningRecord.Verdict.ELIGIBLE and has_consent(record):
            step, tone = BADGES["enroll"], "ok"
        elif record.verdict == ScreeningRecord.Verdict.ELIGIBLE:
            step, tone = BADGES["consent"], "ok"
        elif record.verdict == ScreeningRecord.Verdict.INELIGIBLE:
            step, tone = BADGES["close"], "bad"
        else:
            step, tone = BADGES["continue"], "warn"
        items.append(
            Item(
                record.screening_number,
                screening_link(record),
                detail=_("%(site)s · screened %(date)s")
                % {"site": record.site.code, "date": format_date(record.screening_date)},
                badge=step,
                tone=tone,
            )
        )
    actions = [
        (label, href)
        for label, href in (
            # The log page holds the new-screening form (site and date).
            (_("New screening"), (url("screening:log", ctx.trial.nct_id) or "") + "#new-screening"),
            (_("Screening log"), url("screening:log", ctx.trial.nct_id)),
        )
        if href and href != "#new-screening"
    ]
    return Panel(
        _("Screening pipeline"),
        items,
        empty=_("No patient is in screening."),
        actions=actions,
        key="screening",
        total=open_records.count(),
        more_href=url("screening:log", ctx.trial.nct_id),
    )


def participants_panel(ctx: HomeContext, title: str | None = None) -> Panel:
    items = []
    for p in participants(ctx).order_by("-enrolled_at", "-participant_number")[:HOME_LIST_LIMIT]:
        number = " · " + _("rand. %(number)s") % {"number": p.randomization_number} if p.randomization_number else ""
        kit = " · " + _("kit %(number)s") % {"number": p.kit_number} if p.kit_number else ""
        tone = {"enrolled": "warn", "withdrawn": "bad", "lost_to_follow_up": "bad", "died": "bad"}.get(p.status, "ok")
        items.append(
            Item(
                p.participant_number,
                participant_link(p),
                detail=f"{p.site.code}{number}{kit}{unblinded_note(p)}",
                badge=_("emergency unblinded") if p.emergency_unblinded else p.get_status_display(),
                tone="bad" if p.emergency_unblinded else tone,
            )
        )
    return Panel(
        title or _("Participants"),
        items,
        empty=_("No participant is enrolled yet."),
        key="participants",
        total=participants(ctx).count(),
        more_href=url("capture:participants", ctx.trial.nct_id),
    )


def diary_missed_panel(ctx: HomeContext) -> Panel | None:
    """Participants in the study whose diary has days without an entry (at their site's day), most
    missed first, with the last entry's date. Two queries whatever the number of participants."""
    from trialkit.server.capture.services import diary_status
    from trialkit.server.participants.models import ONGOING_STATUSES

    if ctx.trial.protocol.diary is None:
        return None
    people = list(participants(ctx).filter(status__in=ONGOING_STATUSES).exclude(anchor_date=None))
    status = diary_status(ctx.trial, people, ctx.now)
    flagged = sorted(
        (p for p in people if status.get(p.pk, {}).get("missed")),
        key=lambda p: (-status[p.pk]["missed"], p.participant_number),
    )
    items = []
    for p in flagged[:HOME_LIST_LIMIT]:
        d = status[p.pk]
        last = format_date(d["last"]) if d["last"] else _("none")
        items.append(
            Item(
                p.participant_number,
                url("capture:participant", p.pk),
                detail=_("%(site)s · last entry %(last)s") % {"site": p.site.code, "last": last},
                badge=ngettext("%(n)d day missed", "%(n)d days missed", d["missed"]) % {"n": d["missed"]},
                tone="warn",
            )
        )
    return Panel(
        _("Diary: days missed"),
        items,
        empty=_("Every diary is up to date."),
        key="diary_missed",
        total=len(flagged),
        more_href=url("capture:participants", ctx.trial.nct_id),
    )


def awaiting_randomization_panel(ctx: HomeContext) -> Panel:
    # The link opens the confirmation page of the randomization (a GET); randomizing is its POST.
    waiting = participants(ctx).filter(status=Participant.Status.ENROLLED)
    items = [
        Item(
            p.participant_number,
            url("allocation:randomize", ctx.trial.nct_id, p.participant_number) or participant_link(p),
            detail=_("%(site)s · enrolled %(date)s") % {"site": p.site.code, "date": format_date(p.enrolled_at)},
            badge=BADGES["randomize"],
            tone="warn",
        )
        for p in waiting.order_by("enrolled_at", "participant_number")[:HOME_LIST_LIMIT]
    ]
    return Panel(
        _("Awaiting randomization"),
        items,
        empty=_("Every enrolled participant is randomized."),
        key="randomize",
        total=waiting.count(),
    )


def recent_activity_panel(ctx: HomeContext) -> Panel:
    items = [
        Item(
            f"{vocabulary.describe(e.action, e.object_type)} · {e.object_type} {e.object_id}",
            url("capture:form_audit", e.object_id) if e.object_type == "form" else None,
            detail=f"{e.actor} · {format_datetime(e.at)}",
        )
        for e in recent_audit(ctx)
    ]
    return Panel(_("Recent activity"), items, empty=_("No activity recorded yet."), key="activity")


def report_panel(ctx: HomeContext, unblinded: bool) -> Panel:
    title = _("Unblinded DSMB report") if unblinded else _("Trial report (blinded, pooled)")
    note = (
        _("Arm-level results: odds ratios, differences and safety by arm. For the DSMB only.")
        if unblinded
        else _("Pooled results only: no arm appears anywhere in this report.")
    )
    return Panel(
        title,
        template="web/panels/_report.html",
        key="report",
        data={
            "unblinded": unblinded,
            "note": note,
            "jobs": my_jobs(ctx, "report"),
            "start_url": url("start_report", ctx.trial.nct_id),
        },
    )


def capture_panels(ctx: HomeContext, *names: str) -> list[Panel]:
    """Panels over visit capture (visits due, queries, signatures, SAE clocks, ...)."""
    from trialkit.server.web import capture_panels as panels

    return [panel for name in names if (panel := getattr(panels, name)(ctx)) is not None]


def _count_per_site(model):
    """The site's rows of ``model``, as a correlated subquery: two of these on the sites cost two
    index lookups per site, where two joined COUNT(DISTINCT) multiply the participants by the screenings."""
    rows = model.objects.filter(site=OuterRef("pk")).order_by().values("site").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(rows), 0)


def referrals_panel(ctx: HomeContext) -> Panel | None:
    """New referrals from the public pre-screener at the sites where the user may read them."""
    if not ctx.access.can("screening.referrals"):
        return None
    from trialkit.server.referrals.models import Referral
    from trialkit.server.referrals.services import referrals_for

    new = referrals_for(ctx.user, ctx.trial).filter(status=Referral.Status.NEW)
    items = [
        Item(
            r.name,
            url("referrals:detail", ctx.trial.nct_id, r.pk),
            detail=f"{r.site.code} · {format_datetime(r.created_at)}",
            badge=_("may be eligible") if r.outcome == "may_be_eligible" else _("not eligible"),
            tone="ok" if r.outcome == "may_be_eligible" else "warn",
        )
        for r in new[:HOME_LIST_LIMIT]
    ]
    return Panel(
        _("Referrals"),
        items,
        empty=_("No new referral from the pre-screener."),
        actions=[(_("All referrals"), url("referrals:list", ctx.trial.nct_id))],
        key="referrals",
        total=new.count(),
        more_href=url("referrals:list", ctx.trial.nct_id),
    )


# --------------------------------------------------------------------------- the homes


@home_for(Role.COORDINATOR)
def coordinator_home(ctx: HomeContext) -> Home:
    counts = screening_counts(ctx)
    people = participants(ctx)
    stats = [
        Stat(_("In screening"), counts["in_screening"], url("screening:log", ctx.trial.nct_id)),
        Stat(_("Enrolled"), people.count()),
        Stat(_("Awaiting randomization"), people.filter(status=Participant.Status.ENROLLED).count(), tone="warn"),
        Stat(_("Screen failures"), counts["screen_failed"]),
    ]
    return Home(
        _("Site coordinator"),
        _("Screen patients, enroll and randomize, keep visits on time and answer queries."),
        stats,
        [
            referrals_panel(ctx),
            screening_pipeline_panel(ctx),
            awaiting_randomization_panel(ctx),
            *capture_panels(ctx, "visits_due", "open_queries"),
            diary_missed_panel(ctx),
            participants_panel(ctx),
        ],
    )


@home_for(Role.INVESTIGATOR)
def investigator_home(ctx: HomeContext) -> Home:
    needs_attestation = [
        Item(
            r.screening_number,
            screening_link(r),
            detail=f"{r.site.code} · {format_date(r.screening_date)}",
            badge=BADGES["attest"],
            tone="warn",
        )
        for r in open_screenings(ctx).filter(verdict=ScreeningRecord.Verdict.INCOMPLETE)[:10]
    ]
    randomized = participants(ctx).filter(randomized_at__isnull=False).order_by("participant_number")
    unblind_items = [
        Item(
            p.participant_number,
            url("allocation:unblind", ctx.trial.nct_id, p.participant_number) or participant_link(p),
            detail=_("rand. %(number)s") % {"number": p.randomization_number}
            + " · "
            + _("kit %(number)s") % {"number": p.kit_number}
            + unblinded_note(p),
            badge=_("emergency unblinded") if p.emergency_unblinded else "",
            tone="bad" if p.emergency_unblinded else "",
        )
        for p in randomized[:12]
    ]
    stats = [
        Stat(_("Participants"), participants(ctx).count()),
        Stat(_("Awaiting your attestation"), len(needs_attestation), tone="warn" if needs_attestation else ""),
    ]
    return Home(
        _("Investigator"),
        _("Sign visits, watch serious adverse event clocks, attest eligibility."),
        stats,
        [
            *capture_panels(ctx, "to_sign", "sae_clocks"),
            Panel(
                _("Eligibility to attest"),
                needs_attestation,
                empty=_("No screening waits for your judgement."),
                key="attest",
            ),
            Panel(
                _("Emergency unblinding"),
                unblind_items,
                key="unblinding",
                empty=_("No randomized participant at your site."),
                data={
                    "note": _(
                        "Only when knowing the treatment changes the participant's care. "
                        "Needs a reason and your password; the sponsor is notified."
                    )
                },
            ),
        ],
    )


@home_for(Role.UNBLINDED_PHARMACIST)
def pharmacist_home(ctx: HomeContext) -> Home:
    from trialkit.server.allocation import services as allocation
    from trialkit.server.allocation.models import DoseRecord

    nct = ctx.trial.nct_id
    to_prepare = [
        Item(
            p.participant_number,
            url("allocation:prepare", nct, p.participant_number),
            detail=_("%(site)s · kit %(kit)s · randomized %(when)s")
            % {"site": p.site.code, "kit": p.kit_number, "when": format_datetime(p.randomized_at)}
            + unblinded_note(p),
            badge=BADGES["prepare"],
            tone="warn",
        )
        for p in allocation.doses_to_prepare(ctx.trial, ctx.user)
    ]
    records = (
        ctx.at_my_sites(DoseRecord.objects.filter(participant__trial=ctx.trial), "participant__site_id")
        .select_related("participant")
        .order_by("-prepared_at", "-id")
    )
    labels = [
        Item(
            r.participant.participant_number,
            url("allocation:label", nct, r.participant.participant_number),
            detail=_("kit %(kit)s · prepared %(when)s")
            % {"kit": r.participant.kit_number, "when": format_datetime(r.prepared_at)}
            + unblinded_note(r.participant),
            badge=BADGES["given"] if r.administered_at else BADGES["awaiting_infusion"],
            tone="ok" if r.administered_at else "warn",
        )
        for r in records[:15]
    ]
    randomized = participants(ctx).filter(randomized_at__isnull=False).count()
    stats = [
        Stat(_("Doses to prepare"), len(to_prepare), url("allocation:pharmacy", nct), "warn" if to_prepare else ""),
        Stat(_("Doses prepared"), records.count()),
        Stat(_("Randomized"), randomized),
    ]
    actions = [(_("Pharmacy"), href)] if (href := url("allocation:pharmacy", nct)) else []
    panels = [
        Panel(
            _("Doses to prepare"), to_prepare, empty=_("No dose waits for preparation."), key="doses", actions=actions
        ),
        Panel(_("Blinded labels"), labels, empty=_("No dose prepared yet."), key="labels"),
    ]
    if ctx.trial.protocol.product is not None:
        panels.append(depot_panel(ctx))
    return Home(
        _("Unblinded pharmacist"),
        _("Prepare each randomized participant's dose and print its blinded label."),
        stats,
        panels,
    )


def depot_panel(ctx: HomeContext) -> Panel:
    """The depot and site steps waiting at the pharmacist's sites: shipments to receive, excursions to review."""
    from trialkit.server.product.models import Shipment, TemperatureExcursion

    nct = ctx.trial.nct_id
    waiting = ctx.at_my_sites(Shipment.objects.filter(trial=ctx.trial, received_at__isnull=True)).select_related("site")
    open_ = ctx.at_my_sites(TemperatureExcursion.objects.filter(trial=ctx.trial, decision="")).select_related("site")
    items = [
        Item(
            _("Shipment %(number)s") % {"number": s.pk},
            url("product:receipt", nct, s.pk),
            detail=_("%(site)s · %(kits)s kits · shipped %(when)s")
            % {"site": s.site.code, "kits": s.kit_count, "when": format_datetime(s.shipped_at)},
            badge=BADGES["receipt"],
            tone="warn",
        )
        for s in waiting.order_by("shipped_at", "id")[:10]
    ] + [
        Item(
            _("Excursion %(number)s") % {"number": e.pk},
            url("product:excursion", nct, e.pk),
            detail=f"{e.site.code if e.site_id else ''} · {e.min_c:g} to {e.max_c:g} °C",
            badge=BADGES["review"],
            tone="warn",
        )
        for e in open_.order_by("observed_at", "id")[:10]
    ]
    actions = [
        (_("Site supply"), url("product:supply", nct)),
        (_("Lots"), url("product:lots", nct)),
        (_("Shipments"), url("product:shipments", nct)),
        (_("Excursions"), url("product:excursions", nct)),
    ]
    return Panel(
        _("Depot and site"),
        items,
        empty=_("No shipment to receive, no excursion to review."),
        key="depot",
        actions=actions,
    )


@home_for(Role.BLINDED_ASSESSOR)
def assessor_home(ctx: HomeContext) -> Home:
    # Nothing here may reveal allocation: participant numbers, visits and scores only.
    people = participants(ctx).filter(randomized_at__isnull=False)
    stats = [Stat(_("Participants to follow"), people.count())]
    return Home(
        _("Blinded outcome assessor"),
        _("Rate the outcome scales at each visit. You are blinded to treatment."),
        stats,
        [*capture_panels(ctx, "assessments_due"), participants_panel(ctx, _("Participants at your site"))],
    )


@home_for(Role.MONITOR)
def monitor_home(ctx: HomeContext) -> Home:
    counts = screening_counts(ctx)
    by_site = ctx.at_my_sites(ctx.trial.sites.all(), "id").annotate(
        n_participants=_count_per_site(Participant), n_screened=_count_per_site(ScreeningRecord)
    )
    site_items = [
        Item(
            f"{s.code} {s.name}",
            detail=_("%(screened)s screened · %(enrolled)s enrolled")
            % {"screened": s.n_screened, "enrolled": s.n_participants},
        )
        for s in by_site
    ]
    stats = [
        Stat(_("Screened"), screening_counts_by_outcome(counts).screened),
        Stat(_("Enrolled"), participants(ctx).count()),
    ]
    return Home(
        _("Monitor"),
        _("Raise and follow queries, verify source data, watch the sites."),
        stats,
        [
            *capture_panels(ctx, "open_queries", "to_verify"),
            Panel(_("Sites"), site_items, empty=_("No site yet."), key="sites"),
            recent_activity_panel(ctx),
            report_panel(ctx, unblinded=False),
        ],
    )


@home_for(Role.DATA_MANAGER)
def data_manager_home(ctx: HomeContext) -> Home:
    counts = screening_counts(ctx)
    # Day 0 (the infusion) is normally recorded within days of randomization; a week without it
    # usually means the infusion was given but not entered.
    week_ago = ctx.now - timedelta(days=7)
    missing_anchor = participants(ctx).filter(
        randomized_at__lt=week_ago, anchor_date__isnull=True, ended_on__isnull=True
    )
    stale = open_screenings(ctx).filter(screening_date__lt=ctx.today - timedelta(days=14))
    quality = [
        Item(
            p.participant_number,
            participant_link(p),
            detail=_("randomized %(date)s; infusion (day 0) not recorded") % {"date": format_date(p.randomized_at)}
            + unblinded_note(p),
            badge=BADGES["check"],
            tone="warn",
        )
        for p in missing_anchor[:10]
    ]
    quality += [
        Item(
            r.screening_number,
            screening_link(r),
            detail=_("in screening since %(date)s") % {"date": format_date(r.screening_date)},
            badge=BADGES["stale"],
            tone="warn",
        )
        for r in stale[:10]
    ]
    exports = Panel(
        _("CDISC exports"),
        template="web/panels/_exports.html",
        key="exports",
        data={
            "export_url": url("exports:trial", ctx.trial.nct_id),
            "formats": [
                "ODM 1.3.2 XML (clinical data and metadata)",
                "SDTM domains DM, QS, VS, AE, DS as SAS XPORT v5",
                _("Analysis data directory (CSV) for trialkit report"),
            ],
        },
    )
    stats = [
        Stat(_("Screened"), screening_counts_by_outcome(counts).screened),
        Stat(_("Participants"), participants(ctx).count()),
        Stat(_("Data-quality checks"), len(quality), tone="warn" if quality else "ok"),
    ]
    return Home(
        _("Data manager"),
        _("Keep the data clean, lock what is final, export for analysis."),
        stats,
        [
            Panel(_("Data quality"), quality, empty=_("No data-quality problem found."), key="quality"),
            *capture_panels(ctx, "locks", "open_queries"),
            exports,
            report_panel(ctx, unblinded=False),
            recent_activity_panel(ctx),
        ],
    )


@home_for(Role.SPONSOR_ADMIN)
def sponsor_home(ctx: HomeContext) -> Home:
    from trialkit.server.web.charts import cached_enrollment_chart_svg

    counts = screening_counts(ctx)
    enrollment = enrollment_by_site(ctx)
    reasons = screen_fail_reasons(ctx)
    # One definition of screened and of the screen-fail rate, with its denominator, as the
    # report's CONSORT flow uses (trialkit.analysis.trial_data.ScreeningCounts).
    screened = screening_counts_by_outcome(counts)
    stats = [
        Stat(_("Enrolled"), f"{enrollment['total']} / {enrollment['target']}"),
        Stat(_("Screened"), screened.screened),
        Stat(_("Screen-fail rate"), screened.screen_fail_rate),
        Stat(_("Sites"), ctx.trial.sites.count()),
    ]
    from trialkit.server.allocation.services import notifications_for

    notes = [
        Item(
            n.message,
            detail=f"{format_datetime(n.created_at)}",
            badge="" if n.read_at else BADGES["new"],
            tone="" if n.read_at else "warn",
        )
        for n in notifications_for(ctx.user, ctx.trial).order_by("-created_at", "-id")[:8]
    ]
    return Home(
        _("Sponsor"),
        _("Enrollment across sites, why patients fail screening, and what needs your attention."),
        stats,
        [
            Panel(
                _("Enrollment by site over time"),
                template="web/panels/_enrollment.html",
                wide=True,
                key="enrollment",
                data={"enrollment": enrollment, "svg": cached_enrollment_chart_svg(enrollment)},
            ),
            Panel(
                _("Screen-fail reasons"),
                template="web/panels/_fail_reasons.html",
                key="fail-reasons",
                data={"reasons": reasons, "failed": counts["screen_failed"]},
            ),
            Panel(_("Notifications"), notes, empty=_("No notification."), key="notifications"),
            report_panel(ctx, unblinded=False),
        ],
    )


@home_for(Role.DSMB_STATISTICIAN)
def dsmb_home(ctx: HomeContext) -> Home:
    from trialkit.server.web.safety_summary import unblinded_safety

    safety = unblinded_safety(ctx.trial, ctx.user) if ctx.access.can_see_allocation else None
    stats = [Stat(_("Randomized"), participants(ctx).filter(randomized_at__isnull=False).count())]
    return Home(
        _("DSMB statistician"),
        _("Unblinded safety across arms, and the unblinded report for the DSMB."),
        stats,
        [
            Panel(
                _("Unblinded safety summary"),
                template="web/panels/_safety.html",
                wide=True,
                key="safety",
                data={"safety": safety},
            ),
            report_panel(ctx, unblinded=ctx.access.can_see_allocation),
            Panel(
                _("CDISC exports"),
                template="web/panels/_exports.html",
                key="exports",
                data={
                    "export_url": url("exports:trial", ctx.trial.nct_id),
                    "formats": [_("Unblinded ODM, SDTM (DM with arms) and analysis CSVs for the DSMB")],
                },
            ),
        ],
    )
