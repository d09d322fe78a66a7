"""The export job writes ODM, SDTM and FHIR from the spool of the records it read a chunk of
participants at a time; the files are those the core builds from all the records at once."""

from __future__ import annotations

import functools
import json

import pytest
from exports_checks import members
from exports_world import ENROLLED, NOW

from trialkit.export.fhir import build_bundle
from trialkit.export.odm import build_odm
from trialkit.export.sdtm_package import write_package
from trialkit.server.allocation.services import arms_by_participant
from trialkit.server.exports import extract, services

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("unblinded", [False, True])
def test_the_streamed_export_equals_the_files_of_all_records_at_once(world, monkeypatch, tmp_path, unblinded):
    trial = world["trial"]
    # One participant per chunk: every participant is read, spooled and written on its own.
    monkeypatch.setattr(extract, "iter_chunks", functools.partial(extract.iter_chunks, chunk_size=1))
    job = services.create_export(trial, None, formats=["odm", "sdtm", "fhir"], unblinded=unblinded, now=NOW)
    files = members(job.result_path)
    created = job.created_at

    arms = arms_by_participant(trial, None, system=True) if unblinded else None
    data = extract.select(trial, arms=arms)
    assert len(data.subjects) == ENROLLED and data.blinded is not unblinded
    assert files["odm.xml"] == build_odm(trial.protocol, data, created=created).encode("utf-8")
    bundle = build_bundle(trial.protocol, data, unblinded=unblinded)
    assert files["fhir/bundle.json"] == json.dumps(bundle, indent=2, ensure_ascii=False).encode("utf-8")
    written = write_package(trial.protocol, data, tmp_path / "sdtm", created=created)
    assert {n for n in files if n.startswith("sdtm/")} == {f"sdtm/{n}" for n in written}
    for name, path in written.items():
        assert files[f"sdtm/{name}"] == path.read_bytes(), name
    manifest = json.loads(files["manifest.json"])
    rows = {f["path"]: f["rows"] for f in manifest["files"]}
    assert rows["odm.xml"] == len(data.forms)
    assert rows["sdtm/dm.xpt"] == ENROLLED
    assert rows["fhir/bundle.json"] == len(bundle["entry"])
    assert not [n for n in files if "records.jsonl" in n or ".sdtm-" in n]  # the spool stays out of the archive
