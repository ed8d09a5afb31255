-- 012: the keyring (issue 9, src/secrets/keyring.ts). secret_key_check (007) keeps naming the current key
-- (key_id, check_mac); after `secret rotate` it also lists every key the stored secrets and signed links may still
-- need, and the legacy key (the SECRET_KEY of `v1:` values and of links without a key id). Key ids only, never
-- key material: that stays in the keyring file. Never edited once released.

alter table secret_key_check add column key_ids text[];        -- null: never rotated (the keyring is key_id alone)
alter table secret_key_check add column legacy_key_id text;    -- null: never rotated (key_id is the legacy key)
alter table secret_key_check add column rotated_at timestamptz;
