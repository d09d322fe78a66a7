"""The trial report as a job: the analysis plan run on the trial's records (``trialkit.analysis``).

The unblinded report (arm-level results) is for the DSMB statistician alone; every other role
that may request a report gets the pooled, blinded one, built from an extract without arms. The
records are read by the one extract (``exports.extract``) and written as the CSV export writes them.
"""

from __future__ import annotations

from trialkit.server.accounts.access import access_for
from trialkit.server.allocation.services import arms_by_participant
from trialkit.server.exports.extract import iter_chunks
from trialkit.server.jobs import runner
from trialkit.server.jobs.kinds import JobProblem, job_kind


def may_request_report(user, trial) -> bool:
    return access_for(user, trial).can("reports.blinded")


def unblinded_for(user, trial) -> bool:
    """Whether this user's report is the unblinded one: ``reports.unblinded``, holding no blinded role."""
    access = access_for(user, trial)
    return access.can_see_allocation and access.can("reports.unblinded")


def request_report(trial, user, *, unblinded: bool):
    """Queue a report for ``user`` (the caller has checked the role); only they see the job."""
    return runner.submit(
        "report",
        trial=trial,
        requested_by=user,
        unblinded=unblinded,
        requester_role=(access_for(user, trial).role_granting("reports.unblinded") or "") if unblinded else "",
    )


@job_kind("report", label="report", max_attempts=2, private=True, permissions=("reports.blinded", "reports.unblinded"))
def generate_report(job, report_progress):
    """The report's folder (data, HTML, PDF) is built under a temporary name and renamed into place."""
    # Imported here, not at the top: this module is loaded when Django starts (the job kind registers
    # itself), and the analysis stack (scipy, statsmodels, matplotlib) costs every process seconds.
    from trialkit.analysis.report import build_report, render_html, write_pdf
    from trialkit.analysis.trial_data import load_trial_data, write_tables

    trial = job.trial
    unblinded = job.unblinded
    # Checked again here: the request may have been made before the role changed.
    if unblinded and not unblinded_for(job.requested_by, trial):
        raise JobProblem("the unblinded report is for the DSMB statistician only")
    final = runner.job_dir(job)
    stem = f"{trial.nct_id}-{'unblinded' if unblinded else 'blinded'}"
    with runner.atomic_output(job.pk, final, directory=True) as out:
        report_progress(10, "Extracting the trial's records")
        # The one extract, written as an export's data directory is: `trialkit report --data`
        # on an export of the same records gives the same report.
        arms = arms_by_participant(trial, job.requested_by) if unblinded else None
        counts = write_tables(iter_chunks(trial, arms=arms), out / "data", trial.protocol, unblinded=unblinded)
        if counts["participants"] == 0:
            raise JobProblem("no participant has been randomized yet: there is nothing to analyse")
        report_progress(30, f"Analysing {counts['participants']} randomized participants")
        data = load_trial_data(out / "data")
        report = build_report(trial.protocol, data, unblinded=unblinded)
        report_progress(75, "Writing the HTML report")
        (out / f"{stem}.html").write_text(render_html(report), encoding="utf-8")
        report_progress(85, "Writing the PDF")
        write_pdf(report, out / f"{stem}.pdf")
    return final / f"{stem}.html"
