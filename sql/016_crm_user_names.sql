-- 016: RetailCRM user names, so analytics name managers ("First Last") instead of user ids (issue 10). Written by
-- `users sync` and the manager status sync (src/db/crm-user-store.ts owns the table). Never edited once released.
create table crm_users (
  enterprise  text not null references enterprises(number) on delete cascade,
  user_id     bigint not null,
  first_name  text not null default '',
  last_name   text not null default '',
  updated_at  timestamptz not null default now(),
  primary key (enterprise, user_id)
);

-- Conversion on sales (docs/analytics.md): the orders of an enterprise in a status, by creation time.
create index retailcrm_orders_status on retailcrm_orders (enterprise, status, created_at);
