"""The registry of job kinds: what a job of each kind runs, and how often it may be started again.

A kind's function takes ``(job, progress)`` — ``progress(percent, message)`` writes the row at
once — and returns a ``Done`` (or the path of its result). It raises ``JobProblem`` with a message
for the user when it cannot produce its result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class JobProblem(Exception):
    """A job that cannot produce its result; the message is shown to the user."""


@dataclass
class Done:
    """What a finished job leaves: its file and, optionally, what to record with it.

    ``then`` runs in the transaction that marks the job done (its audit event, for instance),
    so the row never says "done" without it.
    """

    path: Path | None = None
    sha256: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    message: str = "done"
    then: Callable[[], None] | None = None


@dataclass(frozen=True)
class JobKind:
    name: str
    label: str
    run: Callable
    # How many times a job may be started in all: one whose worker died is queued again until
    # then, and failed after.
    max_attempts: int = 2
    # A private kind's jobs are seen by their requester alone (runner.visible_jobs).
    private: bool = False
    # (blinded permission, unblinded permission) a person needs now to see a job of this kind at
    # all (accounts.lookups.may_see_artefact); a kind without them is never shown to a person.
    permissions: tuple[str, str] | None = None


KINDS: dict[str, JobKind] = {}

# Modules that define job kinds; imported when Django starts (JobsConfig.ready).
KIND_MODULES = (
    "trialkit.server.web.reports",
    "trialkit.server.exports.services",
    "trialkit.server.jobs.builtin",
    "trialkit.server.capture.reminders",
)


def job_kind(
    name: str,
    *,
    label: str | None = None,
    max_attempts: int = 2,
    private: bool = False,
    permissions: tuple[str, str] | None = None,
):
    def register(function: Callable) -> Callable:
        KINDS[name] = JobKind(
            name=name,
            label=label or name.replace("_", " "),
            run=function,
            max_attempts=max_attempts,
            private=private,
            permissions=permissions,
        )
        return function

    return register


def load_kinds() -> None:
    from django.conf import settings

    for module in (*KIND_MODULES, *getattr(settings, "TRIALKIT_JOB_KIND_MODULES", ())):
        importlib.import_module(module)


def get(name: str) -> JobKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown job kind {name!r}; known: {', '.join(sorted(KINDS))}") from None
