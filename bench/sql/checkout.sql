-- bench/sql/checkout.sql: the SQL the service sends for one `checkouts` request, as a pgbench script.
-- Written by `make bench-sql (.venv/bin/python -m bench.sql --write)` from a request recorded through the real app; `make bench`
-- records one again on every run and stops if this file no longer matches. Do not edit by hand.
-- Variables set by the bench (-D): customer_first customer_last campaign_first campaign_last now today expires key_prefix
\set customer random(:customer_first, :customer_last)
\set cart random(10000, 99999) / 100.0
\set delivery random(500, 1999) / 100.0
\set amount random(100, 2000) / 100.0
\set event random(1, 9000000000000000000)
\set event_2 random(1, 9000000000000000000)
\set event_3 random(1, 9000000000000000000)
BEGIN ISOLATION LEVEL READ COMMITTED;
SELECT who.customer_id, candidate.id, candidate.version, candidate.name, candidate.discount_type, candidate.discount_percentage, candidate.discount_flat, candidate.start_date, candidate.end_date, candidate.total_budget, candidate.used_budget, candidate.max_usage_per_customer_per_day, candidate.min_cart_value, candidate.max_discount_amount, candidate.is_targeted, candidate.is_paused, candidate.requires_code, candidate.timezone, candidate.deleted_at, candidate.budget_slices, candidate.uses, candidate.is_target, candidate.code_id, candidate.code_text, candidate.code_key, candidate.code_max, candidate.code_used, candidate.code_retired 
FROM (SELECT (SELECT customers.id 
FROM customers 
WHERE customers.id = :customer::INTEGER AND customers.erased_at IS NULL) AS customer_id) AS who LEFT OUTER JOIN (SELECT campaigns.id AS id, campaigns.version AS version, campaigns.name AS name, campaigns.discount_type AS discount_type, campaigns.discount_percentage AS discount_percentage, campaigns.discount_flat AS discount_flat, campaigns.start_date AS start_date, campaigns.end_date AS end_date, campaigns.total_budget AS total_budget, spent.used AS used_budget, campaigns.max_usage_per_customer_per_day AS max_usage_per_customer_per_day, campaigns.min_cart_value AS min_cart_value, campaigns.max_discount_amount AS max_discount_amount, campaigns.is_targeted AS is_targeted, campaigns.is_paused AS is_paused, campaigns.requires_code AS requires_code, campaigns.timezone AS timezone, campaigns.deleted_at AS deleted_at, campaigns.budget_slices AS budget_slices, (SELECT daily_usages.uses 
FROM daily_usages 
WHERE daily_usages.campaign_id = campaigns.id AND daily_usages.customer_id = :customer::INTEGER AND daily_usages.day = :today::DATE) AS uses, true AS is_target, CAST(NULL AS INTEGER) AS code_id, CAST(NULL AS VARCHAR) AS code_text, CAST(NULL AS VARCHAR) AS code_key, CAST(NULL AS INTEGER) AS code_max, CAST(NULL AS INTEGER) AS code_used, CAST(NULL AS BOOLEAN) AS code_retired 
FROM campaigns JOIN LATERAL (SELECT coalesce(sum(campaign_budget_slices.used), 0.00::NUMERIC) AS used 
FROM campaign_budget_slices 
WHERE campaign_budget_slices.campaign_id = campaigns.id) AS spent ON true 
WHERE NOT campaigns.is_targeted AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE AND spent.used < campaigns.total_budget AND campaigns.min_cart_value <= :cart::NUMERIC(14, 2) AND NOT campaigns.requires_code UNION ALL SELECT campaigns.id AS id, campaigns.version AS version, campaigns.name AS name, campaigns.discount_type AS discount_type, campaigns.discount_percentage AS discount_percentage, campaigns.discount_flat AS discount_flat, campaigns.start_date AS start_date, campaigns.end_date AS end_date, campaigns.total_budget AS total_budget, spent.used AS used_budget, campaigns.max_usage_per_customer_per_day AS max_usage_per_customer_per_day, campaigns.min_cart_value AS min_cart_value, campaigns.max_discount_amount AS max_discount_amount, campaigns.is_targeted AS is_targeted, campaigns.is_paused AS is_paused, campaigns.requires_code AS requires_code, campaigns.timezone AS timezone, campaigns.deleted_at AS deleted_at, campaigns.budget_slices AS budget_slices, (SELECT daily_usages.uses 
FROM daily_usages 
WHERE daily_usages.campaign_id = campaigns.id AND daily_usages.customer_id = :customer::INTEGER AND daily_usages.day = :today::DATE) AS uses, true AS is_target, CAST(NULL AS INTEGER) AS code_id, CAST(NULL AS VARCHAR) AS code_text, CAST(NULL AS VARCHAR) AS code_key, CAST(NULL AS INTEGER) AS code_max, CAST(NULL AS INTEGER) AS code_used, CAST(NULL AS BOOLEAN) AS code_retired 
FROM campaigns JOIN LATERAL (SELECT coalesce(sum(campaign_budget_slices.used), 0.00::NUMERIC) AS used 
FROM campaign_budget_slices 
WHERE campaign_budget_slices.campaign_id = campaigns.id) AS spent ON true JOIN campaign_targets ON campaign_targets.campaign_id = campaigns.id 
WHERE campaign_targets.customer_id = :customer::INTEGER AND campaigns.is_targeted AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE AND spent.used < campaigns.total_budget AND campaigns.min_cart_value <= :cart::NUMERIC(14, 2) AND NOT campaigns.requires_code UNION ALL SELECT campaigns.id AS id, campaigns.version AS version, campaigns.name AS name, campaigns.discount_type AS discount_type, campaigns.discount_percentage AS discount_percentage, campaigns.discount_flat AS discount_flat, campaigns.start_date AS start_date, campaigns.end_date AS end_date, campaigns.total_budget AS total_budget, spent.used AS used_budget, campaigns.max_usage_per_customer_per_day AS max_usage_per_customer_per_day, campaigns.min_cart_value AS min_cart_value, campaigns.max_discount_amount AS max_discount_amount, campaigns.is_targeted AS is_targeted, campaigns.is_paused AS is_paused, campaigns.requires_code AS requires_code, campaigns.timezone AS timezone, campaigns.deleted_at AS deleted_at, campaigns.budget_slices AS budget_slices, (SELECT daily_usages.uses 
FROM daily_usages 
WHERE daily_usages.campaign_id = campaigns.id AND daily_usages.customer_id = :customer::INTEGER AND daily_usages.day = :today::DATE) AS uses, EXISTS (SELECT * 
FROM campaign_targets 
WHERE campaign_targets.campaign_id = campaigns.id AND campaign_targets.customer_id = :customer::INTEGER) AS is_target, discount_codes.id AS code_id, discount_codes.code AS code_text, discount_codes.code_key AS code_key, discount_codes.max_redemptions AS code_max, discount_codes.redemptions AS code_used, discount_codes.retired_at IS NOT NULL AS code_retired 
FROM campaigns JOIN LATERAL (SELECT coalesce(sum(campaign_budget_slices.used), 0.00::NUMERIC) AS used 
FROM campaign_budget_slices 
WHERE campaign_budget_slices.campaign_id = campaigns.id) AS spent ON true JOIN discount_codes ON discount_codes.campaign_id = campaigns.id 
WHERE discount_codes.code_key IN ('BENCHSHARED1'::VARCHAR)) AS candidate ON true;
SAVEPOINT sa_savepoint_1;
INSERT INTO checkouts (customer_id, cart_value, delivery_charge, total_discount, rejected, created_at, status) VALUES (:customer::INTEGER, :cart::NUMERIC(14, 2), :delivery::NUMERIC(14, 2), 32.58::NUMERIC(14, 2), '[]'::VARCHAR, :now::TIMESTAMP WITH TIME ZONE, 'applied'::VARCHAR) RETURNING checkouts.id;
WITH terms AS 
(SELECT campaigns.id AS id, campaigns.budget_slices AS budget_slices 
FROM campaigns 
WHERE campaigns.id = 5001::INTEGER AND campaigns.version = 1::INTEGER AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE FOR SHARE), 
own AS 
(SELECT campaign_budget_slices.slice AS slice 
FROM terms JOIN campaign_budget_slices ON campaign_budget_slices.campaign_id = terms.id 
WHERE campaign_budget_slices.campaign_id = 5001::INTEGER AND campaign_budget_slices.used + :amount::NUMERIC(14, 2) <= campaign_budget_slices.allotment AND campaign_budget_slices.slice = :customer::INTEGER % terms.budget_slices FOR NO KEY UPDATE OF campaign_budget_slices), 
other AS 
(SELECT campaign_budget_slices.slice AS slice 
FROM terms JOIN campaign_budget_slices ON campaign_budget_slices.campaign_id = terms.id 
WHERE campaign_budget_slices.campaign_id = 5001::INTEGER AND campaign_budget_slices.used + :amount::NUMERIC(14, 2) <= campaign_budget_slices.allotment AND campaign_budget_slices.slice != :customer::INTEGER % terms.budget_slices ORDER BY campaign_budget_slices.slice < :customer::INTEGER % terms.budget_slices, campaign_budget_slices.slice 
 LIMIT 1::INTEGER FOR NO KEY UPDATE OF campaign_budget_slices SKIP LOCKED), 
