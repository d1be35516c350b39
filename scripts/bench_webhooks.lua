-- wrk script for scripts/bench_webhooks.sh: alternates delivery receipts and inbound messages
-- (simulator JSON dialect), every request unique so none is deduplicated, each one SIGNED the
-- way the simulator signs (X-Timestamp, X-Signature = hex HMAC-SHA256(secret, ts "." body)),
-- computed per request through LuaJIT's FFI with OpenSSL's libcrypto.
--
-- Environment:
--   WEBHOOK_SECRET   the provider's webhook_secret (required)
--   WRK_RATE         total requests/s to hold (0 or unset: as fast as the connections allow).
--                    Pacing: each wrk thread keeps a schedule of send slots 1/(rate/threads)
--                    apart; before each request a connection takes the next free slot and waits
--                    for it (wrk's delay(), whole milliseconds). wrk's latency figures exclude
--                    that wait, so they are the server's answer time for requests sent on
--                    schedule, provided enough connections are open that one is always free.
--   WRK_THREADS      the -t value (needed to split the rate)
local ffi = require("ffi")
ffi.cdef [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md, unsigned int *md_len);
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local crypto = ffi.load("libcrypto.so.3")
local sha256 = crypto.EVP_sha256()
local mac = ffi.new("unsigned char[64]")
local mac_len = ffi.new("unsigned int[1]")
local ts = ffi.new("bench_timespec")

local secret = os.getenv("WEBHOOK_SECRET") or error("WEBHOOK_SECRET is not set")
local rate = tonumber(os.getenv("WRK_RATE") or "0")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")

local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local function now_ms()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local function sign(stamp, body)
  local message = stamp .. "." .. body
  crypto.HMAC(sha256, secret, #secret, message, #message, mac, mac_len)
  local hex = {}
  for i = 0, mac_len[0] - 1 do hex[i + 1] = string.format("%02x", mac[i]) end
  return table.concat(hex)
end

local counter = 0
function request()
  counter = counter + 1
  local id = tid .. "-" .. counter
  local path, body
  if counter % 2 == 0 then
    path = "/webhooks/carrier/status"
    body = '{"id":"B' .. id .. '","status":"delivered"}'
  else
    local phone = string.format("+86139%08d", (tid * 7919 + counter) % 100000)
    path = "/webhooks/carrier/inbound"
    body = '{"from":"' .. phone .. '","to":"shop","text":"hello","id":"MO' .. id .. '"}'
  end
  local stamp = tostring(os.time())
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Timestamp"] = stamp,
    ["X-Signature"] = sign(stamp, body),
  }
  return wrk.format("POST", path, headers, body)
end

if rate > 0 then
  local interval = 1000 * nthreads / rate  -- ms between this thread's sends
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
