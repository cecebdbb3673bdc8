-- bench/sql/mixed_apply.sql: the SQL the service sends for one `apply` request, as a pgbench script.
-- Written by `make bench-sql (.venv/bin/python -m bench.sql --write)` from a request recorded through the real app; `make bench`
-- records one again on every run and stops if this file no longer matches. Do not edit by hand.
-- Variables set by the bench (-D): customer_first customer_last campaign_first campaign_last now today expires key_prefix
\set customer random(:customer_first, :customer_last)
\set cart random(10000, 99999) / 100.0
\set delivery random(500, 1999) / 100.0
\set campaign random(:campaign_first, :campaign_last)
\set amount random(100, 2000) / 100.0
\set idem random(1, 9000000000000000000)
\set event random(1, 9000000000000000000)
BEGIN ISOLATION LEVEL READ COMMITTED;
INSERT INTO idempotency_keys (key, request_hash, response_status, response_body, created_at, expires_at) VALUES (:idem::VARCHAR, 'f0bd122b3648379a71af00b0356edb69ae59f9892e0758f0b03f2e3c4de6f112'::VARCHAR, 0::INTEGER, ''::VARCHAR, :now::TIMESTAMP WITH TIME ZONE, :expires::TIMESTAMP WITH TIME ZONE) ON CONFLICT (key) DO UPDATE SET request_hash = 'f0bd122b3648379a71af00b0356edb69ae59f9892e0758f0b03f2e3c4de6f112'::VARCHAR, response_status = 0::INTEGER, response_body = ''::VARCHAR, created_at = :now::TIMESTAMP WITH TIME ZONE, expires_at = :expires::TIMESTAMP WITH TIME ZONE WHERE idempotency_keys.expires_at <= :now::TIMESTAMP WITH TIME ZONE RETURNING idempotency_keys.key;
SAVEPOINT sa_savepoint_1;
SELECT (SELECT customers.id 
FROM customers 
WHERE customers.id = :customer::INTEGER AND customers.erased_at IS NULL) AS customer_id, campaigns.id AS id, campaigns.version AS version, campaigns.name AS name, campaigns.discount_type AS discount_type, campaigns.discount_percentage AS discount_percentage, campaigns.discount_flat AS discount_flat, campaigns.start_date AS start_date, campaigns.end_date AS end_date, campaigns.total_budget AS total_budget, (SELECT coalesce(sum(campaign_budget_slices.used), 0.00::NUMERIC) AS coalesce_1 
FROM campaign_budget_slices 
WHERE campaign_budget_slices.campaign_id = campaigns.id) AS used_budget, campaigns.max_usage_per_customer_per_day AS max_usage_per_customer_per_day, campaigns.min_cart_value AS min_cart_value, campaigns.max_discount_amount AS max_discount_amount, campaigns.is_targeted AS is_targeted, campaigns.is_paused AS is_paused, campaigns.requires_code AS requires_code, campaigns.timezone AS timezone, campaigns.deleted_at AS deleted_at, campaigns.budget_slices AS budget_slices, (SELECT daily_usages.uses 
FROM daily_usages 
WHERE daily_usages.campaign_id = campaigns.id AND daily_usages.customer_id = :customer::INTEGER AND daily_usages.day = :today::DATE) AS uses, EXISTS (SELECT * 
FROM campaign_targets 
WHERE campaign_targets.campaign_id = campaigns.id AND campaign_targets.customer_id = :customer::INTEGER) AS is_target 
FROM campaigns 
WHERE campaigns.id = :campaign::INTEGER AND campaigns.deleted_at IS NULL;
WITH terms AS 
(SELECT campaigns.id AS id, campaigns.budget_slices AS budget_slices 
FROM campaigns 
WHERE campaigns.id = :campaign::INTEGER AND campaigns.version = 1::INTEGER AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE FOR SHARE), 
own AS 
(SELECT campaign_budget_slices.slice AS slice 
FROM terms JOIN campaign_budget_slices ON campaign_budget_slices.campaign_id = terms.id 
WHERE campaign_budget_slices.campaign_id = :campaign::INTEGER AND campaign_budget_slices.used + :amount::NUMERIC(14, 2) <= campaign_budget_slices.allotment AND campaign_budget_slices.slice = :customer::INTEGER % terms.budget_slices FOR NO KEY UPDATE OF campaign_budget_slices), 
other AS 
(SELECT campaign_budget_slices.slice AS slice 
FROM terms JOIN campaign_budget_slices ON campaign_budget_slices.campaign_id = terms.id 
WHERE campaign_budget_slices.campaign_id = :campaign::INTEGER AND campaign_budget_slices.used + :amount::NUMERIC(14, 2) <= campaign_budget_slices.allotment AND campaign_budget_slices.slice != :customer::INTEGER % terms.budget_slices ORDER BY campaign_budget_slices.slice < :customer::INTEGER % terms.budget_slices, campaign_budget_slices.slice 
 LIMIT 1::INTEGER FOR NO KEY UPDATE OF campaign_budget_slices SKIP LOCKED), 
