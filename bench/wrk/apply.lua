-- Scenario `apply`: a random live campaign and a random customer on every request.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function make_request(n)
  local customer, cart, delivery = random_checkout()
  local campaign = math.random(campaign_first, campaign_last)
  return wrk.format("POST", "/api/v1/discounts/apply", json_headers, apply_body(campaign, customer, cart, delivery))
end
