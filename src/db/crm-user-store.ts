/**
 * The `crm_users` table (sql/016): the names of an enterprise's RetailCRM users as `users sync` and the manager
 * status sync last read them. Analytics joins it to name managers; nothing else reads it.
 */
import type { Queryable } from './pool.js';

export interface CrmUserName {
  readonly userId: number;
  readonly firstName: string;
  readonly lastName: string;
}

/** "First Last" of a user, or null when RetailCRM gave neither part. */
export function displayName(u: { readonly firstName?: string | undefined; readonly lastName?: string | undefined }): string | null {
  const name = [u.firstName, u.lastName].map((p) => (p ?? '').trim()).filter((p) => p !== '').join(' ');
  return name === '' ? null : name;
}

export class CrmUserStore {
  constructor(private readonly db: Queryable) {}

  /** Upserts the names read from RetailCRM (one statement; users not in the list are left as they are). */
  async saveNames(enterprise: string, users: readonly CrmUserName[]): Promise<void> {
    if (users.length === 0) return;
    await this.db.query(
      `insert into crm_users (enterprise, user_id, first_name, last_name)
       select $1, u.id, u.first_name, u.last_name
       from unnest($2::bigint[], $3::text[], $4::text[]) as u(id, first_name, last_name)
       on conflict (enterprise, user_id) do update
         set first_name = excluded.first_name, last_name = excluded.last_name, updated_at = now()
       where (crm_users.first_name, crm_users.last_name) is distinct from (excluded.first_name, excluded.last_name)`,
      [enterprise, users.map((u) => u.userId), users.map((u) => u.firstName), users.map((u) => u.lastName)],
    );
  }

  async names(enterprise: string): Promise<Map<number, string>> {
    const { rows } = await this.db.query<{ user_id: string; first_name: string; last_name: string }>(
      'select user_id, first_name, last_name from crm_users where enterprise = $1 order by user_id',
      [enterprise],
    );
    const out = new Map<number, string>();
    for (const r of rows) {
      const name = displayName({ firstName: r.first_name, lastName: r.last_name });
      if (name !== null) out.set(Number(r.user_id), name);
    }
    return out;
  }
}
