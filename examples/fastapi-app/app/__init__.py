"""A FastAPI backend as a team would build it (examples/README.md): nothing of golden's inside."""
