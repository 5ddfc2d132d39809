"""`golden cost`: what an environment costs a month, line by line, against its budget.

Pure pricing math over plain data (`instances`, `network`, `datastores`, `monitoring`,
`estimate`), the inputs it prices (`foundation`: the foundation stack's parameters;
`usage`: traffic, uploads, logs, releases; `prices`: the dated price table; `agentconfig`:
what the CloudWatch agent config the image ships emits), the Price List API adapter
(`pricelist`), the orchestration (`run`, and `planreport` for `golden env plan`) and the
command (`commands`)."""
