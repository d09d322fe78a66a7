"""The one task of the queue: run a job row. Everything a job does is in its kind (jobs.kinds)."""

from __future__ import annotations

import os
import socket

from django.tasks import task

from trialkit.server.jobs import runner

# The worker command sets a stable id (host, process); tasks run elsewhere say "inline".
WORKER_ID_ENV = "TRIALKIT_WORKER_ID"


@task()
def run_job(job_id: int) -> str:
    worker = os.environ.get(WORKER_ID_ENV) or f"{socket.gethostname()}:{os.getpid()}"
    job = runner.execute(job_id, worker_id=worker)
    return job.status if job is not None else "gone"
