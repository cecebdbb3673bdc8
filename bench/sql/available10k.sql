-- bench/sql/available10k.sql: the SQL the service sends for one `available` request, as a pgbench script.
-- Written by `make bench-sql (.venv/bin/python -m bench.sql --write)` from a request recorded through the real app; `make bench`
-- records one again on every run and stops if this file no longer matches. Do not edit by hand.
-- Variables set by the bench (-D): customer_first customer_last campaign_first campaign_last now today expires key_prefix
\set customer random(:customer_first, :customer_last)
\set cart random(10000, 99999) / 100.0
\set delivery random(500, 1999) / 100.0
SELECT campaigns.id, campaigns.version, campaigns.name, campaigns.discount_type, campaigns.discount_percentage, campaigns.discount_flat, campaigns.start_date, campaigns.end_date, campaigns.total_budget, campaigns.used_budget, campaigns.max_usage_per_customer_per_day, campaigns.min_cart_value, campaigns.max_discount_amount, campaigns.is_targeted, campaigns.is_paused, campaigns.timezone, campaigns.deleted_at, (SELECT daily_usages.uses 
FROM daily_usages 
WHERE daily_usages.campaign_id = campaigns.id AND daily_usages.customer_id = :customer::INTEGER AND daily_usages.day = :today::DATE) AS uses 
FROM customers LEFT OUTER JOIN (SELECT campaigns.id AS id 
FROM campaigns 
WHERE NOT campaigns.is_targeted AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE AND campaigns.used_budget < campaigns.total_budget AND campaigns.min_cart_value <= :cart::NUMERIC(14, 2) UNION ALL SELECT campaigns.id AS id 
FROM campaigns JOIN campaign_targets ON campaign_targets.campaign_id = campaigns.id 
WHERE campaign_targets.customer_id = :customer::INTEGER AND campaigns.is_targeted AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE AND campaigns.used_budget < campaigns.total_budget AND campaigns.min_cart_value <= :cart::NUMERIC(14, 2)) AS candidates ON true LEFT OUTER JOIN campaigns ON campaigns.id = candidates.id 
WHERE customers.id = :customer::INTEGER;
