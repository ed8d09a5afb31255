/** Extension ↔ RetailCRM user mapping per enterprise (RetailCRM's `additionalCodes`). */
import { inTransaction, type Pool } from './pool.js';

export interface ExtensionMapping {
  readonly ext: string;
  readonly userId: number;
}

export const EXTENSION_CODE = /^[0-9A-Za-z*#+_-]{1,32}$/;

export class ExtensionStore {
  constructor(private readonly pool: Pool) {}

  /** Maps ext → userId; a user has one extension, so an older extension of the same user is moved. */
  async set(enterprise: string, ext: string, userId: number): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('delete from extensions where enterprise = $1 and user_id = $2 and ext <> $3', [
        enterprise,
        userId,
        ext,
      ]);
      await client.query(
        `insert into extensions (enterprise, ext, user_id) values ($1, $2, $3)
         on conflict (enterprise, ext) do update set user_id = excluded.user_id, updated_at = now()`,
        [enterprise, ext, userId],
      );
    });
  }

  async remove(enterprise: string, ext: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('delete from extensions where enterprise = $1 and ext = $2', [
      enterprise,
      ext,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async list(enterprise: string): Promise<ExtensionMapping[]> {
    const { rows } = await this.pool.query<{ ext: string; user_id: number }>(
      'select ext, user_id from extensions where enterprise = $1 order by ext',
      [enterprise],
    );
    return rows.map((r) => ({ ext: r.ext, userId: r.user_id }));
  }
}
