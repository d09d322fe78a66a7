"""The service under load, as the CI test and ``make bench`` run it: real application servers and
job workers as separate processes on one database, hit over HTTP by many clients at once.

``start_service`` launches N ``trialkit serve`` (gunicorn) and M ``trialkit worker`` processes
against a database URL; ``prepare`` writes a trial ready for concurrent randomizations and form
saves; ``fire`` sends the requests all at once, each on a fresh connection, and records status,
latency and any connection error; ``allocation_problems`` checks no slot was shared or skipped.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

PASSWORD = "load-check-password"
TRIAL = "NCT07197606"
SITES = ("ixcell-01", "ixcell-02", "ixcell-03")
# A nihss form of 7 points (the capture tests' NIHSS_7).
NIHSS_7 = {
    "1a": 0,
    "1b": 1,
    "1c": 0,
    "2": 0,
    "3": 0,
    "4": 1,
    "5a": 2,
    "5b": 0,
    "6a": 2,
    "6b": 0,
    "7": 0,
    "8": 1,
    "9": 0,
    "10": 0,
    "11": 0,
}
LOAD_SECRET_KEY = "load-check-" + "a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ-_" * 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    urls: list[str]
    app_servers: list[subprocess.Popen]
    workers: list[subprocess.Popen]
    env: dict
    log_dir: Path

    def stop(self) -> None:
        for process in self.app_servers + self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.app_servers + self.workers:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-4000:]}" for p in sorted(self.log_dir.glob("*.log")))


def service_env(database_url: str, data_dir: Path) -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO_SETTINGS", "DJANGO_ALLOW_ASYNC_UNSAFE"))
    }
    env.update(
        DATABASE_URL=database_url,
        TRIALKIT_DATA_DIR=str(data_dir),
        SECRET_KEY=LOAD_SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        TRIALKIT_HTTPS="0",
        TRIALKIT_FAST_HASHER="1",
        TRIALKIT_ACCESS_LOG="0",
        TRIALKIT_AUDIT_CHECKPOINT_MINUTES="0",
        DEBUG="0",
        TRIALKIT_DEMO="0",
        TRIALKIT_AUDIT_KEY=_audit_keys(),
    )
    return env


def _audit_keys() -> str:
    """This process's audit key ring as TRIALKIT_AUDIT_KEY (current key first): every server and
    worker signs the one chain with the operator's key, as in production (docs/audit.md)."""
    from trialkit.server.audit import keys

    ring = keys.keyring()
    ordered = [ring.current_id, *(k for k in ring.keys if k != ring.current_id)]
    return ",".join(f"{key_id}:{ring.keys[key_id].hex()}" for key_id in ordered)


