-- wrk script for bench/run.sh: POSTs the JSON file named by $BENCH_BODY, with
-- "Authorization: Bearer $BENCH_KEY" when that is set, and prints one machine-readable line
-- when done (latencies in microseconds; errors = connect + read + write + timeout + HTTP >= 400):
--   RESULT requests=N errors=N seconds=S rps=R p50_us=N p90_us=N p99_us=N max_us=N
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY")
if key ~= nil and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

function done(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d errors=%d seconds=%.3f rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    summary.requests, e.connect + e.read + e.write + e.status + e.timeout, seconds,
    summary.requests / seconds, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
