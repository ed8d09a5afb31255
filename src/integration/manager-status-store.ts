/** The `manager_status` table: each RetailCRM user's last reported status, per enterprise. */
import type { Queryable } from '../db/pool.js';

export async function saveManagerStatuses(
  db: Queryable,
  enterprise: string,
  statuses: readonly { readonly userId: number; readonly status: string }[],
): Promise<void> {
  // Only changes are written: the periodic read of the users reports every status every time.
  await db.query(
    `insert into manager_status (enterprise, user_id, status)
     select $1, u.user_id, u.status from unnest($2::int[], $3::text[]) as u(user_id, status)
     on conflict (enterprise, user_id) do update set status = excluded.status, updated_at = now()
     where manager_status.status is distinct from excluded.status`,
    [enterprise, statuses.map((s) => s.userId), statuses.map((s) => s.status)],
  );
}

export async function saveManagerStatus(db: Queryable, enterprise: string, userId: number, status: string): Promise<void> {
  await db.query(
    `insert into manager_status (enterprise, user_id, status) values ($1, $2, $3)
     on conflict (enterprise, user_id) do update set status = excluded.status, updated_at = now()`,
    [enterprise, userId, status],
  );
}

export async function readManagerStatuses(db: Queryable, enterprise: string): Promise<{ userId: number; status: string }[]> {
  const { rows } = await db.query<{ user_id: number; status: string }>(
    'select user_id, status from manager_status where enterprise = $1',
    [enterprise],
  );
  return rows.map((r) => ({ userId: r.user_id, status: r.status }));
}
