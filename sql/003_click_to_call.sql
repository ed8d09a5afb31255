-- 003: click-to-call. The PBX (Asterisk Manager Interface) of each enterprise, the audit of every click-to-call
-- request, and the status managers set in RetailCRM (changeUserStatusUrl).
-- Migrations are never edited once released: add a new numbered file instead.

-- One PBX per enterprise. The AMI secret is sealed with SECRET_KEY like the RetailCRM API key.
create table pbx_connections (
  enterprise          text primary key references enterprises(number) on delete cascade,
  ami_host            text not null check (ami_host ~ '^[A-Za-z0-9.:_-]{1,253}$'),
  ami_port            integer not null default 5038 check (ami_port between 1 and 65535),
  ami_user            text not null check (ami_user ~ '^[A-Za-z0-9._@-]{1,80}$'),
  ami_secret_enc      text not null,                       -- AES-256-GCM (src/secrets/secret-box.ts)
  -- The manager's leg: `PJSIP/{ext}`, `IAX2/{ext}/{ext}`, `Local/{ext}@from-internal`; {ext} is the extension.
  channel_template    text not null default 'PJSIP/{ext}' check (channel_template ~ '^[A-Za-z0-9/_.@{}-]{1,120}$'),
  -- Where the answered manager leg continues (the customer leg, dialplan/click-to-call.conf).
  customer_context    text not null default 'from-internal' check (customer_context ~ '^[A-Za-z0-9_-]{1,80}$'),
  outbound_caller_id  text check (outbound_caller_id ~ '^\+?[0-9]{3,20}$'),
  originate_timeout_s integer not null default 30 check (originate_timeout_s between 5 and 120),
  updated_at          timestamptz not null default now()
);

-- Every click-to-call request, whatever became of it. `outcome` moves from `requested` to a final value when
-- Asterisk's OriginateResponse (or the failure) arrives.
create table click_to_call_audit (
  id            bigserial primary key,
  enterprise    text not null references enterprises(number) on delete cascade,
  user_id       integer,
  ext           text not null,
  phone         text not null,                             -- E.164 as dialled
  requested_at  timestamptz not null default now(),
  outcome       text not null default 'requested' check (outcome in
                  ('requested', 'started', 'answered', 'no_answer', 'busy', 'failed', 'pbx_unreachable',
                   'pbx_auth_failed', 'pbx_timeout', 'not_configured')),
  reason        text,
  crm_call_id   text,                                      -- CRM_CALL_ID channel variable (c2c-<id>)
  linkedid      text,                                      -- the manager leg's uniqueid when it answered
  finished_at   timestamptz
);
create index click_to_call_audit_enterprise on click_to_call_audit (enterprise, requested_at desc);

-- Manager status as RetailCRM last reported it.
create table manager_status (
  enterprise  text not null references enterprises(number) on delete cascade,
  user_id     integer not null check (user_id > 0),
  status      text not null check (status in ('free', 'busy', 'dinner', 'break')),
  updated_at  timestamptz not null default now(),
  primary key (enterprise, user_id)
);
