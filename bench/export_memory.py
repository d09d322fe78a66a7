"""Benchmark: peak memory of each export format for 500 and for 5,000 participants.

A fresh SQLite database (temporary folder) gets N randomized participants with NIHSS (every item)
and mRS at three visits each and one adverse event, written with bulk inserts. Then each format is
written the way the export job writes it (exports.services.run_export), unblinded, under
tracemalloc: the one extract (``exports.extract.iter_chunks``) read a chunk of participants at a
time; CSV: the analysis tables written from each chunk (``analysis.trial_data.write_tables``);
ODM, SDTM, FHIR: the chunks spooled to a file (``export.stream.ChunkSpool``), then written from it
(``export.odm.write_odm``, ``export.sdtm_package.write_package_chunks``,
``export.fhir.write_bundle``). The result is the ratio of the two peaks of each format: about 1
when memory is flat, 10 when it grows with the trial.

    python bench/export_memory.py [--sizes 500,5000] [--formats csv,odm,sdtm,fhir]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

VISITS = ("baseline", "day7", "month3")


def _setup(work: Path) -> None:
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "TRIALKIT_DATA_DIR": str(work / "data"),
            "TRIALKIT_DEMO": "1",
            "TRIALKIT_LOG_FORMAT": "text",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trialkit.server.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _populate(start: int, n: int):
    """Participants start..start+n-1 of ASSIST (NCT04590118), alternating arms; returns the trial and
    the arm map of those added."""
    from django.contrib.auth import get_user_model

    from trialkit.server.capture.models import AdverseEvent, FormRecord, Visit
    from trialkit.server.participants.models import Participant, ScreeningRecord
    from trialkit.server.trials.loading import load_protocols
    from trialkit.server.trials.models import Site, Trial

    trial = Trial.objects.filter(nct_id="NCT04590118").first() or next(
        t for t in load_protocols() if t.nct_id == "NCT04590118"
    )
    site = Site.objects.filter(trial=trial).first()
    user, _ = get_user_model().objects.get_or_create(username="bench")
    now = datetime(2025, 3, 10, 9, tzinfo=UTC)
    day0 = date(2025, 3, 10)
    protocol_visits = {v.id: v for v in trial.protocol.schedule.visits}
    screenings = ScreeningRecord.objects.bulk_create(
        [
            ScreeningRecord(
                trial=trial,
                site=site,
                screening_number=f"S{i:05d}",
                screening_date=day0,
                facts={"age": 40 + i % 30, "sex": "female" if i % 2 else "male", "nihss_total": 8 + i % 9},
                outcome="enrolled",
                created_by=user,
            )
            for i in range(start, start + n)
        ],
        batch_size=1000,
    )
    people = Participant.objects.bulk_create(
        [
            Participant(
                trial=trial,
                site=site,
                screening=s,
                participant_number=f"P{i:05d}",
                enrolled_at=now,
                randomized_at=now,
                anchor_date=day0,
                status="enrolled",
            )
            for i, s in enumerate(screenings, start)
        ],
        batch_size=1000,
    )
    visits = Visit.objects.bulk_create(
        [
            Visit(
                participant=p,
                visit_id=v,
                label=protocol_visits[v].label,
                kind=protocol_visits[v].kind,
                day=protocol_visits[v].day,
                order=k,
                target=day0 + timedelta(days=protocol_visits[v].day),
                earliest=day0,
                latest=day0 + timedelta(days=400),
                forms=["nihss", "mrs"],
                done_on=day0 + timedelta(days=protocol_visits[v].day),
            )
            for p in people
            for k, v in enumerate(VISITS)
        ],
        batch_size=2000,
    )
    from trialkit.instruments import get_instrument

    nihss_items = [item.key for item in get_instrument("nihss").items]
    forms = []
    for i, visit in enumerate(visits):
        nihss = {key: (i + k) % 2 for k, key in enumerate(nihss_items)}
        for instrument, data, total in (("nihss", nihss, sum(nihss.values())), ("mrs", {"score": i % 6}, i % 6)):
            forms.append(
                FormRecord(
                    participant_id=visit.participant_id,
                    visit=visit,
                    instrument=instrument,
                    data=data,
                    status="complete",
                    scores={"total": total},
                    created_by=user,
                    created_at=now,
                    updated_by=user,
                    updated_at=now,
                )
            )
    FormRecord.objects.bulk_create(forms, batch_size=2000)
    AdverseEvent.objects.bulk_create(
        [
            AdverseEvent(
                participant=p,
                number=1,
                data={
                    "term": "Headache",
                    "ctcae_grade": 1 + i % 3,
                    "onset_date": "2025-03-12",
                    "relatedness": "possible",
                },
                status="complete",
                serious=i % 10 == 0,
                awareness_at=now,
                created_by=user,
                created_at=now,
                **_ae_extra(now, user),
            )
            for i, p in enumerate(people)
        ],
        batch_size=1000,
    )
    arms = [a.id for a in trial.protocol.arms]
    return trial, {p.pk: arms[i % 2] for i, p in enumerate(people)}


def _ae_extra(now, user) -> dict:
    from trialkit.server.capture.models import AdverseEvent

    names = {f.name for f in AdverseEvent._meta.fields}
    return {k: v for k, v in (("updated_at", now), ("updated_by", user)) if k in names}


FORMATS = ("csv", "odm", "sdtm", "fhir")


def _export(fmt: str, trial, arms: dict, out: Path) -> int:
    """Write one format as the export job does; returns its rows (forms, entries, records)."""
    from trialkit.analysis.trial_data import write_tables
    from trialkit.export.fhir import write_bundle
    from trialkit.export.odm import write_odm
    from trialkit.export.sdtm_package import write_package_chunks
    from trialkit.export.stream import ChunkSpool
    from trialkit.server.exports.extract import iter_chunks

    out.mkdir(parents=True, exist_ok=True)
    chunks = iter_chunks(trial, arms=arms)
    if fmt == "csv":
        return sum(write_tables(chunks, out / "data", trial.protocol, unblinded=True).values())
    spool = ChunkSpool(out / "records.jsonl")
    for chunk in chunks:
        spool.add(chunk)
    if fmt == "odm":
        with open(out / "odm.xml", "w", encoding="utf-8") as handle:
            return write_odm(trial.protocol, spool, handle)
    if fmt == "fhir":
        with open(out / "bundle.json", "w", encoding="utf-8") as handle:
            return write_bundle(trial.protocol, spool, handle, unblinded=True)
    written = write_package_chunks(trial.protocol, spool, out / "sdtm")
    return sum(rows for name, (_, rows) in written.items() if name.endswith(".xpt"))


def _measure(fmt: str, trial, arms: dict, out: Path) -> tuple[float, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    rows = _export(fmt, trial, arms, out)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, seconds, rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,5000")
    parser.add_argument("--formats", default=",".join(FORMATS))
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    formats = [f for f in args.formats.split(",") if f]
    work = Path(tempfile.mkdtemp(prefix="trialkit-bench-export-"))
    _setup(work)
    peaks: dict[str, list[float]] = {fmt: [] for fmt in formats}
    arms: dict = {}
    added = 0
    print("  peak memory (tracemalloc) of each export format, unblinded:")
    for n in sizes:  # the trial grows to each size in turn
        trial, new = _populate(added, n - added)
        arms.update(new)
        added = n
        for fmt in formats:
            peak, seconds, rows = _measure(fmt, trial, arms, work / f"out-{n}-{fmt}")
            peaks[fmt].append(peak)
            print(f"  {fmt:<5} {n:>6} participants: peak {peak:7.1f} MiB, {seconds:6.1f} s, {rows} rows")
    if len(sizes) >= 2:
        for fmt in formats:
            print(
                f"  {fmt:<5} peak ratio {sizes[-1]}/{sizes[0]} participants: {peaks[fmt][-1] / peaks[fmt][0]:.2f} "
                f"(participants ratio {sizes[-1] / sizes[0]:.0f})"
            )
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
