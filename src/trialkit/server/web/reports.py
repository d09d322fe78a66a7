"""The trial report as a job: the analysis plan run on the trial's records (``trialkit.analysis``).

The unblinded report (arm-level results) is for the DSMB statistician alone; every other role
that may request a report gets the pooled, blinded one, built from an extract without arms.
"""

from __future__ import annotations

from trialkit.analysis.report import build_report, render_html, write_pdf
from trialkit.analysis.trial_data import load_trial_data
from trialkit.server.accounts.access import access_for
from trialkit.server.accounts.lookups import may_see_artefact
from trialkit.server.private_files import private_dir, private_file
from trialkit.server.web import jobs
from trialkit.server.web.analysis_data import write_analysis_data



def may_request_report(user, trial) -> bool:
    return access_for(user, trial).can("reports.blinded")


def unblinded_for(user, trial) -> bool:
    """Whether this user's report is the unblinded one: ``reports.unblinded``, holding no blinded role."""
    access = access_for(user, trial)
    return access.can_see_allocation and access.can("reports.unblinded")


def may_see_job(user, job) -> bool:
    """A report job exists for its owner only, and only while the owner still holds the permission it
    was made under: asked on every page, progress poll and download, so a revoked DSMB member loses
    their unblinded report at once (accounts.lookups.may_see_artefact)."""
    if job.owner_id != getattr(user, "id", None):
        return False
    if job.kind != "report":
        return access_for(user, job.trial).grants != frozenset()
    return may_see_artefact(user, job.trial, unblinded=bool(job.params.get("unblinded")),
                            blinded_permission="reports.blinded", unblinded_permission="reports.unblinded")


@jobs.job_kind("report")
def generate_report(job, report_progress):
    trial = job.trial
    unblinded = bool(job.params.get("unblinded"))
    # Checked again here: the request may have been made before the role changed.
    if unblinded and not unblinded_for(job.owner, trial):
        raise jobs.JobProblem("the unblinded report is for the DSMB statistician only")
    out = jobs.job_dir(job)
    report_progress(10, "Extracting the trial's records")
    counts = write_analysis_data(trial, out / "data", unblinded=unblinded)
    if counts["participants"] == 0:
        raise jobs.JobProblem("no participant has been randomized yet: there is nothing to analyse")
    report_progress(30, f"Analysing {counts['participants']} randomized participants")
    data = load_trial_data(out / "data")
    report = build_report(trial.protocol, data, unblinded=unblinded)
    report_progress(75, "Writing the HTML report")
    stem = f"{trial.nct_id}-{'unblinded' if unblinded else 'blinded'}"
    html_path = out / f"{stem}.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    report_progress(85, "Writing the PDF")
    write_pdf(report, out / f"{stem}.pdf")
    for path in out.rglob("*"):  # the extract, the figures and the report: private files
        (private_dir if path.is_dir() else private_file)(path)
    return html_path
