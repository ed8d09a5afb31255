-- 014: leads and call-back tasks in RetailCRM (issue 10, src/work/). Never edited once released.
--
-- callback_tasks: one row per "call this number back". A missed inbound call opens a row (or adds to the open one),
-- an answered call with the number completes it. The partial unique index gives at most one open row per number,
-- whichever instance records the miss. crm_task_id is null until RetailCRM has answered tasks/create;
-- create_sent_at says a tasks/create may have reached RetailCRM (a retry then looks for it before creating).
create table callback_tasks (
  id                bigserial primary key,
  enterprise        text not null references enterprises(number) on delete cascade,
  phone             text not null,
  state             text not null default 'open' check (state in ('open', 'completed')),
  customer_id       bigint,
  performer_id      bigint,
  crm_task_id       bigint,
  create_sent_at    timestamptz,
  first_missed_at   timestamptz not null,
  last_missed_at    timestamptz not null,
  missed_count      integer not null default 1 check (missed_count > 0),
  first_missed_call text not null,
  completed_at      timestamptz,
  completed_by_call text,
  crm_completed_at  timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);
create unique index callback_tasks_one_open on callback_tasks (enterprise, phone) where state = 'open';
create index callback_tasks_by_time on callback_tasks (enterprise, first_missed_at);

-- crm_leads: one order ("lead") per new caller per period. period_start is the start of the fixed window
-- (leads.periodHours long, counted from the epoch) the call fell in; the unique key makes concurrent calls of one
-- number, on any instance, insert one row.
create table crm_leads (
  id              bigserial primary key,
  enterprise      text not null references enterprises(number) on delete cascade,
  phone           text not null,
  period_start    timestamptz not null,
  linkedid        text not null,
  called_at       timestamptz not null,
  external_id     text not null,
  crm_order_id    bigint,
  customer_id     bigint,
  crm_created_at  timestamptz,
  created_at      timestamptz not null default now(),
  unique (enterprise, phone, period_start)
);
create index crm_leads_by_time on crm_leads (enterprise, called_at);
