"""``trialkit protocol import``: a draft protocol from a ClinicalTrials.gov API v2 record.

The records under registry_records/ are hand-made from the registry pages of both seed trials
(shared/seeds/), in the API v2 structure; the draft's registry facts are checked against the
shipped protocol files, which were written by hand from the same pages.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.protocol import load_protocol
from trialkit.protocol.loader import ProtocolError, load_protocol_file
from trialkit.protocol.registry_import import RegistryRecordError, draft_protocol

RECORDS = Path(__file__).parent / "registry_records"
runner = CliRunner()


def record(name: str) -> dict:
    return json.loads((RECORDS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("nct", ["NCT04590118", "NCT07197606"])
def test_the_draft_carries_the_registry_facts_of_our_protocol_file(nct):
    draft = yaml.safe_load(draft_protocol(record(nct)).yaml())
    ours = load_protocol(nct)
    reg, mine = ours.registry, draft["registry"]
    for field in (
        "nct_id",
        "org_study_id",
        "brief_title",
        "sponsor",
        "study_type",
        "sex",
        "minimum_age_years",
        "maximum_age_years",
        "healthy_volunteers",
        "brief_summary",
        "detailed_description",
        "conditions",
    ):
        assert mine[field] == getattr(reg, field), field
    assert mine["overall_status"] == reg.overall_status.value
    assert mine["phases"] == [p for p in reg.phases]
    assert mine["funder_types"] == reg.funder_types
    assert mine["enrollment"] == reg.enrollment.model_dump()
    assert [(i["type"], i["name"]) for i in mine["interventions"]] == [(i.type, i.name) for i in reg.interventions]
    assert [c["name"] for c in mine["central_contacts"]] == [c.name for c in reg.central_contacts]
    design = draft["design"]
    assert (
        design["primary_purpose"],
        design["allocation"],
        design["intervention_model"],
        design["masking"]["masking"],
    ) == (
        ours.design.primary_purpose,
        ours.design.allocation,
        ours.design.intervention_model,
        ours.design.masking.masking,
    )
    assert [(a["label"], a["type"], a["description"]) for a in draft["arms"]] == [
        (a.label, a.type, a.description) for a in ours.arms
    ]
    # Each arm names the intervention our file gives it (ids differ: ours are hand-chosen).
    names = {i["id"]: i["name"] for i in mine["interventions"]}
    ours_names = {i.id: i.name for i in reg.interventions}
    assert [[names[i] for i in a["interventions"]] for a in draft["arms"]] == [
        [ours_names[i] for i in a.interventions] for a in ours.arms
    ]
    assert [(c["type"], c["text"]) for c in draft["eligibility"]["criteria"]] == [
        (c.type, c.text) for c in ours.eligibility.criteria
    ]


def test_what_the_registry_does_not_say_is_marked_todo_and_the_draft_does_not_validate(tmp_path):
    draft = draft_protocol(record("NCT07197606"))
    data = yaml.safe_load(draft.yaml())
    for section in ("consent", "randomization", "schedule", "analysis_plan"):
        assert "TODO" in data[section] and section in draft.todos
    assert all("TODO" in c for c in data["eligibility"]["criteria"])
    assert all("TODO" in a for a in data["arms"])
    # The registry says TRIPLE but names no roles: the masked roles are a TODO, not a guess.
    assert data["design"]["masking"]["who_masked"] == [] and "TODO" in data["design"]["masking"]
    path = tmp_path / "NCT07197606.yaml"
    path.write_text(draft.yaml(), encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol_file(path)
    located = [i for i in info.value.issues if "TODO" in (i.path or "") or "TODO" in i.message]
    assert located and all(i.line for i in located)


def test_every_module_of_a_full_record_is_kept_verbatim():
    draft = draft_protocol(record("full-record"))
    data = yaml.safe_load(draft.yaml())
    reg = data["registry"]
    assert reg["secondary_ids"] == ["2026-000123-45"] and reg["acronym"] == "EXAMPLE"
    assert reg["official_title"] == "A Made-up Registry Record, Used Only to Test the Import of Every Module"
    assert reg["collaborators"] == ["Example Cell Therapy Inc."] and reg["funder_types"] == ["OTHER", "INDUSTRY"]
    assert reg["keywords"] == ["stroke", "cell therapy"] and reg["maximum_age_years"] == 80
    assert reg["interventions"][0] == {
        "id": "cells",
        "type": "BIOLOGICAL",
        "name": "Cells",
        "description": "1×10^6 cells/kg",
    }
    assert reg["central_contacts"] == [
        {"name": "Ann Example, MD", "role": "CONTACT", "phone": "+1 555 0100", "email": "ann@example.org"},
        {"name": "Bob Example, PhD", "role": "PRINCIPAL_INVESTIGATOR, Example University Hospital"},
    ]
    assert reg["locations"][0] == {
        "id": "site-01",
        "name": "Example University Hospital",
        "city": "Springfield",
        "state": "Illinois",
        "country": "United States",
        "status": "RECRUITING",
        "contacts": [{"name": "Carol Example", "role": "CONTACT", "email": "carol@example.org"}],
    }
    assert reg["locations"][1]["name"].startswith("TODO")
    assert data["design"]["masking"] == {"masking": "DOUBLE", "who_masked": ["PARTICIPANT", "OUTCOMES_ASSESSOR"]}
    assert [c["text"] for c in data["eligibility"]["criteria"]] == [
        "Age 18 to 80 years.",
        "Laboratory values:\n\nAST ≤ 2.5×ULN\nPlatelets ≥ 100,000/μL",
        "Pregnancy.",
    ]
    assert [(e["kind"], e["title"], e.get("description")) for e in data["endpoints"]] == [
        ("primary", "Fugl-Meyer upper extremity score", "Change from baseline.\n\nTime frame: 90 days"),
        ("secondary", "Modified Rankin Scale", "Time frame: 1 year"),
    ]
    assert "start_date" not in reg and any("2026-03" in n for n in draft.notes)


def test_a_record_without_its_required_parts_names_each_path():
    with pytest.raises(RegistryRecordError) as info:
        draft_protocol(
            {
                "protocolSection": {
                    "identificationModule": {"nctId": "NCT123"},
                    "armsInterventionsModule": {"armGroups": "two"},
                }
            }
        )
    paths = dict(info.value.errors)
    assert "not an NCT number" in paths["protocolSection.identificationModule.nctId"]
    assert paths["protocolSection.identificationModule.briefTitle"] == "required"
    assert paths["protocolSection.statusModule.overallStatus"] == "required"
    assert paths["protocolSection.armsInterventionsModule.armGroups"].startswith("must be a list")
    assert paths["protocolSection.eligibilityModule.eligibilityCriteria"] == "required"
    with pytest.raises(RegistryRecordError):
        draft_protocol([1, 2])


def test_the_command_writes_the_draft_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "draft.yaml"
    result = runner.invoke(app, ["protocol", "import", str(RECORDS / "NCT04590118.json"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["registry"]["nct_id"] == "NCT04590118"
    again = runner.invoke(app, ["protocol", "import", str(RECORDS / "NCT04590118.json"), "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.stderr
    printed = runner.invoke(app, ["protocol", "import", str(RECORDS / "NCT07197606.json"), "--format", "json"])
    summary = json.loads(printed.stdout)
    assert summary["nct_id"] == "NCT07197606" and "randomization" in summary["todos"]
    assert yaml.safe_load(summary["draft"])["registry"]["sponsor"] == "Shanghai IxCell Biotechnology"


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"protocolSection": ', "not valid JSON (Expecting value at line 1"),
        ('{"protocolSection": {"x": "caf\u00e9"}}'.encode("latin-1"), "not UTF-8 text"),
        (b'{"studies": []}', "holds 0 studies"),
        (b'{"protocolSection": {}}', "identificationModule: required"),
    ],
)
def test_a_bad_file_exits_2_with_a_message_and_no_traceback(tmp_path, content, message):
    path = tmp_path / "record.json"
    path.write_bytes(content)
    result = runner.invoke(app, ["protocol", "import", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_missing_file_exits_2(tmp_path):
    result = runner.invoke(app, ["protocol", "import", str(tmp_path / "nope.json")])
    assert result.exit_code == 2 and "no such file" in result.stderr
