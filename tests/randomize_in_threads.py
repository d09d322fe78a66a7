"""Fire the real randomization service from many threads at once (concurrency tests share this)."""

import threading
from datetime import timedelta

from django.db import connections

from trialkit.server.allocation import services
from trialkit.server.participants.models import Participant


def fire(jobs, now):
    """Run ``randomize`` for every (participant pk, user) at once, each thread on its own connection;
    return the errors raised."""
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(pk, user, i):
        try:
            barrier.wait(timeout=30)
            participant = Participant.objects.select_related("trial").get(pk=pk)
            services.randomize(participant, user, now=now + timedelta(seconds=i))
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(pk, user, i)) for i, (pk, user) in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a randomization hung"
    return errors