budget AS 
(SELECT own.slice AS slice 
FROM own UNION ALL SELECT other.slice AS slice 
FROM other 
 LIMIT 1::INTEGER), 
code AS 
(SELECT discount_codes.id AS id 
FROM discount_codes 
WHERE discount_codes.id = 1::INTEGER AND discount_codes.retired_at IS NULL AND (discount_codes.max_redemptions IS NULL OR discount_codes.redemptions < discount_codes.max_redemptions) AND (EXISTS (SELECT budget.slice 
FROM budget)) FOR NO KEY UPDATE), 
counted AS 
(INSERT INTO daily_usages (campaign_id, customer_id, day, uses, usage_limit) SELECT 5001::INTEGER AS campaign_id, :customer::INTEGER AS customer_id, :today::DATE AS day, 1::INTEGER AS uses, 1000000::INTEGER AS usage_limit 
WHERE (EXISTS (SELECT budget.slice 
FROM budget)) AND (1::INTEGER IS NULL OR (EXISTS (SELECT code.id 
FROM code))) ON CONFLICT (campaign_id, customer_id, day) DO UPDATE SET uses = (daily_usages.uses + 1::INTEGER), usage_limit = 1000000::INTEGER WHERE daily_usages.uses < 1000000::INTEGER RETURNING daily_usages.uses), 
recorded AS 
(INSERT INTO redemptions (campaign_id, customer_id, discount_type, cart_value, delivery_charge, discount_amount, campaign_version, usage_day, code_id, code, checkout_id, created_at, status) SELECT 5001::INTEGER AS anon_1, :customer::INTEGER AS anon_2, 'cart'::VARCHAR AS anon_3, :cart::NUMERIC(14, 2) AS anon_4, :delivery::NUMERIC(14, 2) AS anon_5, :amount::NUMERIC(14, 2) AS anon_6, 1::INTEGER AS anon_7, :today::DATE AS anon_8, 1::INTEGER AS anon_9, 'BENCH-SHARED-1'::VARCHAR AS anon_10, 2::INTEGER AS anon_11, :now::TIMESTAMP WITH TIME ZONE AS anon_12, 'applied'::VARCHAR AS anon_13 
FROM counted RETURNING redemptions.id), 
spent AS 
(UPDATE campaign_budget_slices SET used=(campaign_budget_slices.used + :amount::NUMERIC(14, 2)) WHERE campaign_budget_slices.campaign_id = 5001::INTEGER AND campaign_budget_slices.slice = (SELECT budget.slice 
FROM budget) AND (EXISTS (SELECT recorded.id 
FROM recorded)) RETURNING campaign_budget_slices.slice), 
code_taken AS 
(UPDATE discount_codes SET redemptions=(discount_codes.redemptions + 1::INTEGER) WHERE discount_codes.id IN (SELECT code.id 
FROM code) AND (EXISTS (SELECT recorded.id 
FROM recorded)) RETURNING discount_codes.id), 
told AS 
(INSERT INTO webhook_events (event_id, type, data, subject_id, created_at) SELECT :event::VARCHAR AS anon_14, 'redemption.created'::VARCHAR AS anon_15, E'{"campaign_id"\x3a5001,"customer_id"\x3a100012,"checkout_id"\x3a2,"code"\x3a"BENCH-SHARED-1","discount_type"\x3a"cart","cart_value"\x3a123.45,"delivery_charge"\x3a7.89,"discount_amount"\x3a24.69,"created_at"\x3a"2026-12-06T10\x3a56\x3a37Z","status"\x3a"applied","rolled_back_at"\x3anull,"rollback_reason"\x3anull}'::VARCHAR AS anon_16, recorded.id AS id, :now::TIMESTAMP WITH TIME ZONE AS anon_17 
FROM recorded RETURNING webhook_events.id)
 SELECT (SELECT recorded.id 
FROM recorded) AS redemption_id, EXISTS (SELECT spent.slice 
FROM spent) AS spent, EXISTS (SELECT code_taken.id 
FROM code_taken) AS code_taken, EXISTS (SELECT told.id 
FROM told) AS told, EXISTS (SELECT terms.id 
FROM terms) AS terms_hold, EXISTS (SELECT budget.slice 
FROM budget) AS slice_holds;
WITH terms AS 
(SELECT campaigns.id AS id, campaigns.budget_slices AS budget_slices 
FROM campaigns 
WHERE campaigns.id = 5002::INTEGER AND campaigns.version = 1::INTEGER AND campaigns.deleted_at IS NULL AND NOT campaigns.is_paused AND campaigns.start_date <= :now::TIMESTAMP WITH TIME ZONE AND campaigns.end_date > :now::TIMESTAMP WITH TIME ZONE FOR SHARE), 
own AS 
(SELECT campaign_budget_slices.slice AS slice 
FROM terms JOIN campaign_budget_slices ON campaign_budget_slices.campaign_id = terms.id 
WHERE campaign_budget_slices.campaign_id = 5002::INTEGER AND campaign_budget_slices.used + :delivery::NUMERIC(14, 2) <= campaign_budget_slices.allotment AND campaign_budget_slices.slice = :customer::INTEGER % terms.budget_slices FOR NO KEY UPDATE OF campaign_budget_slices), 
other AS 
(SELECT campaign_budget_slices.slice AS slice 
FROM terms JOIN campaign_budget_slices ON campaign_budget_slices.campaign_id = terms.id 
WHERE campaign_budget_slices.campaign_id = 5002::INTEGER AND campaign_budget_slices.used + :delivery::NUMERIC(14, 2) <= campaign_budget_slices.allotment AND campaign_budget_slices.slice != :customer::INTEGER % terms.budget_slices ORDER BY campaign_budget_slices.slice < :customer::INTEGER % terms.budget_slices, campaign_budget_slices.slice 
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
(INSERT INTO daily_usages (campaign_id, customer_id, day, uses, usage_limit) SELECT 5002::INTEGER AS campaign_id, :customer::INTEGER AS customer_id, :today::DATE AS day, 1::INTEGER AS uses, 1000000::INTEGER AS usage_limit 
WHERE (EXISTS (SELECT budget.slice 
FROM budget)) AND (NULL::INTEGER IS NULL OR (EXISTS (SELECT code.id 
FROM code))) ON CONFLICT (campaign_id, customer_id, day) DO UPDATE SET uses = (daily_usages.uses + 1::INTEGER), usage_limit = 1000000::INTEGER WHERE daily_usages.uses < 1000000::INTEGER RETURNING daily_usages.uses), 
recorded AS 
(INSERT INTO redemptions (campaign_id, customer_id, discount_type, cart_value, delivery_charge, discount_amount, campaign_version, usage_day, code_id, code, checkout_id, created_at, status) SELECT 5002::INTEGER AS anon_1, :customer::INTEGER AS anon_2, 'delivery'::VARCHAR AS anon_3, :cart::NUMERIC(14, 2) AS anon_4, :delivery::NUMERIC(14, 2) AS anon_5, :delivery::NUMERIC(14, 2) AS anon_6, 1::INTEGER AS anon_7, :today::DATE AS anon_8, NULL::INTEGER AS anon_9, NULL::VARCHAR AS anon_10, 2::INTEGER AS anon_11, :now::TIMESTAMP WITH TIME ZONE AS anon_12, 'applied'::VARCHAR AS anon_13 
FROM counted RETURNING redemptions.id), 
spent AS 
(UPDATE campaign_budget_slices SET used=(campaign_budget_slices.used + :delivery::NUMERIC(14, 2)) WHERE campaign_budget_slices.campaign_id = 5002::INTEGER AND campaign_budget_slices.slice = (SELECT budget.slice 
FROM budget) AND (EXISTS (SELECT recorded.id 
FROM recorded)) RETURNING campaign_budget_slices.slice), 
code_taken AS 
(UPDATE discount_codes SET redemptions=(discount_codes.redemptions + 1::INTEGER) WHERE discount_codes.id IN (SELECT code.id 
FROM code) AND (EXISTS (SELECT recorded.id 
FROM recorded)) RETURNING discount_codes.id), 
told AS 
(INSERT INTO webhook_events (event_id, type, data, subject_id, created_at) SELECT :event_2::VARCHAR AS anon_14, 'redemption.created'::VARCHAR AS anon_15, E'{"campaign_id"\x3a5002,"customer_id"\x3a100012,"checkout_id"\x3a2,"code"\x3anull,"discount_type"\x3a"delivery","cart_value"\x3a123.45,"delivery_charge"\x3a7.89,"discount_amount"\x3a7.89,"created_at"\x3a"2026-12-06T10\x3a56\x3a37Z","status"\x3a"applied","rolled_back_at"\x3anull,"rollback_reason"\x3anull}'::VARCHAR AS anon_16, recorded.id AS id, :now::TIMESTAMP WITH TIME ZONE AS anon_17 
FROM recorded RETURNING webhook_events.id)
 SELECT (SELECT recorded.id 
FROM recorded) AS redemption_id, EXISTS (SELECT spent.slice 
FROM spent) AS spent, EXISTS (SELECT code_taken.id 
FROM code_taken) AS code_taken, EXISTS (SELECT told.id 
FROM told) AS told, EXISTS (SELECT terms.id 
FROM terms) AS terms_hold, EXISTS (SELECT budget.slice 
FROM budget) AS slice_holds;
RELEASE SAVEPOINT sa_savepoint_1;
SELECT checkouts.id, checkouts.customer_id, checkouts.cart_value, checkouts.delivery_charge, checkouts.total_discount, checkouts.rejected, checkouts.created_at, checkouts.status, checkouts.rolled_back_at, checkouts.rollback_reason 
FROM checkouts 
WHERE checkouts.id = 2::INTEGER;
SELECT redemptions.id, redemptions.campaign_id, redemptions.customer_id, redemptions.discount_type, redemptions.cart_value, redemptions.delivery_charge, redemptions.discount_amount, redemptions.campaign_version, redemptions.usage_day, redemptions.code_id, redemptions.code, redemptions.checkout_id, redemptions.created_at, redemptions.status, redemptions.rolled_back_at, redemptions.rollback_reason 
FROM redemptions 
WHERE redemptions.checkout_id = 2::INTEGER ORDER BY redemptions.id;
INSERT INTO webhook_events (event_id, type, data, subject_id, created_at) VALUES (:event_3::VARCHAR, 'checkout.created'::VARCHAR, E'{"id"\x3a2,"customer_id"\x3a100012,"cart_value"\x3a123.45,"delivery_charge"\x3a7.89,"redemptions"\x3a[{"id"\x3a3,"campaign_id"\x3a5001,"customer_id"\x3a100012,"checkout_id"\x3a2,"code"\x3a"BENCH-SHARED-1","discount_type"\x3a"cart","cart_value"\x3a123.45,"delivery_charge"\x3a7.89,"discount_amount"\x3a24.69,"created_at"\x3a"2026-12-06T10\x3a56\x3a37Z","status"\x3a"applied","rolled_back_at"\x3anull,"rollback_reason"\x3anull},{"id"\x3a4,"campaign_id"\x3a5002,"customer_id"\x3a100012,"checkout_id"\x3a2,"code"\x3anull,"discount_type"\x3a"delivery","cart_value"\x3a123.45,"delivery_charge"\x3a7.89,"discount_amount"\x3a7.89,"created_at"\x3a"2026-12-06T10\x3a56\x3a37Z","status"\x3a"applied","rolled_back_at"\x3anull,"rollback_reason"\x3anull}],"total_discount"\x3a32.58,"rejected"\x3a[],"status"\x3a"applied","created_at"\x3a"2026-12-06T10\x3a56\x3a37Z","rolled_back_at"\x3anull,"rollback_reason"\x3anull}'::VARCHAR, NULL::INTEGER, :now::TIMESTAMP WITH TIME ZONE) RETURNING webhook_events.id;
COMMIT;
