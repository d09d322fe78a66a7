"""Export jobs are rows of the one job model, ``trialkit.server.jobs.models.Job`` (kind "export")."""
