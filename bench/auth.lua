-- wrk script for bench/run.sh.
-- * Sends `Authorization: Bearer $BENCH_TOKEN` when BENCH_TOKEN is set (opaque token or JWT).
-- * With BENCH_STATUS=1 (run.sh sets it for the warm-up only) it also counts responses by
--   status and prints `status <code> <n>`: defining wrk's `response` callback costs wrk CPU
--   per response, so the measured runs rely on wrk's own "Non-2xx or 3xx responses" line.
-- * done() prints exact numbers for run.sh to parse: requests_total, p50_us, p99_us.
local token = os.getenv("BENCH_TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local count_status = os.getenv("BENCH_STATUS") == "1"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

if count_status then
  function init(args)
    counts = {}
  end

  function response(status, headers, body)
    counts[status] = (counts[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  if count_status then
    local total = {}
    for _, t in ipairs(threads) do
      local c = t:get("counts")
      if c ~= nil then
        for s, n in pairs(c) do total[s] = (total[s] or 0) + n end
      end
    end
    local keys = {}
    for s in pairs(total) do table.insert(keys, s) end
    table.sort(keys)
    for _, s in ipairs(keys) do
      io.write(string.format("status %d %d\n", s, total[s]))
    end
  end
  io.write(string.format("requests_total %d\n", summary.requests))
  io.write(string.format("p50_us %d\n", latency:percentile(50)))
  io.write(string.format("p99_us %d\n", latency:percentile(99)))
end