def start_worker(env: dict, log_dir: Path, n: int) -> subprocess.Popen:
    log = open(log_dir / f"worker-{n}.log", "ab")  # noqa: SIM115 - the worker process writes it until stopped
    return subprocess.Popen(
        [sys.executable, "-m", "trialkit", "worker", "--interval", "0.2"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def start_service(
    database_url: str, data_dir: Path, *, app_servers: int = 2, workers: int = 2, threads: int = 16, timeout: float = 90
) -> Service:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    env = service_env(database_url, data_dir)
    service = Service(urls=[], app_servers=[], workers=[], env=env, log_dir=log_dir)
    try:
        service.workers = [start_worker(env, log_dir, n) for n in range(workers)]
        for n in range(app_servers):
            port = free_port()
            log = open(log_dir / f"app-{n}.log", "ab")  # noqa: SIM115 - the server process writes it until stopped
            command = [
                sys.executable,
                "-m",
                "trialkit",
                "serve",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--threads",
                str(threads),
            ]
            if n:  # the first collected the static files into the shared data folder
                command.append("--no-collectstatic")
            service.app_servers.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
            service.urls.append(f"127.0.0.1:{port}")
        # All start at once; the first is healthy once it has collected the static files.
        for address in service.urls:
            wait_healthy(address, timeout=timeout, processes=service.app_servers + service.workers)
    except BaseException:
        service.stop()
        raise
    return service


def wait_healthy(address: str, *, timeout: float, processes=()) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        dead = [p.args for p in processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a service process exited while starting: {dead}")
        try:
            status, body, _ = request(address, "GET", "/healthz", timeout=5)
            if status == 200:
                return
            last = body.decode()[:200]
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.3)
    raise RuntimeError(f"{address} not healthy after {timeout}s: {last}")


# Each load user's API token (``prepare`` makes them): writes over the API take a token, not a password.
TOKENS: dict[str, str] = {}


def authorization(username: str) -> str:
    """The user's API token, or HTTP Basic (reads only) for a user without one."""
    if username in TOKENS:
        return f"Bearer {TOKENS[username]}"
    return "Basic " + base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()


def request(
    address: str, method: str, path: str, *, body=None, user: str | None = None, timeout: float = 60
) -> tuple[int, bytes, dict]:
    host, port = address.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    headers = {"Connection": "close"}
    if user:
        headers["Authorization"] = authorization(user)
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        connection.close()


# ------------------------------------------------------------------ the data


def prepare(randomizations: int, form_saves: int) -> list[dict]:
    """A trial with a generated list, participants waiting to be randomized at three sites in both
    strata, and participants in follow-up whose month-1 NIHSS is to be entered; return the requests.

    Runs inside a configured Django (the test's database, or the bench's).
    """
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from trialkit.server.accounts import tokens
    from trialkit.server.accounts.models import Membership
    from trialkit.server.allocation.services import generate_allocation_list
    from trialkit.server.capture.services import ensure_schedule
    from trialkit.server.demo import DEMO_SITES
    from trialkit.server.participants.models import Consent, Participant, ScreeningRecord
    from trialkit.server.trials.loading import load_protocols
    from trialkit.server.trials.models import Site

    User = get_user_model()
    trials = {t.nct_id: t for t in load_protocols()}
    trial = trials[TRIAL]
    for code, name, city, country in DEMO_SITES[TRIAL]:
        Site.objects.get_or_create(trial=trial, code=code, defaults={"name": name, "city": city, "country": country})
    now = timezone.now()
    dsmb = User.objects.create_user("load-dsmb", password=PASSWORD)
    Membership.objects.create(user=dsmb, trial=trial, role="dsmb_statistician")
    generate_allocation_list(trial, dsmb, now=now, seed="load-check")
    clerk = User.objects.create_user("load-clerk", password=PASSWORD)
    manager = User.objects.create_user("load-datamanager", password=PASSWORD)
    Membership.objects.create(user=manager, trial=trial, role="data_manager")
    coordinators = {}
    for code in SITES:
        user = User.objects.create_user(f"load-{code}", password=PASSWORD)
        Membership.objects.create(user=user, trial=trial, site=trial.sites.get(code=code), role="coordinator")
        coordinators[code] = user.username
    for user in [manager, *User.objects.filter(username__in=coordinators.values())]:
        TOKENS[user.username] = tokens.issue(user, name="load check", scope="write", days=1).plaintext
    plan = []
    today = now.date()
    for i in range(randomizations + form_saves):
        code = SITES[i % len(SITES)]
        site = trial.sites.get(code=code)
        number = f"LOAD-{i:03d}"
        nihss = 8 if (i // 3) % 2 == 0 else 14
        screening = ScreeningRecord.objects.create(
            trial=trial,
            site=site,
            screening_number=f"S-{number}",
            screening_date=today - timedelta(days=2),
            facts={"nihss_total": nihss},
            verdict=ScreeningRecord.Verdict.ELIGIBLE,
            outcome=ScreeningRecord.Outcome.ENROLLED,
            created_by=clerk,
        )
        Consent.objects.create(
            screening=screening,
            document_version="v1",
            consent_date=today - timedelta(days=2),
            signed_by=Consent.Signer.PARTICIPANT,
            recorded_by=clerk,
        )
        if i < randomizations:
            Participant.objects.create(
                trial=trial, site=site, screening=screening, participant_number=number, enrolled_at=now
            )
            plan.append(
                {
                    "kind": "randomize",
                    "method": "POST",
                    "user": coordinators[code],
                    "body": {},
                    "path": f"/api/allocation/{TRIAL}/participants/{number}/randomize",
                }
            )
        else:
            participant = Participant.objects.create(
                trial=trial,
                site=site,
                screening=screening,
                participant_number=number,
                status="treated",
                enrolled_at=now,
                randomization_number=f"PRE-{i:03d}",
                kit_number=f"PRE-KIT-{i:04d}",
                anchor_date=today - timedelta(days=30),
            )
            ensure_schedule(participant)
            plan.append(
                {
                    "kind": "form",
                    "method": "POST",
                    "user": coordinators[code],
                    "path": f"/api/capture/participants/{participant.pk}/forms",
                    "body": {"visit_id": "month1", "instrument": "nihss", "values": NIHSS_7, "complete": True},
                }
            )
    return plan


@dataclass
class Outcome:
    kind: str
    status: int | None
    seconds: float
    error: str = ""
    body: bytes = b""


@dataclass
class Results:
    outcomes: list[Outcome] = field(default_factory=list)

    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error or o.status is None or o.status >= 300]

    def resets(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def percentile(self, q: float, kind: str | None = None) -> float:
        times = sorted(o.seconds for o in self.outcomes if kind is None or o.kind == kind)
        if not times:
            return float("nan")
        return times[min(len(times) - 1, round(q / 100 * (len(times) - 1)))]


def fire(addresses: list[str], plan: list[dict], *, timeout: float = 90) -> Results:
    """Send every request of ``plan`` at once (one thread and one fresh connection each), spread over
    the application servers in turn, as a load balancer would."""
    barrier = threading.Barrier(len(plan))
    results = Results()
    lock = threading.Lock()

    def one(i: int, item: dict) -> None:
        barrier.wait(timeout=60)
        started = time.perf_counter()
        try:
            status, body, _ = request(
                addresses[i % len(addresses)],
                item["method"],
                item["path"],
                body=item["body"],
                user=item["user"],
                timeout=timeout,
            )
            outcome = Outcome(item["kind"], status, time.perf_counter() - started, body=body[:500])
        except Exception as exc:  # a reset or a timeout is a result to report, not a crash
            outcome = Outcome(item["kind"], None, time.perf_counter() - started, error=repr(exc))
        with lock:
            results.outcomes.append(outcome)

    threads = [threading.Thread(target=one, args=(i, item)) for i, item in enumerate(plan)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 60)
    return results


def allocation_problems(nct_id: str = TRIAL) -> list[str]:
    """Every randomized participant holds exactly one slot, no slot is shared, and sequence numbers
    within each stratum and the randomization numbers run without gaps or repeats."""
    from collections import Counter, defaultdict

    from trialkit.server.allocation.models import AllocationSlot
    from trialkit.server.participants.models import Participant
    from trialkit.server.trials.models import Trial

    trial = Trial.objects.get(nct_id=nct_id)
    problems = []
    used = list(AllocationSlot.objects.filter(trial=trial, participant__isnull=False))
    holders = Counter(s.participant_id for s in used)
    problems += [f"participant {pk} holds {n} slots" for pk, n in holders.items() if n > 1]
    prefix = trial.protocol.randomization.kit_prefix
    randomized = set(
        Participant.objects.filter(trial=trial, randomization_number__startswith=f"{prefix}-R").values_list(
            "pk", flat=True
        )
    )
    if set(holders) != randomized:
        problems.append(f"slot holders {len(holders)} != randomized participants {len(randomized)}")
    by_stratum = defaultdict(list)
    for s in used:
        by_stratum[s.stratum].append(s.sequence_no)
    for stratum, numbers in by_stratum.items():
        if sorted(numbers) != list(range(1, len(numbers) + 1)):
            problems.append(f"gap or repeat in stratum {stratum}: {sorted(numbers)}")
    numbers = sorted(
        Participant.objects.filter(trial=trial, randomization_number__startswith=f"{prefix}-R").values_list(
            "randomization_number", flat=True
        )
    )
    if numbers != [f"{prefix}-R{n:04d}" for n in range(1, len(numbers) + 1)]:
        problems.append(f"randomization numbers not contiguous: {numbers}")
    return problems
