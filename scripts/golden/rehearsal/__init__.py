"""The release rehearsal: `golden release` against real instances (twin containers booted
from launch-template user data) behind a real load balancer (HAProxy), under load, with
the AWS APIs emulated. See docs/rehearsal.md."""
