"""A protocol directory with the two seed trials and the fictional third one (NCT09999999), and
helpers that take a candidate through the real screening services."""

import shutil
from pathlib import Path

import pytest
from integration_cases import NOW, REPO, SCREENED_ON, THIRD


@pytest.fixture
def protocol_dir(tmp_path, monkeypatch):
    """TRIALKIT_PROTOCOL_DIR pointing at the seed protocols plus the third trial's file."""
    directory = tmp_path / "protocols"
    directory.mkdir()
    for path in (REPO / "protocols").glob("*.yaml"):
        shutil.copy(path, directory / path.name)
    shutil.copy(Path(__file__).parent / "protocols" / f"{THIRD}.yaml", directory / f"{THIRD}.yaml")
    monkeypatch.setenv("TRIALKIT_PROTOCOL_DIR", str(directory))
    return directory


@pytest.fixture
def third_trial(db, protocol_dir):
    """The fictional trial loaded from the directory, with a third site that only the database knows."""
    from trialkit.server.trials.loading import load_protocols
    from trialkit.server.trials.models import Site

    trials = {t.nct_id: t for t in load_protocols(protocol_dir)}
    assert set(trials) == {"NCT04590118", "NCT07197606", THIRD}
    trial = trials[THIRD]
    Site.objects.create(trial=trial, code="fict-03", name="Pretend Regional Hospital", country="Nowhere")
    return trial


@pytest.fixture
def site_staff(make_user):
    """site_staff(trial, code) -> (coordinator, investigator, pharmacist) of that site, made once."""
    made = {}

    def staff(trial, code):
        if (trial.pk, code) not in made:
            site = trial.sites.get(code=code)
            made[(trial.pk, code)] = (
                make_user("coordinator", trial, site=site),
                make_user("investigator", trial, site=site),
                make_user("unblinded_pharmacist", trial, site=site),
            )
        return made[(trial.pk, code)]

    return staff


@pytest.fixture
def screen_and_enroll(site_staff):
    """screen_and_enroll(trial, code, facts) -> Participant, through the screening services."""
    from trialkit.server.screening import services

    def run(trial, code, facts):
        coordinator, investigator, _ = site_staff(trial, code)
        site = trial.sites.get(code=code)
        record = services.create_screening(trial, site, coordinator, SCREENED_ON)
        record = services.update_facts(record, facts, coordinator)
        criteria = {c.id: c for c in trial.protocol.eligibility.criteria}
        for criterion_id in services.attestable_criteria(trial.protocol):
            services.record_attestation(
                record, criterion_id, criteria[criterion_id].type == "inclusion", investigator, now=NOW
            )
        record = services.get_record(trial, record.screening_number)
        assert record.verdict == "eligible", record.criteria_results
        services.record_consent(record, SCREENED_ON, "participant", coordinator, today=SCREENED_ON)
        return services.enroll(services.get_record(trial, record.screening_number), coordinator, NOW)

    return run
