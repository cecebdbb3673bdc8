-- Scenario `mixed`: a checkout asks `available` five times (cart views), then applies once,
-- with an Idempotency-Key unique to this run, thread and request, as a real checkout retries safely.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function make_request(n)
  local customer, cart, delivery = random_checkout()
  if n % 6 ~= 0 then
    return wrk.format("POST", "/api/v1/discounts/available", json_headers, available_body(customer, cart, delivery))
  end
  local headers = {}
  for name, value in pairs(json_headers) do
    headers[name] = value
  end
  headers["Idempotency-Key"] = string.format("bench-%s-%d-%d", run_id, thread_id, n)
  local campaign = math.random(campaign_first, campaign_last)
  return wrk.format("POST", "/api/v1/discounts/apply", headers, apply_body(campaign, customer, cart, delivery))
end
