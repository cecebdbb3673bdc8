-- bench/sql/apply.sql: the SQL the service sends for one `apply` request, as a pgbench script.
-- Written by `make bench-sql (.venv/bin/python -m bench.sql --write)` from a request recorded through the real app; `make bench`
-- records one again on every run and stops if this file no longer matches. Do not edit by hand.
-- Variables set by the bench (-D): customer_first customer_last campaign_first campaign_last now today expires key_prefix
\set customer random(:customer_first, :customer_last)
\set cart random(10000, 99999) / 100.0
\set delivery random(500, 1999) / 100.0
\set campaign random(:campaign_first, :campaign_last)
\set amount random(100, 2000) / 100.0
BEGIN;
;
ROLLBACK;
BEGIN;
SELECT api_keys.id, api_keys.name, api_keys.prefix, api_keys.key_hash, api_keys.scopes, api_keys.created_at, api_keys.last_used_at, api_keys.revoked_at 
FROM api_keys 
WHERE api_keys.prefix = 'cms_live_903b721c'::VARCHAR AND api_keys.revoked_at IS NULL;
SELECT campaigns.id, campaigns.name, campaigns.description, campaigns.discount_type, campaigns.discount_percentage, campaigns.discount_flat, campaigns.start_date, campaigns.end_date, campaigns.total_budget, campaigns.used_budget, campaigns.max_usage_per_customer_per_day, campaigns.min_cart_value, campaigns.max_discount_amount, campaigns.is_targeted, campaigns.is_paused, campaigns.timezone, campaigns.version, campaigns.created_at, campaigns.updated_at, campaigns.deleted_at 
FROM campaigns 
WHERE campaigns.id = :campaign::INTEGER AND campaigns.deleted_at IS NULL;
SELECT customers.id, customers.email, customers.name, customers.created_at 
FROM customers 
WHERE customers.id = :customer::INTEGER;
SELECT daily_usages.uses 
FROM daily_usages 
WHERE daily_usages.campaign_id = :campaign::INTEGER AND daily_usages.customer_id = :customer::INTEGER AND daily_usages.day = :today::DATE;
UPDATE campaigns SET used_budget=(campaigns.used_budget + :amount::NUMERIC(14, 2)) WHERE campaigns.id = :campaign::INTEGER AND campaigns.version = 1::INTEGER AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE AND campaigns.used_budget + :amount::NUMERIC(14, 2) <= campaigns.total_budget RETURNING campaigns.version;
INSERT INTO daily_usages (campaign_id, customer_id, day, uses, usage_limit) VALUES (:campaign::INTEGER, :customer::INTEGER, :today::DATE, 1::INTEGER, 100000::INTEGER) ON CONFLICT (campaign_id, customer_id, day) DO UPDATE SET uses = (daily_usages.uses + 1::INTEGER), usage_limit = 100000::INTEGER WHERE daily_usages.uses < 100000::INTEGER RETURNING daily_usages.uses;
INSERT INTO redemptions (campaign_id, customer_id, discount_type, cart_value, delivery_charge, discount_amount, campaign_version, usage_day, created_at, status, rolled_back_at, rollback_reason) VALUES (:campaign::INTEGER, :customer::INTEGER, 'cart'::VARCHAR, :cart::NUMERIC(14, 2), :delivery::NUMERIC(14, 2), :amount::NUMERIC(14, 2), 1::INTEGER, :today::DATE, :now::TIMESTAMP WITH TIME ZONE, 'applied'::VARCHAR, NULL::TIMESTAMP WITH TIME ZONE, NULL::VARCHAR) RETURNING redemptions.id;
COMMIT;
