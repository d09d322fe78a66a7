"""``trialkit worker``: run queued jobs until stopped (SIGTERM or Ctrl-C finishes the current job first).

Besides running tasks (django-tasks-db's worker loop), every worker keeps house from a thread:
it records that it is alive, gives up on jobs whose worker died (``runner.reap_stale``) and queues
the periodic jobs whose time has come. When it starts it removes partial outputs of dead jobs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.crypto import get_random_string

from trialkit.server.jobs import builtin, runner
from trialkit.server.jobs.models import WorkerProcess
from trialkit.server.jobs.tasks import WORKER_ID_ENV

log = logging.getLogger("trialkit.worker")

HOUSEKEEPING_SECONDS = 5.0


def housekeeping(worker_id: str, stop: threading.Event, every: float = HOUSEKEEPING_SECONDS) -> None:
    last_schedule = None
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                now = timezone.now()
                WorkerProcess.objects.filter(pk=worker_id).update(seen_at=now)
                runner.reap_stale(now)
                if last_schedule is None or now - last_schedule >= builtin.SCHEDULE_EVERY:
                    builtin.schedule_due(now)
                    last_schedule = now
            except Exception:  # keep the worker's house next time; never kill the worker for it
                log.exception("worker housekeeping failed")
            stop.wait(every)
    finally:
        connection.close()


class Command(BaseCommand):
    help = "Run queued jobs (reports, exports, audit checkpoints, notifications) until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="seconds to wait when the queue is empty before looking again (default 1)",
        )
        parser.add_argument("--queue", default="default", help="the queue to take jobs from (default: default)")
        parser.add_argument("--max-tasks", type=int, default=None, help="exit after running this many tasks")
        parser.add_argument("--batch", action="store_true", help="run what is queued, then exit")

    def handle(self, *args, interval: float, queue: str, max_tasks, batch: bool, **options):
        from django_tasks_db.management.commands.db_worker import Worker

        worker_id = f"{socket.gethostname()[:40]}:{os.getpid()}:{get_random_string(6)}"[:64]
        os.environ[WORKER_ID_ENV] = worker_id
        now = timezone.now()
        WorkerProcess.objects.update_or_create(
            pk=worker_id,
            defaults={"hostname": socket.gethostname()[:200], "pid": os.getpid(), "started_at": now, "seen_at": now},
        )
        swept = runner.sweep_orphans()
        runner.reap_stale()
        log.info(
            "worker %s started; %d orphaned output(s) removed", worker_id, len(swept), extra={"worker_id": worker_id}
        )
        stop = threading.Event()
        keeper = threading.Thread(target=housekeeping, args=(worker_id, stop), name="worker-housekeeping", daemon=True)
        keeper.start()
        worker = Worker(
            queue_names=queue.split(","),
            interval=interval,
            batch=batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=max_tasks,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        worker.configure_signals()
        try:
            worker.run()
        finally:
            stop.set()
            keeper.join(timeout=HOUSEKEEPING_SECONDS + 5)
            close_old_connections()
            WorkerProcess.objects.filter(pk=worker_id).delete()
            log.info("worker %s stopped", worker_id, extra={"worker_id": worker_id})
