-- 002: every call, and the durable outbox of RetailCRM writes (graphile-worker style).

create table calls (
  id               bigserial primary key,
  enterprise       text not null references enterprises(number) on delete cascade,
  linkedid         text not null,                 -- Asterisk's call key, shared by every leg
  external_id      text not null,                 -- externalId / callExternalId sent to RetailCRM
  direction        text not null check (direction in ('in', 'out')),
  phone            text not null,                 -- the customer's number (E.164 when it could be normalised)
  external_phone   text,                          -- our DID
  site             text,
  customer_id      bigint,
  ring_codes       text[] not null default '{}',  -- extensions that rang (popup targets)
  started_at       timestamptz not null,
  ended_at         timestamptz,
  answered         boolean,
  result           text check (result in ('answered', 'busy', 'failed', 'no answer', 'not allowed', 'unknown')),
  hangup_status    text check (hangup_status in ('answered', 'busy', 'cancel', 'failed', 'no answered')),
  manager_code     text,                          -- extension that talked last (or rang, when missed)
  manager_user_id  integer,
  duration_sec     integer check (duration_sec >= 0),
  waiting_sec      integer check (waiting_sec >= 0),
  recording_file   text,                          -- path relative to RECORDINGS_DIR
  dial_status      text,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  unique (enterprise, linkedid)
);
create index calls_enterprise_started on calls (enterprise, started_at);
create index calls_enterprise_phone on calls (enterprise, phone, started_at);

create table outbox_jobs (
  id          bigserial primary key,
  enterprise  text not null references enterprises(number) on delete cascade,
  kind        text not null,                      -- call_event | call_upload | customer_create | ...
  job_key     text unique,                        -- deduplicates: one job per (kind, call, ...)
  payload     jsonb not null,
  state       text not null default 'pending' check (state in ('pending', 'done', 'failed', 'dropped')),
  attempts    integer not null default 0,         -- failed deliveries (retry); reset by "outbox retry"
  deferrals   integer not null default 0,         -- "not ready yet" postponements (a recording still open); capped
  run_at      timestamptz not null default now(),
  expires_at  timestamptz,                        -- popups: not sent after this (a late popup is worse than none)
  locked_at   timestamptz,
  locked_by   text,
  last_error  text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create index outbox_jobs_due on outbox_jobs (run_at, id) where state = 'pending';
-- a batch is one (enterprise, kind) group, oldest first; rate limits push back one enterprise
create index outbox_jobs_group on outbox_jobs (enterprise, kind, id) where state = 'pending';
create index outbox_jobs_failed on outbox_jobs (enterprise, updated_at) where state = 'failed';
