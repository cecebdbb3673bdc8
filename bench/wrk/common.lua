-- Shared by every scenario script: configuration from the environment, counting each answer
-- by status (and error code), and one JSON line for the harness in done().
--
-- The harness (bench/load.py) sets BENCH_* variables; a scenario script sets `make_request`,
-- a function returning the next request, and loads this file with dofile().

local function env(name)
  local value = os.getenv(name)
  if value == nil or value == "" then
    error("bench: " .. name .. " is not set (run the bench with `make bench`)")
  end
  return value
end

api_key = env("BENCH_API_KEY")
run_id = env("BENCH_RUN")
customer_first = tonumber(env("BENCH_CUSTOMER_FIRST"))
customer_last = tonumber(env("BENCH_CUSTOMER_LAST"))
campaign_first = tonumber(env("BENCH_CAMPAIGN_FIRST"))
campaign_last = tonumber(env("BENCH_CAMPAIGN_LAST"))

json_headers = {
  ["Authorization"] = "Bearer " .. api_key,
  ["Content-Type"] = "application/json",
}

-- A cart of 100.00 to 999.99 and a delivery charge of 5.00 to 19.99: every campaign's
-- min_cart_value is at most 100, so the bench's refusals come from budgets and daily limits only.
function random_checkout()
  local cart = math.random(10000, 99999) / 100
  local delivery = math.random(500, 1999) / 100
  local customer = math.random(customer_first, customer_last)
  return customer, cart, delivery
end

function apply_body(campaign, customer, cart, delivery)
  return string.format(
    '{"campaign_id":%d,"customer_id":%d,"cart_value":%.2f,"delivery_charge":%.2f}',
    campaign, customer, cart, delivery)
end

function available_body(customer, cart, delivery)
  return string.format('{"customer_id":%d,"cart_value":%.2f,"delivery_charge":%.2f}', customer, cart, delivery)
end

-- The quote and checkout scenarios send the shared code (BENCH_CODE).
code = os.getenv("BENCH_CODE") or ""

function codes_body(customer, cart, delivery)
  return string.format(
    '{"customer_id":%d,"cart_value":%.2f,"delivery_charge":%.2f,"codes":["%s"]}', customer, cart, delivery, code)
end

-- The setup phase runs in its own Lua state: it numbers the threads and keeps them for done().
local threads = {}
function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

-- Per thread (each wrk thread has its own Lua state).
counts = {}    -- "201" = n, "409 daily_limit_reached" = n
cents = 0      -- the discount_amount of every redemption a 201 answered (an apply's, a checkout's), in cents
redeemed = 0   -- the redemptions 201s answered (one an apply, one per discount a checkout)
sent = 0       -- requests built by this thread (the mixed scenario numbers its applies with it)

function init(args)
  math.randomseed(os.time() * 1000 + thread_id * 7919)
end

function request()
  sent = sent + 1
  return make_request(sent)
end

function response(status, headers, body)
  local key = tostring(status)
  if status >= 400 then
    local code = body and body:match('"code"%s*:%s*"([%w_]+)"')
    if code then
      key = key .. " " .. code
    end
  elseif status == 201 and body then
    for amount in body:gmatch('"discount_amount"%s*:%s*([%d%.eE+-]+)') do
      cents = cents + math.floor(tonumber(amount) * 100 + 0.5)
      redeemed = redeemed + 1
    end
  end
  counts[key] = (counts[key] or 0) + 1
end

local function quote(text)
  return '"' .. tostring(text):gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, requests)
  local merged, total_cents, total_redeemed = {}, 0, 0
  for _, thread in ipairs(threads) do
    for key, n in pairs(thread:get("counts")) do
      merged[key] = (merged[key] or 0) + n
    end
    total_cents = total_cents + thread:get("cents")
    total_redeemed = total_redeemed + thread:get("redeemed")
  end
  local statuses = {}
  for key, n in pairs(merged) do
    table.insert(statuses, quote(key) .. ":" .. n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f},' ..
    '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"statuses":{%s},"discount_cents":%d,"redeemed":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout,
    table.concat(statuses, ","), total_cents, total_redeemed))
end
