"""Benchmark: peak memory of the analysis-table export for 500 and for 5,000 participants.

A fresh SQLite database (temporary folder) gets N randomized participants with NIHSS and mRS at
three visits each and one adverse event, written with bulk inserts. Then the CSV export's own path
runs (the one extract, ``exports.extract.iter_chunks``, into
``trialkit.analysis.trial_data.write_tables``, unblinded) under tracemalloc. The chunked reads and
the row-by-chunk writes should hold the peak flat: the ratio of the two peaks, not 10, is the result.
(ODM and SDTM are built from all records at once, so their memory grows with the trial.)

    python bench/export_memory.py [--sizes 500,5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

VISITS = ("baseline", "day7", "month3")


def _setup(work: Path) -> None:
    os.environ.update({"DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}", "TRIALKIT_DATA_DIR": str(work / "data"),
                       "TRIALKIT_DEMO": "1", "TRIALKIT_LOG_FORMAT": "text"})
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
        t for t in load_protocols() if t.nct_id == "NCT04590118")
    site = Site.objects.filter(trial=trial).first()
    user, _ = get_user_model().objects.get_or_create(username="bench")
    now = datetime(2025, 3, 10, 9, tzinfo=timezone.utc)
    day0 = date(2025, 3, 10)
    protocol_visits = {v.id: v for v in trial.protocol.schedule.visits}
    screenings = ScreeningRecord.objects.bulk_create([
        ScreeningRecord(trial=trial, site=site, screening_number=f"S{i:05d}", screening_date=day0,
                        facts={"age": 40 + i % 30, "sex": "female" if i % 2 else "male", "nihss_total": 8 + i % 9},
                        outcome="enrolled", created_by=user) for i in range(start, start + n)], batch_size=1000)
    people = Participant.objects.bulk_create([
        Participant(trial=trial, site=site, screening=s, participant_number=f"P{i:05d}", enrolled_at=now,
                    randomized_at=now, anchor_date=day0, status="enrolled")
        for i, s in enumerate(screenings, start)], batch_size=1000)
    visits = Visit.objects.bulk_create([
        Visit(participant=p, visit_id=v, label=protocol_visits[v].label, kind=protocol_visits[v].kind,
              day=protocol_visits[v].day, order=k, target=day0 + timedelta(days=protocol_visits[v].day),
              earliest=day0, latest=day0 + timedelta(days=400), forms=["nihss", "mrs"],
              done_on=day0 + timedelta(days=protocol_visits[v].day))
        for p in people for k, v in enumerate(VISITS)], batch_size=2000)
    forms = []
    for i, visit in enumerate(visits):
        for instrument, total in (("nihss", 4 + i % 10), ("mrs", i % 6)):
            forms.append(FormRecord(participant_id=visit.participant_id, visit=visit, instrument=instrument,
                                    data={"note": "bench"}, status="complete", scores={"total": total},
                                    created_by=user, created_at=now, updated_by=user, updated_at=now))
    FormRecord.objects.bulk_create(forms, batch_size=2000)
    AdverseEvent.objects.bulk_create([
        AdverseEvent(participant=p, number=1, data={"term": "Headache", "ctcae_grade": 1 + i % 3,
                                                    "onset_date": "2025-03-12", "relatedness": "possible"},
                     status="complete", serious=i % 10 == 0, awareness_at=now, created_by=user, created_at=now,
                     **_ae_extra(now, user))
        for i, p in enumerate(people)], batch_size=1000)
    arms = [a.id for a in trial.protocol.arms]
    return trial, {p.pk: arms[i % 2] for i, p in enumerate(people)}


def _ae_extra(now, user) -> dict:
    from trialkit.server.capture.models import AdverseEvent

    names = {f.name for f in AdverseEvent._meta.fields}
    return {k: v for k, v in (("updated_at", now), ("updated_by", user)) if k in names}


def _measure(trial, arms: dict, out: Path) -> tuple[float, float, dict]:
    from trialkit.analysis.trial_data import write_tables
    from trialkit.server.exports.extract import iter_chunks

    tracemalloc.start()
    started = time.perf_counter()
    rows = write_tables(iter_chunks(trial, arms=arms), out, trial.protocol, unblinded=True)
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20, seconds, rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="500,5000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="trialkit-bench-export-"))
    _setup(work)
    peaks, arms, added = [], {}, 0
    for n in sorted(sizes):  # the trial grows to each size in turn
        trial, new = _populate(added, n - added)
        arms.update(new)
        added = n
        peak, seconds, rows = _measure(trial, arms, work / f"out-{n}")
        peaks.append(peak)
        print(f"  {n:>6} participants: peak {peak:7.1f} MiB traced, {seconds:5.1f} s, rows {rows}")
    if len(peaks) >= 2:
        print(f"  peak ratio {max(sizes)}/{min(sizes)} participants: {peaks[-1] / peaks[0]:.2f} "
              f"(participants ratio {max(sizes) / min(sizes):.0f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
