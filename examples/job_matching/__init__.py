"""The job-matching sample project: its warehouse generator and the user code of its example pipelines."""
