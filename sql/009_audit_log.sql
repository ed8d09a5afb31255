-- 009: the audit log of administrative changes (issue 9): who changed what, for which enterprise, before → after
-- (secrets as fingerprints only). Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE. Each row carries
-- the hash of the previous row and a hash over its own content plus that, so an edited or deleted row breaks the
-- chain (`retailcrm-agi audit verify`). Owned by src/audit/audit-store.ts. Never edited once released.

create table audit_log (
  id          bigserial primary key,
  at          timestamptz not null,
  source      text not null check (source in ('cli', 'http')),
  actor       text not null,                -- the OS user (CLI) or the API caller (HTTP)
  action      text not null,                -- enterprise.add, extension.set, pbx.set, outbox.retry, ...
  enterprise  text,                         -- no foreign key: the row outlives a removed enterprise
  before      jsonb,
  after       jsonb,
  prev_hash   text not null,                -- '' for the first row
  hash        text not null unique          -- sha256(prev_hash, content): src/audit/audit-chain.ts
);
create index audit_log_enterprise on audit_log (enterprise, id);
create index audit_log_at on audit_log (at);

create function audit_log_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log is append-only (% refused)', tg_op using errcode = 'insufficient_privilege';
end
$$;

create trigger audit_log_no_change before update or delete on audit_log
  for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function audit_log_append_only();
