"""The streaming writers (ODM, SDTM package, FHIR Bundle) write from chunks of records: the files
are the same, byte for byte, whether the records come in one chunk or a subject at a time, and a
writer holds no more than the chunk it is writing."""

from __future__ import annotations

import io
import weakref
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from trialkit.export import (
    ExportAdverseEvent,
    ExportData,
    ExportExposure,
    ExportForm,
    ExportLab,
    ExportScreening,
    ExportSignature,
    ExportSubject,
)
from trialkit.export.fhir import build_bundle, write_bundle
from trialkit.export.odm import build_odm, write_odm
from trialkit.export.sdtm_package import build_package, write_datasets, write_package, write_package_chunks
from trialkit.export.stream import ChunkSpool
from trialkit.instruments import get_instrument
from trialkit.protocol import load_protocol

CREATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SIGNED = datetime(2026, 2, 20, 9, 30, tzinfo=UTC)


def _value(item, i: int):
    if item.choices:
        return item.choices[i % len(item.choices)].code
    kind = item.type.value
    if kind in ("integer", "number"):
        low = item.minimum if item.minimum is not None else 0
        value = low + i % 3
        return value + 0.25 if kind == "number" else int(value)
    if kind == "date":
        return "2026-02-12"
    if kind == "boolean":
        return bool(i % 2)
    return f"note {i} — ≥ 2 µg, café"


def _trial(nct: str, subjects: int, unblinded: bool) -> ExportData:
    """Every scheduled form of every visit with a value for each item, signatures (valid and not),
    drafts, adverse events, doses, labs and screening records: a few subjects of ``nct``."""
    protocol = load_protocol(nct)
    arms = [a.id for a in protocol.arms]
    site = protocol.sites[0].code if getattr(protocol, "sites", None) else "site-01"
    data = ExportData()
    for n in range(subjects):
        sid = f"S{n:03d}"
        anchor = date(2026, 2, 1) + timedelta(days=n)
        data.subjects.append(
            ExportSubject(
                subject_id=sid,
                site_id=site,
                sex="F" if n % 2 else "M",
                age=50 + n,
                consent_date=anchor - timedelta(days=3),
                randomized_on=anchor,
                anchor_date=anchor,
                status="completed" if n % 3 == 0 else "ongoing",
                end_date=anchor + timedelta(days=90) if n % 3 == 0 else None,
                arm_id=arms[n % len(arms)] if unblinded else None,
                country="SWE",
                baseline_nihss=8 + n,
            )
        )
        for visit in protocol.schedule.visits:
            for form in visit.forms:
                inst = get_instrument(form)
                if form == "labs":
                    continue  # labs below, as the laboratory reported them
                values = {item.key: _value(item, n + k) for k, item in enumerate(inst.items)}
                signatures = []
                if n % 2 == 0:
                    signatures.append(
                        ExportSignature(
                            signer_id=f"inv{n % 3}",
                            signer_name=f"Dr {n % 3}",
                            signed_at=SIGNED,
                            meaning="I confirm the data" if n % 4 else "Reviewed",
                        )
                    )
                if n % 3 == 1:
                    signatures.append(
                        ExportSignature(
                            signer_id="ines",
                            signer_name="Dr Ines",
                            signed_at=SIGNED,
                            meaning="Reviewed",
                            scope="visit",
                            valid=False,
                            note="changed after signing",
                        )
                    )
                data.forms.append(
                    ExportForm(
                        subject_id=sid,
                        visit_id=visit.id,
                        form=inst.name,
                        values=values,
                        collected_on=anchor + timedelta(days=max(visit.day, 0)),
                        status="draft" if (n + len(values)) % 5 == 0 else "complete",
                        signatures=signatures,
                    )
                )
        data.adverse_events.append(
            ExportAdverseEvent(
                subject_id=sid,
                seq=1,
                term="Headache",
                onset_date=anchor + timedelta(days=2),
                grade=1 + n % 3,
                serious=n % 4 == 0,
                related="possible",
            )
        )
        data.exposures.append(
            ExportExposure(subject_id=sid, administered_on=anchor, weight_kg=60 + n, volume_ml=60 + n)
        )
        data.labs.append(
            ExportLab(
                subject_id=sid,
                analyte="ast",
                value=0.5 + n / 10,
                unit="µkat/L",
                uln=40,
                uln_unit="U/L",
                collected_on=anchor - timedelta(days=2),
            )
        )
    data.screenings = [
        ExportScreening(screening_id=f"SCR{k:03d}", outcome="enrolled" if k < subjects else "screen_failed")
        for k in range(subjects + 2)
    ]
    return data


