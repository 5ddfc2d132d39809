"""Hotfix and drift from the operator's side: bundle, plan, git, the fleet over SSM, results."""
