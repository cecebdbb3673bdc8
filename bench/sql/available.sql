-- bench/sql/available.sql: the SQL the service sends for one `available` request, as a pgbench script.
-- Written by `make bench-sql (.venv/bin/python -m bench.sql --write)` from a request recorded through the real app; `make bench`
-- records one again on every run and stops if this file no longer matches. Do not edit by hand.
-- Variables set by the bench (-D): customer_first customer_last campaign_first campaign_last now today expires key_prefix
\set customer random(:customer_first, :customer_last)
\set cart random(10000, 99999) / 100.0
\set delivery random(500, 1999) / 100.0
BEGIN;
;
ROLLBACK;
BEGIN;
SELECT api_keys.id, api_keys.name, api_keys.prefix, api_keys.key_hash, api_keys.scopes, api_keys.created_at, api_keys.last_used_at, api_keys.revoked_at 
FROM api_keys 
WHERE api_keys.prefix = 'cms_live_903b721c'::VARCHAR AND api_keys.revoked_at IS NULL;
SELECT customers.id, customers.email, customers.name, customers.created_at 
FROM customers 
WHERE customers.id = :customer::INTEGER;
SELECT campaigns.id, campaigns.name, campaigns.description, campaigns.discount_type, campaigns.discount_percentage, campaigns.discount_flat, campaigns.start_date, campaigns.end_date, campaigns.total_budget, campaigns.used_budget, campaigns.max_usage_per_customer_per_day, campaigns.min_cart_value, campaigns.max_discount_amount, campaigns.is_targeted, campaigns.is_paused, campaigns.timezone, campaigns.version, campaigns.created_at, campaigns.updated_at, campaigns.deleted_at 
FROM campaigns 
WHERE campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE AND campaigns.used_budget < campaigns.total_budget AND campaigns.min_cart_value <= :cart::NUMERIC(14, 2);
SELECT campaign_targets.campaign_id 
FROM campaign_targets 
WHERE campaign_targets.customer_id = :customer::INTEGER AND campaign_targets.campaign_id IN (5002::INTEGER, 5003::INTEGER, 5004::INTEGER, 5005::INTEGER, 5006::INTEGER, 5008::INTEGER, 5009::INTEGER, 5010::INTEGER, 5011::INTEGER, 5012::INTEGER, 5013::INTEGER, 5014::INTEGER, 5015::INTEGER, 5016::INTEGER, 5017::INTEGER, 5018::INTEGER, 5019::INTEGER, 5020::INTEGER, 5021::INTEGER, 5022::INTEGER, 5023::INTEGER, 5024::INTEGER, 5025::INTEGER, 5026::INTEGER, 5027::INTEGER, 5028::INTEGER, 5029::INTEGER, 5030::INTEGER, 5031::INTEGER, 5032::INTEGER, 5033::INTEGER, 5034::INTEGER, 5035::INTEGER, 5036::INTEGER, 5037::INTEGER, 5038::INTEGER, 5039::INTEGER, 5040::INTEGER, 5041::INTEGER, 5042::INTEGER, 5043::INTEGER, 5044::INTEGER, 5045::INTEGER, 5046::INTEGER, 5047::INTEGER, 5048::INTEGER, 5049::INTEGER, 5050::INTEGER, 5051::INTEGER, 5052::INTEGER, 5053::INTEGER, 5054::INTEGER, 5055::INTEGER, 5056::INTEGER, 5057::INTEGER, 5058::INTEGER, 5059::INTEGER, 5060::INTEGER, 5001::INTEGER, 5061::INTEGER, 5062::INTEGER, 5063::INTEGER, 5064::INTEGER, 5065::INTEGER, 5066::INTEGER, 5067::INTEGER, 5068::INTEGER, 5069::INTEGER, 5070::INTEGER, 5071::INTEGER, 5072::INTEGER, 5073::INTEGER, 5074::INTEGER, 5075::INTEGER, 5076::INTEGER, 5077::INTEGER, 5078::INTEGER, 5079::INTEGER, 5080::INTEGER, 5081::INTEGER, 5082::INTEGER, 5083::INTEGER, 5084::INTEGER, 5085::INTEGER, 5086::INTEGER, 5087::INTEGER, 5088::INTEGER, 5089::INTEGER, 5090::INTEGER, 5091::INTEGER, 5092::INTEGER, 5093::INTEGER, 5094::INTEGER, 5095::INTEGER, 5096::INTEGER, 5097::INTEGER, 5098::INTEGER, 5099::INTEGER, 5100::INTEGER, 5007::INTEGER);
SELECT daily_usages.campaign_id, daily_usages.day, daily_usages.uses 
FROM daily_usages 
WHERE daily_usages.customer_id = :customer::INTEGER AND daily_usages.campaign_id IN (5002::INTEGER, 5003::INTEGER, 5004::INTEGER, 5005::INTEGER, 5006::INTEGER, 5008::INTEGER, 5009::INTEGER, 5010::INTEGER, 5011::INTEGER, 5012::INTEGER, 5013::INTEGER, 5014::INTEGER, 5015::INTEGER, 5016::INTEGER, 5017::INTEGER, 5018::INTEGER, 5019::INTEGER, 5020::INTEGER, 5021::INTEGER, 5022::INTEGER, 5023::INTEGER, 5024::INTEGER, 5025::INTEGER, 5026::INTEGER, 5027::INTEGER, 5028::INTEGER, 5029::INTEGER, 5030::INTEGER, 5031::INTEGER, 5032::INTEGER, 5033::INTEGER, 5034::INTEGER, 5035::INTEGER, 5036::INTEGER, 5037::INTEGER, 5038::INTEGER, 5039::INTEGER, 5040::INTEGER, 5041::INTEGER, 5042::INTEGER, 5043::INTEGER, 5044::INTEGER, 5045::INTEGER, 5046::INTEGER, 5047::INTEGER, 5048::INTEGER, 5049::INTEGER, 5050::INTEGER, 5051::INTEGER, 5052::INTEGER, 5053::INTEGER, 5054::INTEGER, 5055::INTEGER, 5056::INTEGER, 5057::INTEGER, 5058::INTEGER, 5059::INTEGER, 5060::INTEGER, 5001::INTEGER, 5061::INTEGER, 5062::INTEGER, 5063::INTEGER, 5064::INTEGER, 5065::INTEGER, 5066::INTEGER, 5067::INTEGER, 5068::INTEGER, 5069::INTEGER, 5070::INTEGER, 5071::INTEGER, 5072::INTEGER, 5073::INTEGER, 5074::INTEGER, 5075::INTEGER, 5076::INTEGER, 5077::INTEGER, 5078::INTEGER, 5079::INTEGER, 5080::INTEGER, 5081::INTEGER, 5082::INTEGER, 5083::INTEGER, 5084::INTEGER, 5085::INTEGER, 5086::INTEGER, 5087::INTEGER, 5088::INTEGER, 5089::INTEGER, 5090::INTEGER, 5091::INTEGER, 5092::INTEGER, 5093::INTEGER, 5094::INTEGER, 5095::INTEGER, 5096::INTEGER, 5097::INTEGER, 5098::INTEGER, 5099::INTEGER, 5100::INTEGER, 5007::INTEGER) AND daily_usages.day IN (:today::DATE);
COMMIT;
