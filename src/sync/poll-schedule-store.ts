/**
 * The `history_poll_schedule` table: per enterprise, when its next history poll is due and which instance
 * claimed the current one, so several instances poll each enterprise once per interval between them.
 */
import type { Queryable } from '../db/pool.js';

/**
 * Claims the enterprise's poll slot when it is due (or was never set), moving it `holdMs` on; true when this
 * instance now holds it, false when another instance claimed it within the interval.
 */
export async function claimDuePollSlot(db: Queryable, enterprise: string, holdMs: number, instanceId: string): Promise<boolean> {
  const { rows } = await db.query(
    `insert into history_poll_schedule (enterprise, next_poll_at, claimed_by)
     values ($1, now() + make_interval(secs => $2::double precision / 1000), $3)
     on conflict (enterprise) do update set next_poll_at = excluded.next_poll_at, claimed_by = excluded.claimed_by,
       claimed_at = now()
     where history_poll_schedule.next_poll_at <= now()
     returning enterprise`,
    [enterprise, holdMs, instanceId],
  );
  return rows.length > 0;
}
