-- 015: recordings (issue 10, src/recordings/). One row per call recording, written by the instance whose
-- RECORDINGS_DIR holds the file (host_url is that instance's PUBLIC_URL), in the transaction that records the
-- call's end. The row carries the file's life: recording (MixMonitor may still be writing) → converting (WAV
-- final, MP3 being made) → ready (mp3_file set, or the WAV is the link) | none (nothing to link) → expired
-- (retention deleted the files; links answer 410). The calls row is never touched. Never edited once released.

create table recordings (
  id            bigserial primary key,
  enterprise    text not null references enterprises(number) on delete cascade,
  linkedid      text not null,
  host_url      text not null,                   -- PUBLIC_URL of the instance that holds the files
  wav_file      text not null,                   -- as MixMonitor wrote it, relative to that host's RECORDINGS_DIR
  mp3_file      text,                            -- relative to the same directory, once converted
  wav_deleted   boolean not null default false,  -- RECORDING_KEEP_WAV=false removed it after conversion
  state         text not null default 'recording'
                check (state in ('recording', 'converting', 'ready', 'none', 'expired')),
  error         text,                            -- why there is no MP3 (unsupported format, encoder failure)
  wav_ready_at  timestamptz,                     -- when the WAV was seen final: the MP3 wait counts from here
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  expired_at    timestamptz,
  unique (enterprise, host_url, wav_file)
);
-- The converter's scan (its own host, unfinished) and the retention sweep (its own host, oldest first).
create index recordings_host_open on recordings (host_url, id) where state in ('recording', 'converting');
create index recordings_host_age on recordings (host_url, enterprise, created_at) where state <> 'expired';
create index recordings_mp3 on recordings (enterprise, mp3_file) where mp3_file is not null;
