"""Load protocol files into the database: one Trial per file, its registry locations as sites."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.db import transaction

from trialkit.protocol import load_protocol, protocol_files
from trialkit.schedule.diary import country_time_zone
from trialkit.server.audit.service import record_event
from trialkit.server.trials.models import Site, Trial


@transaction.atomic
def load_protocols(directory: Path | None = None) -> list[Trial]:
    trials = []
    for path in protocol_files(directory):
        # Parsed once per file version (the loader caches by path and modification time).
        protocol = load_protocol(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        r = protocol.registry
        trial, created = Trial.objects.get_or_create(
            nct_id=protocol.id,
            defaults={"acronym": r.acronym or "", "title": r.brief_title, "protocol_sha256": digest},
        )
        if not created and trial.protocol_sha256 != digest:
            before = {"protocol_sha256": trial.protocol_sha256}
            trial.acronym, trial.title, trial.protocol_sha256 = r.acronym or "", r.brief_title, digest
            trial.save()
            record_event(
                actor=None,
                action="protocol_update",
                object_type="trial",
                object_id=trial.nct_id,
                trial_id=trial.id,
                before=before,
                after={"protocol_sha256": digest},
            )
        elif created:
            record_event(
                actor=None,
                action="protocol_load",
                object_type="trial",
                object_id=trial.nct_id,
                trial_id=trial.id,
                after={"protocol_sha256": digest, "file": path.name},
            )
        for loc in r.locations:
            Site.objects.get_or_create(
                trial=trial,
                code=loc.id,
                defaults={
                    "name": loc.name,
                    "city": loc.city or "",
                    "country": loc.country or "",
                    "status": r.overall_status.label,
                    "time_zone": country_time_zone(loc.country or ""),
                },
            )
        trials.append(trial)
    return trials
