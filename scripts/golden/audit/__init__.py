"""`golden audit`: the image checked with the tools an auditor uses (lynis, ssh-audit,
gixy), on the running twin or on an instance over SSM, as one table."""
