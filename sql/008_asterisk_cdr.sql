-- 008: Asterisk's own call records (cdr_pgsql writes them; docs/reconcile.md), and the calls the reconciler
-- recorded from them.
--
-- cdr_pgsql reads this table's columns at load and, for every CDR, inserts the columns it has a value for:
-- standard CDR fields by name (src, dst, channel, dstchannel, disposition, billsec, linkedid, sequence, ...), any
-- other column from the CDR variable of the same name (rcrm_enterprise, rcrm_direction, recordingfile: set by the
-- shipped dialplan with Set(CDR(name)=...)). A column it has no value for is left out of the insert (so it gets
-- its default or null); a NOT NULL column without a default gets ''. start/answer/end are float8 columns, which
-- cdr_pgsql fills with epoch seconds (microseconds in the fraction): no time zone can shift them (a text or
-- timestamp column gets a local time without a zone). answer is 0 when the CDR was never answered.
create table asterisk_cdr (
  id              bigserial primary key,
  inserted_at     timestamptz not null default now(),
  accountcode     text,
  src             text,
  dst             text,
  dcontext        text,
  clid            text,
  channel         text,
  dstchannel      text,
  lastapp         text,
  lastdata        text,
  start           double precision,
  answer          double precision,
  "end"           double precision,
  duration        integer,
  billsec         integer,
  disposition     text,
  amaflags        text,
  userfield       text,
  uniqueid        text,
  linkedid        text,
  peeraccount     text,
  sequence        integer,
  recordingfile   text,
  rcrm_enterprise text,   -- CDR(rcrm_enterprise): the enterprise number, set by the shipped dialplan
  rcrm_direction  text    -- CDR(rcrm_direction): in | out, set by the shipped dialplan
);
-- The reconciler's scan: one enterprise's CDRs that ended in a window (the grace period to the window's start).
create index asterisk_cdr_enterprise_end on asterisk_cdr (rcrm_enterprise, "end");
-- Every segment of a call: the transfer legs may carry no rcrm_enterprise.
create index asterisk_cdr_linkedid on asterisk_cdr (linkedid);

-- A call the reconciler recorded from the CDRs (the AGI's /hangup never did).
alter table calls add column reconciled boolean not null default false;
