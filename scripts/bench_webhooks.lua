-- wrk script for scripts/bench_webhooks.sh: alternates delivery receipts and inbound messages
-- (simulator JSON dialect), every request unique so none is deduplicated.
-- WRK_DELAY_MS: a pause before each request on each connection, to hold a fixed rate.
local threads = 0
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "0")

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  local id = tid .. "-" .. counter
  if counter % 2 == 0 then
    return wrk.format("POST", "/webhooks/carrier/status", headers,
      '{"id":"B' .. id .. '","status":"delivered"}')
  end
  local phone = string.format("+86139%08d", (tid * 7919 + counter) % 100000)
  return wrk.format("POST", "/webhooks/carrier/inbound", headers,
    '{"from":"' .. phone .. '","to":"shop","text":"hello","id":"MO' .. id .. '"}')
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
