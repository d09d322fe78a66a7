"""FHIR R4: ResearchStudy, ResearchSubject and Consent out (blinded unless asked); labs from a Bundle of
LOINC-coded Observations in, as screening facts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from trialkit.cli.main import app
from trialkit.eligibility import screen
from trialkit.export.fhir import FhirInputError, build_bundle, labs_from_bundle
from trialkit.export.records import ExportData
from trialkit.protocol import load_protocol

HERE = Path(__file__).parent
EXAMPLES = HERE.parents[1] / "examples" / "screening"
runner = CliRunner()


def bundle() -> dict:
    return json.loads((HERE / "fhir" / "screening-labs.json").read_text(encoding="utf-8"))


def records(arms: bool) -> ExportData:
    subjects = [
        {
            "subject_id": "ASSIST-01-002",
            "site_id": "assist-01",
            "consent_date": "2025-03-04",
            "randomized_on": "2025-03-06",
            "status": "withdrawn",
            "end_date": "2025-05-01",
        },
        {
            "subject_id": "ASSIST-01-001",
            "site_id": "assist-01",
            "consent_date": "2025-03-03",
            "randomized_on": "2025-03-05",
        },
    ]
    if arms:
        subjects[0]["arm_id"], subjects[1]["arm_id"] = "placebo", "it-hmsc"
    return ExportData.model_validate({"subjects": subjects})


def resources(b: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == kind]


def test_the_bundle_holds_the_study_and_a_subject_and_consent_per_participant():
    from fhir.resources.R4B.bundle import Bundle

    protocol = load_protocol("NCT04590118")
    b = build_bundle(protocol, records(arms=True), unblinded=True)
    Bundle.model_validate(b)  # reads back as an R4(B) Bundle
    [study] = resources(b, "ResearchStudy")
    assert study["identifier"][0] == {"system": "https://clinicaltrials.gov", "value": "NCT04590118"}
    assert study["title"] == protocol.registry.brief_title
    assert study["phase"]["coding"][0]["code"] == "phase-1-phase-2"
    assert [a["name"] for a in study["arm"]] == ["it-hmsc", "placebo"]
    subjects = resources(b, "ResearchSubject")
    assert [s["identifier"][0]["value"] for s in subjects] == ["ASSIST-01-001", "ASSIST-01-002"]
    assert [s["status"] for s in subjects] == ["on-study", "withdrawn"]
    assert subjects[1]["period"] == {"start": "2025-03-06", "end": "2025-05-01"}
    consents = resources(b, "Consent")
    assert [c["dateTime"] for c in consents] == ["2025-03-03", "2025-03-04"]
    # References resolve inside the Bundle.
    urls = {e["fullUrl"] for e in b["entry"]}
    assert all(s["study"]["reference"] in urls and s["consent"]["reference"] in urls for s in subjects)


def test_a_blinded_export_never_carries_an_arm_even_if_the_records_hold_one():
    protocol = load_protocol("NCT04590118")
    # What names an arm: its id, label and description, dose labels, intervention ids and names.
    names = {a.id for a in protocol.arms} | {a.label for a in protocol.arms} | {a.description for a in protocol.arms}
    names |= {level.label for a in protocol.arms if a.dose for level in a.dose.levels}
    names |= {i.id for i in protocol.registry.interventions} | {i.name for i in protocol.registry.interventions}
    for data in (records(arms=False), records(arms=True)):
        text = json.dumps(build_bundle(protocol, data, unblinded=False), ensure_ascii=False).lower()
        assert "assignedarm" not in text and "actualarm" not in text and '"arm"' not in text
        assert [n for n in names if n.lower() in text] == []
    unblinded = build_bundle(protocol, records(arms=True), unblinded=True)
    assert [s["assignedArm"] for s in resources(unblinded, "ResearchSubject")] == ["it-hmsc", "placebo"]
    # Asked unblinded, but the records are blinded: still no arm.
    assert "assignedArm" not in json.dumps(build_bundle(protocol, records(arms=False), unblinded=True))


def test_the_export_command_is_blinded_unless_asked(tmp_path):
    data = tmp_path / "records.json"
    data.write_text(records(arms=True).model_dump_json(), encoding="utf-8")
    out = tmp_path / "bundle.json"
    result = runner.invoke(
        app,
        ["export", "fhir", "--protocol", "NCT04590118", "--data", str(data), "--output", str(out), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["blinded"] is True
    assert "assignedArm" not in out.read_text(encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "export",
            "fhir",
            "--protocol",
            "NCT04590118",
            "--data",
            str(data),
            "--output",
            str(out),
            "--unblinded",
            "--format",
            "json",
        ],
    )
    assert json.loads(result.stdout)["blinded"] is False and "assignedArm" in out.read_text(encoding="utf-8")


def test_labs_are_read_by_loinc_with_units_and_the_uln_of_the_reference_range():
    imported = labs_from_bundle(bundle())
    labs = imported.facts["labs"]
    assert labs["ast"] == {"value": 0.5, "unit": "µkat/L", "uln": 40, "uln_unit": "U/L"}
    assert labs["bilirubin"] == {"value": 13.7, "unit": "µmol/L", "uln": 20.5}
    assert "uln" not in labs["albumin"]
    assert imported.facts["serology"] == dict.fromkeys(
        ("hbsag", "hbeag", "anti_hbe", "anti_hbc", "hcv", "hiv", "rpr"), "negative"
    )
    skipped = {s["observation"].split("/")[1].rstrip(")"): s["why"] for s in imported.skipped}
    assert set(skipped) == {"ast-prelim", "ast-old", "hr"}


def test_imported_labs_screen_like_typed_ones():
    """AST 0.5 µkat/L = 30 U/L against ULN 40 U/L is 0.75×ULN (0.5 × 60 / 40); bilirubin 13.7/20.5
    = 0.67×ULN; creatinine 80/106 = 0.75×ULN."""
    facts = json.loads((EXAMPLES / "assist-eligible.json").read_text(encoding="utf-8"))
    facts.pop("labs"), facts.pop("serology")
    facts.update(labs_from_bundle(bundle()).facts)
    result = screen(load_protocol("NCT04590118"), facts)
    organ = result.criterion("inc-organ-function")
    assert organ.status == "pass", organ.reason
    assert "0.75×ULN (ULN 40 U/L)" in organ.reason and "0.67×ULN" in organ.reason
    assert result.criterion("exc-serology").status == "pass"


def test_the_later_of_two_dated_results_is_taken():
    b = bundle()
    later = copy.deepcopy(b["entry"][18])  # ast-old, 3 µkat/L
    later["resource"].update(id="ast-new", effectiveDateTime="2025-03-03T08:00:00Z")
    b["entry"].append(later)
    assert labs_from_bundle(b).facts["labs"]["ast"]["value"] == 3


def test_the_command_refuses_an_implausible_uln_naming_the_observation(tmp_path):
    b = bundle()
    del b["entry"][0]["resource"]["referenceRange"][0]["high"]["unit"]
    del b["entry"][0]["resource"]["referenceRange"][0]["high"]["code"]  # ULN 40 read in µkat/L
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(b), encoding="utf-8")
    result = runner.invoke(app, ["facts", "from-fhir", str(path)])
    assert result.exit_code == 2
    assert "labs.ast.uln (from entry.0 (Observation/ast))" in result.stderr
    assert "not a plausible upper limit of normal" in result.stderr


def test_the_command_writes_facts_that_screen(tmp_path):
    facts = json.loads((EXAMPLES / "assist-eligible.json").read_text(encoding="utf-8"))
    facts.pop("labs"), facts.pop("serology")
    base = tmp_path / "facts.json"
    base.write_text(json.dumps(facts), encoding="utf-8")
    out = tmp_path / "screening.json"
    result = runner.invoke(
        app, ["facts", "from-fhir", str(HERE / "fhir" / "screening-labs.json"), "--merge", str(base), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    screened = runner.invoke(app, ["screen", "-p", "NCT04590118", "-i", str(out), "-f", "json"])
    assert screened.exit_code == 0, screened.output
    assert json.loads(screened.stdout)["results"][0]["verdict"] == "eligible"


@pytest.mark.parametrize(
    "content, message",
    [
        (b"not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b'{"resourceType": "Patient"}', "a FHIR Bundle is expected"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Observation", '
            b'"id": "x", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "1920-8"}]}}}]}',
            "ast: a valueQuantity with a value is needed",
        ),
    ],
)
def test_a_bad_bundle_exits_2_with_a_message(tmp_path, content, message):
    path = tmp_path / "bundle.json"
    path.write_bytes(content)
    result = runner.invoke(app, ["facts", "from-fhir", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_a_bundle_that_is_not_valid_fhir_is_refused_naming_the_element():
    with pytest.raises(FhirInputError) as info:
        labs_from_bundle(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": {"resourceType": "Observation", "status": "final", "valueQuantity": {"value": "abc"}}}
                ],
            }
        )
    assert {where for where, _ in info.value.errors} == {
        "entry.0.resource.code",
        "entry.0.resource.valueQuantity.value",
    }
