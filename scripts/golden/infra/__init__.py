"""The foundation stack: an environment's AWS architecture (VPC, load balancer, security
groups, RDS, ElastiCache, buckets, instance profiles, alarms, log groups) as the
CloudFormation template autoscaling/stacks/foundation.yaml, deployed through change sets
(`golden infra plan|apply|outputs|destroy ENV`)."""
