-- Scenario `checkout`: a random customer's cart checked out with the shared code (BENCH_CODE): the code's
-- cart campaign and the free-delivery campaign, two redemptions a checkout.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function make_request(n)
  local customer, cart, delivery = random_checkout()
  return wrk.format("POST", "/api/v1/checkouts/", json_headers, codes_body(customer, cart, delivery))
end