budget AS 
(SELECT own.slice AS slice 
FROM own UNION ALL SELECT other.slice AS slice 
FROM other 
 LIMIT 1::INTEGER), 
code AS 
(SELECT discount_codes.id AS id 
FROM discount_codes 
WHERE discount_codes.id = NULL::INTEGER AND discount_codes.retired_at IS NULL AND (discount_codes.max_redemptions IS NULL OR discount_codes.redemptions < discount_codes.max_redemptions) AND (EXISTS (SELECT budget.slice 
FROM budget)) FOR NO KEY UPDATE), 
counted AS 
(INSERT INTO daily_usages (campaign_id, customer_id, day, uses, usage_limit) SELECT :campaign::INTEGER AS campaign_id, :customer::INTEGER AS customer_id, :today::DATE AS day, 1::INTEGER AS uses, 100000::INTEGER AS usage_limit 
WHERE (EXISTS (SELECT budget.slice 
FROM budget)) AND (NULL::INTEGER IS NULL OR (EXISTS (SELECT code.id 
FROM code))) ON CONFLICT (campaign_id, customer_id, day) DO UPDATE SET uses = (daily_usages.uses + 1::INTEGER), usage_limit = 100000::INTEGER WHERE daily_usages.uses < 100000::INTEGER RETURNING daily_usages.uses), 
recorded AS 
(INSERT INTO redemptions (campaign_id, customer_id, discount_type, cart_value, delivery_charge, discount_amount, campaign_version, usage_day, code_id, code, checkout_id, created_at, status) SELECT :campaign::INTEGER AS anon_1, :customer::INTEGER AS anon_2, 'cart'::VARCHAR AS anon_3, :cart::NUMERIC(14, 2) AS anon_4, :delivery::NUMERIC(14, 2) AS anon_5, :amount::NUMERIC(14, 2) AS anon_6, 1::INTEGER AS anon_7, :today::DATE AS anon_8, NULL::INTEGER AS anon_9, NULL::VARCHAR AS anon_10, NULL::INTEGER AS anon_11, :now::TIMESTAMP WITH TIME ZONE AS anon_12, 'applied'::VARCHAR AS anon_13 
FROM counted RETURNING redemptions.id), 
spent AS 
(UPDATE campaign_budget_slices SET used=(campaign_budget_slices.used + :amount::NUMERIC(14, 2)) WHERE campaign_budget_slices.campaign_id = :campaign::INTEGER AND campaign_budget_slices.slice = (SELECT budget.slice 
FROM budget) AND (EXISTS (SELECT recorded.id 
FROM recorded)) RETURNING campaign_budget_slices.slice), 
code_taken AS 
(UPDATE discount_codes SET redemptions=(discount_codes.redemptions + 1::INTEGER) WHERE discount_codes.id IN (SELECT code.id 
FROM code) AND (EXISTS (SELECT recorded.id 
FROM recorded)) RETURNING discount_codes.id), 
told AS 
(INSERT INTO webhook_events (event_id, type, data, subject_id, created_at) SELECT :event::VARCHAR AS anon_14, 'redemption.created'::VARCHAR AS anon_15, E'{"campaign_id"\x3a5007,"customer_id"\x3a100013,"checkout_id"\x3anull,"code"\x3anull,"discount_type"\x3a"cart","cart_value"\x3a123.45,"delivery_charge"\x3a7.89,"discount_amount"\x3a37.04,"created_at"\x3a"2026-12-06T10\x3a56\x3a37Z","status"\x3a"applied","rolled_back_at"\x3anull,"rollback_reason"\x3anull}'::VARCHAR AS anon_16, recorded.id AS id, :now::TIMESTAMP WITH TIME ZONE AS anon_17 
FROM recorded RETURNING webhook_events.id)
 SELECT (SELECT recorded.id 
FROM recorded) AS redemption_id, EXISTS (SELECT spent.slice 
FROM spent) AS spent, EXISTS (SELECT code_taken.id 
FROM code_taken) AS code_taken, EXISTS (SELECT told.id 
FROM told) AS told, EXISTS (SELECT terms.id 
FROM terms) AS terms_hold, EXISTS (SELECT budget.slice 
FROM budget) AS slice_holds;
RELEASE SAVEPOINT sa_savepoint_1;
UPDATE idempotency_keys SET response_status=201::INTEGER, response_body=E'{"id"\x3a 6, "campaign_id"\x3a 5007, "customer_id"\x3a 100013, "checkout_id"\x3a null, "code"\x3a null, "discount_type"\x3a "cart", "cart_value"\x3a 123.45, "delivery_charge"\x3a 7.89, "discount_amount"\x3a 37.04, "created_at"\x3a "2026-12-06T10\x3a56\x3a37Z", "status"\x3a "applied", "rolled_back_at"\x3a null, "rollback_reason"\x3a null}'::VARCHAR WHERE idempotency_keys.key = :idem::VARCHAR;
COMMIT;
