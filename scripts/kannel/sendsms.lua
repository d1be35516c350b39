-- Copied from the Kannel peer harness (shared/peers/kannel/sendsms.lua) so that
-- scripts/bench_dispatch.sh stands alone; unchanged below this note.
--
-- wrk script: inject exactly TOTAL MT messages through Kannel smsbox's
-- /cgi-bin/sendsms (HTTP GET, keep-alive), each to a unique recipient.
--
--   wrk -t T -c C -d MAX_S --timeout 30s -s sendsms.lua http://127.0.0.1:18013 \
--       -- TOTAL NTHREADS USER PASS [FROM]
-- (NTHREADS must equal wrk's -t; wrk does not tell the script its thread count)
--
-- Thread i sends its share of TOTAL. Once a thread has issued its share, any
-- further request it is asked for is a cheap 404 ("/stop", no message is
-- created) sent at most every 200 ms per connection, and the thread stops as
-- soon as all of its real requests have been answered. wrk itself only exits
-- at -d (the hard time bound) or on SIGINT, so the caller sends SIGINT once
-- the carrier has everything; done() then prints the totals and
-- sendsms_finished_at (wall time of the last accepted answer).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local TEXT = "Your+verification+code+is+482913.+It+expires+in+10+minutes.+Do+not+share"

function init(args)
  local total = tonumber(args[1])
  local nthreads = tonumber(args[2])
  user = args[3]
  pass = args[4]
  from = args[5] or "4915550000"
  quota = math.floor(total / nthreads)
  if id < (total % nthreads) then quota = quota + 1 end
  base = 491700000000 + id * 10000000
  sent = 0
  answered = 0
  accepted = 0
  failed = 0
  filler = wrk.format("GET", "/stop")
  verified = false
end

function delay()
  if sent >= quota then return 200 end
  return 0
end

function request()
  -- wrk calls request() once on thread 0 before the run, only to inspect the
  -- request (script_verify_request); that call must not consume a message.
  if id == 0 and not verified then
    verified = true
    return filler
  end
  if sent < quota then
    sent = sent + 1
    return wrk.format("GET", "/cgi-bin/sendsms?username=" .. user ..
      "&password=" .. pass .. "&from=" .. from ..
      "&to=" .. string.format("%d", base + sent) .. "&text=" .. TEXT)
  end
  return filler
end

function response(status, headers, body)
  if status == 404 then
    -- filler answered
  else
    answered = answered + 1
    if status == 202 or status == 200 then
      accepted = accepted + 1
    else
      failed = failed + 1
      if failed <= 3 then io.stderr:write("sendsms status " .. status .. ": " .. tostring(body) .. "\n") end
    end
  end
  if answered >= quota and not finished_at then
    -- wall-clock time this thread got its last real answer (one fork per thread)
    local f = io.popen("date +%s.%N")
    finished_at = f:read("*l")
    f:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local q, s, a, ok, f = 0, 0, 0, 0, 0
  local fin = 0
  for _, t in ipairs(threads) do
    local tf = tonumber(t:get("finished_at") or "0") or 0
    if tf > fin then fin = tf end
    q = q + t:get("quota")
    s = s + t:get("sent")
    a = a + t:get("answered")
    ok = ok + t:get("accepted")
    f = f + t:get("failed")
  end
  io.write(string.format("sendsms: quota=%d sent=%d answered=%d accepted=%d failed=%d " ..
    "latency_avg_ms=%.2f latency_p99_ms=%.2f (incl. 404 fillers)\n",
    q, s, a, ok, f, latency.mean / 1000, latency:percentile(99.0) / 1000))
  io.write(string.format("sendsms_finished_at=%.6f\n", fin))
end
