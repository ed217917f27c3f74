-- wrk script for bench/forged_flood.sh: every request carries a new random Bearer token.
-- * FLOOD_KIND: `structured` (`gth1_` + 59 random base64url characters: the right shape, a
--   checksum no key made), `unstructured` (43 random characters, the shape of tokens minted
--   before the prefix), or `mixed` (alternately; the default).
-- * FLOOD_PER_THREAD: each thread stops after that many responses (0: run for wrk's -d).
-- * done() prints `status <code> <n>` per status and `requests_total <n>`.
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local kind = os.getenv("FLOOD_KIND") or "mixed"
local quota = tonumber(os.getenv("FLOOD_PER_THREAD") or "0")
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + id)
  sent = 0
  answered = 0
  counts = {}
end

local function random_text(n)
  local t = {}
  for i = 1, n do
    local k = math.random(1, 64)
    t[i] = alphabet:sub(k, k)
  end
  return table.concat(t)
end

function request()
  local token
  if kind == "structured" or (kind == "mixed" and sent % 2 == 0) then
    token = "gth1_" .. random_text(59)
  else
    token = random_text(43)
  end
  sent = sent + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. token })
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  answered = answered + 1
  if quota > 0 and answered >= quota then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
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
  io.write(string.format("requests_total %d\n", summary.requests))
end
