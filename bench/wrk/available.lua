-- Scenarios `available` and `available10k`: which discounts a random customer's cart can have.
dofile(os.getenv("BENCH_WRK_DIR") .. "/common.lua")

function make_request(n)
  local customer, cart, delivery = random_checkout()
  return wrk.format("POST", "/api/v1/discounts/available", json_headers, available_body(customer, cart, delivery))
end
