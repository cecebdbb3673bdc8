-- Scenario `hot`: every request applies the one hot campaign (BENCH_CAMPAIGN_FIRST), random customers.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function make_request(n)
  local customer, cart, delivery = random_checkout()
  return wrk.format("POST", "/api/v1/discounts/apply", json_headers, apply_body(campaign_first, customer, cart, delivery))
end