def _chunks(data: ExportData, size: int) -> Iterator[ExportData]:
    """``data`` as the extract yields it: ``size`` subjects with all their records, then the screenings."""
    ids = [s.subject_id for s in data.subjects]
    for start in range(0, len(ids), size):
        group = set(ids[start : start + size])

        def of(records):
            return [r for r in records if r.subject_id in group]

        yield ExportData(
            subjects=of(data.subjects),
            forms=of(data.forms),
            adverse_events=of(data.adverse_events),
            exposures=of(data.exposures),
            labs=of(data.labs),
        )
    for start in range(0, len(data.screenings), size):
        yield ExportData(screenings=data.screenings[start : start + size])


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


CASES = [("NCT04590118", False), ("NCT07197606", True)]


@pytest.mark.slow
@pytest.mark.parametrize(("nct", "unblinded"), CASES)
def test_the_files_written_a_subject_at_a_time_are_those_of_all_records_at_once(tmp_path, nct, unblinded):
    protocol = load_protocol(nct)
    data = _trial(nct, 4, unblinded)
    assert data.blinded is not unblinded

    whole_odm = build_odm(protocol, data, created=CREATED)
    whole_bundle = build_bundle(protocol, data, unblinded=unblinded)
    # The reference: every domain in memory, each XPT written by pyreadstat from its whole frame.
    write_datasets(protocol, build_package(protocol, data), tmp_path / "whole", blinded=data.blinded, created=CREATED)
    write_package(protocol, data, tmp_path / "one-chunk", created=CREATED)
    assert _files(tmp_path / "one-chunk") == _files(tmp_path / "whole")
    assert "<Signature>" in whole_odm and "Annotation" in whole_odm and "FormRepeatKey" not in whole_odm[:0]

    for size in (1,):
        spool = ChunkSpool(tmp_path / f"spool-{size}.jsonl")
        for chunk in _chunks(data, size):
            spool.add(chunk)
        assert spool.chunks > 2
        odm = io.StringIO()
        assert write_odm(protocol, spool, odm, created=CREATED) == len(data.forms)
        assert odm.getvalue() == whole_odm
        bundle = io.StringIO()
        entries = write_bundle(protocol, spool, bundle, unblinded=unblinded)
        assert bundle.getvalue() == __import__("json").dumps(whole_bundle, indent=2, ensure_ascii=False)
        assert entries == len(whole_bundle["entry"])
        written = write_package_chunks(protocol, spool, tmp_path / f"chunks-{size}", created=CREATED)
        assert _files(tmp_path / f"chunks-{size}") == _files(tmp_path / "whole")
        assert written["dm.xpt"][1] == len(data.subjects)
        assert not list((tmp_path / f"chunks-{size}").glob(".sdtm-*"))  # the scratch folder is gone


def test_a_generator_is_refused_by_the_writers_that_read_twice():
    protocol = load_protocol("NCT04590118")
    with pytest.raises(TypeError, match="read their chunks twice"):
        write_odm(protocol, _chunks(_trial("NCT04590118", 2, False), 1), io.StringIO())


class _Tracked(ExportData):
    """A chunk that can be watched (weakref) to see whether a writer still holds it."""


class _Source:
    """Chunks made on demand, one subject each; on every new chunk it checks that no chunk before
    the previous one is still alive, i.e. the writer let go of what it wrote (re-iterable). The
    records hold no reference cycles, so a chunk let go of is freed at once (reference counting)."""

    def __init__(self, data: ExportData):
        self.data = data
        self.held_back: list[int] = []
        self.handed_out = 0

    def __iter__(self) -> Iterator[ExportData]:
        alive: list[weakref.ref] = []
        for chunk in _chunks(self.data, 1):
            still = sum(1 for ref in alive[:-1] if ref() is not None)
            self.held_back.append(still)
            tracked = _Tracked.model_validate(chunk.model_dump())
            alive.append(weakref.ref(tracked))
            self.handed_out += 1
            yield tracked
            del tracked


@pytest.mark.slow
@pytest.mark.parametrize("writer", ["odm", "fhir", "sdtm"])
def test_the_writers_hold_one_chunk_at_a_time(tmp_path, writer):
    protocol = load_protocol("NCT04590118")
    source = _Source(_trial("NCT04590118", 4, True))
    if writer == "odm":
        write_odm(protocol, source, io.StringIO(), created=CREATED)
    elif writer == "fhir":
        write_bundle(protocol, source, io.StringIO(), unblinded=True)
    else:
        write_package_chunks(protocol, source, tmp_path, created=CREATED)
    assert source.handed_out >= 6
    assert max(source.held_back) == 0, source.held_back
