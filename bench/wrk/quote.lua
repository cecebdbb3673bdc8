-- Scenario `quote`: what a random customer's cart would get with the shared code (BENCH_CODE).
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function make_request(n)
  local customer, cart, delivery = random_checkout()
  return wrk.format("POST", "/api/v1/checkouts/quote", json_headers, codes_body(customer, cart, delivery))
end
