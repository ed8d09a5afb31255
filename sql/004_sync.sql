-- 004: keeping our copy of RetailCRM in step with RetailCRM (issue 5): where each history stream was read up to,
-- and the orders (for call-to-order conversion in the analytics). Never edited once released.

-- Last RetailCRM history entry applied, per enterprise and stream; the poller resumes after it.
-- A missing row means "never polled": the first poll starts from a recent startDate, not from the beginning.
create table sync_state (
  enterprise  text not null references enterprises(number) on delete cascade,
  stream      text not null check (stream in ('customers', 'orders')),
  since_id    bigint not null check (since_id > 0),
  updated_at  timestamptz not null default now(),
  primary key (enterprise, stream)
);

-- What RetailCRM said about an order, written by the history poller and by order triggers.
create table retailcrm_orders (
  enterprise       text not null references enterprises(number) on delete cascade,
  order_id         bigint not null,
  customer_id      bigint,
  phone            text,                      -- E.164 after normalisation, null when the order has no usable phone
  manager_user_id  integer,                   -- RetailCRM user id of the order's manager
  status           text,                      -- RetailCRM status code as sent
  created_at       timestamptz not null,      -- when the order was created in RetailCRM
  updated_at       timestamptz not null default now(),
  primary key (enterprise, order_id)
);
create index retailcrm_orders_customer on retailcrm_orders (enterprise, customer_id, created_at);
create index retailcrm_orders_created on retailcrm_orders (enterprise, created_at);
