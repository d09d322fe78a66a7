"""One lookup layer: a server module that loads one trial, site, participant or visit for a request
goes through ``accounts.lookups`` (404 for no such object, 403 for no role or no permission there),
never through its own ``.objects.get(...)``, ``.first()`` or ``get_object_or_404(...)``; a view or
API module loads a form, query or adverse event of a participant through ``participant_row_for``.

The scan reads the source (no database): a call that fetches one row of Trial, Site, Participant or
Visit from its manager (anywhere in the server), or of FormRecord, Query or AdverseEvent (in a view
or API module), or ``get_object_or_404`` on one of them, is a finding unless the function that
makes it is listed below with the reason it needs no lookup. A listed function that no longer
makes such a call fails too, so the list cannot outlive its reasons.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import trialkit.server

SERVER = Path(trialkit.server.__file__).parent
MODELS = {"Trial", "Site", "Participant", "Visit"}
# Rows of one participant whose key comes from the request: loaded in views and API endpoints.
PARTICIPANT_ROWS = {"FormRecord", "Query", "AdverseEvent"}
ONE_ROW = {"get", "first", "last", "get_or_create", "earliest", "latest"}
MANAGERS = {"objects", "_base_manager", "_default_manager"}

# (module under trialkit/server, function): why it loads the row itself.
ALLOWED = {
    # the lookup layer itself
    ("accounts/lookups.py", "public_trial"): "the lookup layer",
    ("accounts/lookups.py", "trial_for"): "the lookup layer",
    ("accounts/lookups.py", "participant_for"): "the lookup layer",
    ("accounts/lookups.py", "participant_by_number"): "the lookup layer",
    ("accounts/lookups.py", "visit_for"): "the lookup layer",
    # services re-reading, under a row lock, an object their caller already authorized
    ("allocation/services.py", "_randomize_locked"): "row lock on an authorized participant",
    ("allocation/services.py", "prepare_dose"): "row lock on an authorized participant",
    ("allocation/services.py", "record_administration"): "row lock on an authorized participant",
    ("allocation/services.py", "_emergency_unblind"): "row lock on an authorized participant",
    ("capture/services.py", "end_participation"): "row lock on an authorized participant",
    ("capture/services.py", "reopen_participation"): "row lock on an authorized participant",
    ("capture/services.py", "save_form"): "the visit of an authorized participant, by the form's visit code",
    ("capture/services.py", "end_of_study_visit"): "the end-of-study visit of an authorized participant",
    ("capture/screening_forms.py", "confirm_carried_forms"): "row lock on an authorized visit",
    ("capture/views.py", "ecrf"): "the form record of an authorized visit, by instrument and record number",
    ("capture/api.py", "add_follow_up"): "the adverse event read again after the service changed it",
    ("product/services.py", "record_infusion"): "row lock on an authorized participant",
    ("screening/services.py", "create_screening"): "row lock on an authorized site (the record serial)",
    ("screening/services.py", "enroll"): "row lock on an authorized site (the participant serial)",
    ("screening/services.py", "_require_consentable"): "the participant of a screening record its caller authorized",
    ("screening/services.py", "withdraw_consent"): "the participant of a screening record its caller authorized",
    ("screening/views.py", "_consent_page"): "the participant of a screening record the page authorized",
    # no request and no user: loading protocols, demo data, the load check, the audit triggers' links
    ("trials/loading.py", "load_protocols"): "loads the protocols into the database",
    ("demo.py", "load_demo"): "demo data (creates the demo sites)",
    ("allocation/demo.py", "populate"): "demo data",
    ("loadcheck.py", "prepare"): "the load check creates its own sites",
    ("loadcheck.py", "allocation_problems"): "the load check's own trial, after its run",
    # presentation of what the page already authorized
    ("capture/trail.py", "participant"): "participant number of an event the page already shows",
    ("web/navigation.py", "page_trial"): "which trial the requested page is about (the page checks access)",
    ("web/navigation.py", "navigation"): "the trial's name beside the user's own role links",
}


def _model_of(node: ast.AST, models: set[str]) -> str | None:
    """The model whose manager a call chain starts from (``Trial.objects.filter(...)...``), or None."""
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.attr in MANAGERS and node.value.id in models:
                return node.value.id
            node = node.value
        else:
            return None


def _loads_one_row(call: ast.Call, models: set[str] = MODELS) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ONE_ROW and _model_of(func.value, models):
        return True
    if isinstance(func, ast.Name) and func.id == "lock_first" and call.args:  # audit.rows.lock_first(queryset)
        return _model_of(call.args[0], models) is not None
    if isinstance(func, ast.Name) and func.id == "get_object_or_404" and call.args:
        first = call.args[0]
        return (isinstance(first, ast.Name) and first.id in models) or _model_of(first, models) is not None
    return False


def _answers_requests(module: str) -> bool:
    name = module.rsplit("/", 1)[-1]
    return name in {"views.py", "api.py"} or name.endswith("_views.py")


def _findings() -> dict[tuple[str, str], list[int]]:
    found: dict[tuple[str, str], list[int]] = {}
    for path in sorted(SERVER.rglob("*.py")):
        module = path.relative_to(SERVER).as_posix()
        if "/migrations/" in f"/{module}" or module.endswith("admin.py"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        owner: dict[int, str] = {}
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    owner[id(node)] = function.name  # the innermost function wins (walked last)
        models = MODELS | PARTICIPANT_ROWS if _answers_requests(module) else MODELS
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _loads_one_row(node, models):
                found.setdefault((module, owner.get(id(node), "<module>")), []).append(node.lineno)
    return found


@pytest.mark.slow
def test_trials_sites_and_participants_are_loaded_through_the_lookup_layer():
    found = _findings()
    outside = sorted(
        f"{module}:{lines} in {function}()"
        for (module, function), lines in found.items()
        if (module, function) not in ALLOWED
    )
    assert not outside, (
        "load the trial, site or participant through trialkit.server.accounts.lookups "
        "(trial_for, site_for, participant_for, participant_by_number, participant_row_for, visit_for): "
        f"{sorted(outside)}"
    )


@pytest.mark.slow
def test_every_allowed_function_still_loads_a_row_itself():
    stale = sorted(f"{module}:{function}" for module, function in set(ALLOWED) - set(_findings()))
    assert not stale, f"no longer load a row themselves; remove them from ALLOWED: {stale}"


def test_the_scan_sees_each_way_of_loading_a_row():
    """The scan itself: each form it must catch, caught; a query of many rows, not."""
    for source, caught in (
        ("Trial.objects.get(nct_id=n)", True),
        ("Participant.objects.select_related('site').filter(pk=1).first()", True),
        ("get_object_or_404(Trial, nct_id=n)", True),
        ("lock_first(Participant.objects.select_related('site').filter(pk=1))", True),
        ("get_object_or_404(Site.objects.filter(trial=t), code=c)", True),
        ("Participant._base_manager.filter(pk=1).values('trial_id').first()", True),
        ("get_object_or_404(Visit, participant=p, visit_id=v)", True),
        ("Visit.objects.select_related('participant').filter(participant_id=1, visit_id=v).first()", True),
        ("Participant.objects.filter(trial=t)", False),
        ("Visit.objects.filter(participant=p)", False),
        ("FormRecord.objects.get(pk=1)", False),  # outside a view or API module
        ("trial.sites.filter(code=c).first()", False),
    ):
        call = ast.parse(source, mode="eval").body
        assert isinstance(call, ast.Call)
        assert _loads_one_row(call) is caught, source
    for source in (
        "get_object_or_404(AdverseEvent, pk=1, participant=p)",
        "Query.objects.select_related('form').get(pk=1)",
        "FormRecord.objects.filter(pk=1).first()",
    ):
        call = ast.parse(source, mode="eval").body
        assert isinstance(call, ast.Call)
        assert _loads_one_row(call, MODELS | PARTICIPANT_ROWS), source
    assert _answers_requests("capture/oversight_views.py") and _answers_requests("capture/api.py")
    assert not _answers_requests("capture/services.py")
