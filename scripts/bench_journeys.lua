-- wrk script for scripts/bench_journeys.sh: POST /v1/events, each a `lesson_completed` with
-- count 10 for one of the benchmark's contacts, so every request enters the lesson journey
-- (a new occurrence: its own event id). Paced like bench_webhooks.lua when WRK_RATE is set.
--   WRK_RATE      total requests/s to hold (0 or unset: as fast as the connections allow)
--   WRK_THREADS   the -t value (to split the rate)
--   CONTACTS      how many contacts the database holds (+86139 00000000 ...)
--   EVENT_AT      the events' `at` (ISO 8601, the simulated day being benchmarked)
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local rate = tonumber(os.getenv("WRK_RATE") or "0")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
local contacts = tonumber(os.getenv("CONTACTS") or "1000000")
local at = os.getenv("EVENT_AT") or error("EVENT_AT is not set")

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local counter = 0
function request()
  counter = counter + 1
  local phone = string.format("+86139%08d", (tid * 7919 + counter * 104729) % contacts)
  local body = '{"name":"lesson_completed","phone":"' .. phone ..
               '","properties":{"count":10},"at":"' .. at .. '"}'
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"}, body)
end

if rate > 0 then
  local interval = 1000 * nthreads / rate
  local next_slot = nil
  function delay()
    local now = now_ms()
    if next_slot == nil or next_slot < now - 1000 then next_slot = now end
    next_slot = next_slot + interval
    local wait = next_slot - now
    if wait < 0 then return 0 end
    return math.floor(wait)
  end
end
