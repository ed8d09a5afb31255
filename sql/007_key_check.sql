-- 007: which SECRET_KEY this database belongs to. One row: a keyed hash of a fixed label under the key (never
-- the key), so a process started with another key stops at once with a clear message instead of failing later
-- on every stored API key and signed link (src/secrets/key-check.ts). Written on first start; existing
-- databases get it on their first start after this migration.

create table secret_key_check (
  id          integer primary key default 1 check (id = 1),
  key_id      text not null,              -- short fingerprint shown in messages, to tell keys apart
  check_mac   text not null,              -- HMAC-SHA256 (purpose "key-check") of a fixed label
  created_at  timestamptz not null default now()
);
