-- wrk script for `golden bench load` closed-loop runs.
-- Each request carries its own X-Forwarded-For (from 198.18.0.0/15, the benchmarking range:
-- a header value, never a destination), as an ALB forwarding many users would; otherwise
-- nginx's per-client rate limit would see one client and answer 429. The queries rotate so
-- no layer can answer from a cache. done() prints one JSON line the bench parses.

local queries = {
  "how+does+a+release+roll+back",
  "gunicorn+workers+per+vcpu",
  "nginx+upstream+keepalive",
  "cloud-init+nocloud+seed",
  "ssm+parameter+store+secrets",
  "chroma+retrieval+embeddings",
  "auto+scaling+instance+refresh",
  "hotfix+highstate+drift",
}
local threads = {}
local counter = 0
local base_path = "/api/search"

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  -- wrk.path is the path of the URL given on the command line; its query is replaced.
  base_path = string.match(wrk.path, "^[^?]*")
  tid = tid or 0
end

function request()
  counter = counter + 1
  local n = (tid * 65521 + counter) % 4096
  local xff = string.format("198.18.%d.%d", math.floor(n / 250), n % 250 + 1)
  local q = queries[counter % #queries + 1]
  local path = base_path
  if base_path == "/api/search" then
    path = base_path .. "?q=" .. q
  end
  return wrk.format("GET", path, {
    ["X-Forwarded-For"] = xff,
    ["X-Forwarded-Proto"] = "https",
  })
end

function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max))
end
