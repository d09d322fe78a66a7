"""Background work for long operations (reports, exports): one runner for every kind of job.

A job is a database row that a page or an API client polls. The work runs in a thread started
once the request's transaction has committed the row. While it runs, a heartbeat writes the
row's ``heartbeat_at`` every ``HEARTBEAT_SECONDS``; a job left ``queued`` or ``running`` by a
server that stopped stops beating, and ``interrupt_stale`` marks it failed with a message that
says so, instead of leaving the user watching a bar that never moves.

Heartbeats use the wall clock, never a ``now`` a caller passes for the record, because they
answer "is a worker alive", not "when did this happen in the trial".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import close_old_connections, connection, models, transaction
from django.utils import timezone

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
# Six missed beats: a job this quiet has no worker left.
STALE_AFTER = timedelta(seconds=60)
INTERRUPTED = ("interrupted: the server stopped before this job finished, so it has no result; "
               "start it again")

ACTIVE = ("queued", "running")

_threads: dict[str, threading.Thread] = {}


@contextmanager
def heartbeat(model: type[models.Model], pk: int, *, every: float | None = None):
    """Write ``heartbeat_at`` on the row every ``every`` seconds until the block ends."""
    interval = HEARTBEAT_SECONDS if every is None else every
    if connection.in_atomic_block:
        # The caller's transaction has not committed the row, so no other connection could
        # write to it (and on SQLite it would wait on the caller's lock): run without a beat.
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                try:
                    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now())
                except Exception:  # a missed beat is harmless; the next one may succeed
                    log.warning("heartbeat of %s %s failed", model.__name__, pk, exc_info=True)
        finally:
            connection.close()

    ticker = threading.Thread(target=beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join(timeout=max(interval, 1.0) + 5)


def start_after_commit(name: str, work: Callable[[], object]) -> None:
    """Run ``work`` in a thread of its own once the surrounding transaction commits.

    ``work`` records its own outcome on its job row; an exception escaping it is logged here so
    that a thread never dies silently.
    """
    def run() -> None:
        close_old_connections()
        try:
            work()
        except Exception:
            log.exception("background job %s failed", name)
        finally:
            connection.close()

    def start() -> None:
        thread = threading.Thread(target=run, name=name, daemon=True)
        _threads[name] = thread
        thread.start()

    transaction.on_commit(start)


def wait_for(name: str, timeout: float = 60) -> bool:
    """Join a job's thread (the command line, tests); True once it has finished."""
    thread = _threads.get(name)
    if thread is None:
        return True
    thread.join(timeout)
    if thread.is_alive():
        return False
    _threads.pop(name, None)
    return True


def interrupt_stale(queryset: models.QuerySet, *, message_field: str, now: datetime | None = None) -> int:
    """Mark the queued or running jobs of ``queryset`` that have stopped beating as failed.

    Returns how many were marked. A single UPDATE guarded by the status and the heartbeat, so a
    job that beats or finishes meanwhile is left alone.
    """
    moment = now or timezone.now()
    stale = queryset.filter(status__in=ACTIVE, heartbeat_at__lt=moment - STALE_AFTER)
    count = stale.update(status="failed", finished_at=moment, **{message_field: INTERRUPTED})
    if count:
        log.warning("%d %s job(s) marked interrupted", count, queryset.model.__name__)
    return count
