-- 001: enterprises, extension ↔ RetailCRM user mapping, and the phone → customer table.
-- Migrations are never edited once released: add a new numbered file instead.

create table enterprises (
  number          text primary key check (number ~ '^[A-Za-z0-9_-]{1,32}$'),
  crm_url         text not null,
  api_key_enc     text not null,              -- AES-256-GCM with SECRET_KEY (src/secrets/secret-box.ts)
  client_id_enc   text not null,              -- the clientId RetailCRM echoes on click-to-call/status callbacks
  client_id_hash  text not null unique,       -- HMAC of clientId, to find the enterprise without decrypting all rows
  country         text not null default 'RU' check (country ~ '^[A-Z]{2}$'),
  site            text,
  settings        jsonb not null default '{}'::jsonb,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

create table extensions (
  enterprise  text not null references enterprises(number) on delete cascade,
  ext         text not null check (ext ~ '^[0-9A-Za-z*#+_-]{1,32}$'),
  user_id     integer not null check (user_id > 0),
  updated_at  timestamptz not null default now(),
  primary key (enterprise, ext),
  unique (enterprise, user_id)
);

-- What RetailCRM said about a phone number, kept so a call finds the customer without asking RetailCRM,
-- and so a stale answer can still name the caller when RetailCRM is down.
create table retailcrm_customers (
  enterprise       text not null references enterprises(number) on delete cascade,
  phone            text not null,             -- E.164 after normalisation
  customer_id      bigint not null,
  customer_name    text not null default '',
  is_corporate     boolean not null default false,
  manager_user_id  integer,                   -- responsible manager (RetailCRM user id)
  updated_at       timestamptz not null default now(),
  primary key (enterprise, phone)
);
create index retailcrm_customers_customer on retailcrm_customers (enterprise, customer_id);
