-- 011: one history poll per enterprise and interval, however many instances run (issue 11). Each instance's
-- poller claims an enterprise's due slot (next_poll_at <= now()) and moves it one interval on; the others skip it.
-- When the instance that polled last dies, the next due slot is claimed by another within one interval.
-- Never edited once released.
create table history_poll_schedule (
  enterprise    text primary key references enterprises(number) on delete cascade,
  next_poll_at  timestamptz not null,
  claimed_by    text not null,
  claimed_at    timestamptz not null default now()
);
