-- 005: indexes for the call analytics (src/analytics/analytics-queries.ts, docs/analytics.md).
-- The period scans themselves use 002's calls_enterprise_started (enterprise, started_at).

-- "Called back?" and "still waiting?" look for a later *answered* call with the same phone. Only answered calls
-- qualify, so a partial index is smaller than 002's calls_enterprise_phone and each probe stops at its first
-- entry instead of stepping over the unanswered attempts of a phone that calls often.
create index calls_answered_phone on calls (enterprise, phone, started_at) where answered;

-- The missed-call list and the callback figure start from the missed inbound calls of a period (~10-15% of
-- calls); this partial index finds them without reading the other 85-90% of the period's rows.
create index calls_missed_started on calls (enterprise, started_at) where direction = 'in' and answered is false;

-- Conversion looks up orders by the call's phone within N days after the call (004 indexes orders by customer
-- id and by date, not by phone); orders without a usable phone never match, so they stay out of the index.
create index retailcrm_orders_phone on retailcrm_orders (enterprise, phone, created_at) where phone is not null;
