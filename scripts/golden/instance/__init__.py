"""What runs on an instance: the boot step and the instance side of hotfix and drift."""
