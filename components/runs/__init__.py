"""Training runs: the run logger and history, run reports, and cross-validation benchmark helpers."""
