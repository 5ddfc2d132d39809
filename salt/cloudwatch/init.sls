include:
  - cloudwatch.config
  - cloudwatch.agent
