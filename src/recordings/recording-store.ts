/**
 * The `recordings` table (sql/015_recordings.sql): each call recording's life, shared by every instance on the
 * database. Only the instance whose PUBLIC_URL is a row's host_url touches its files; any instance may read a row
 * to publish its link. State changes are conditional updates, so the converter and an upload that stopped waiting
 * for the MP3 can never both win.
 */
import type { Pool, PoolClient } from '../db/pool.js';
import { inTransaction } from '../db/pool.js';

export type RecordingRowState = 'recording' | 'converting' | 'ready' | 'none' | 'expired';

export interface RecordingRow {
  readonly id: number;
  readonly enterprise: string;
  readonly linkedid: string;
  readonly hostUrl: string;
  readonly wavFile: string;
  readonly mp3File: string | null;
  readonly wavDeleted: boolean;
  readonly state: RecordingRowState;
  readonly error: string | null;
  readonly wavReadyAt: Date | null;
  readonly createdAt: Date;
}

interface Row {
  id: string;
  enterprise: string;
  linkedid: string;
  host_url: string;
  wav_file: string;
  mp3_file: string | null;
  wav_deleted: boolean;
  state: RecordingRowState;
  error: string | null;
  wav_ready_at: Date | null;
  created_at: Date;
}

const COLUMNS = 'id, enterprise, linkedid, host_url, wav_file, mp3_file, wav_deleted, state, error, wav_ready_at, created_at';

function fromRow(r: Row): RecordingRow {
  return {
    id: Number(r.id),
    enterprise: r.enterprise,
    linkedid: r.linkedid,
    hostUrl: r.host_url,
    wavFile: r.wav_file,
    mp3File: r.mp3_file,
    wavDeleted: r.wav_deleted,
    state: r.state,
    error: r.error,
    wavReadyAt: r.wav_ready_at,
    createdAt: r.created_at,
  };
}

/** PUBLIC_URL as a host identity: the same URL with or without a trailing slash is the same host. */
export function hostIdentity(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, '');
}

/** Registers a call's recording inside the transaction that records the call's end (a second /hangup: no-op). */
export async function registerRecording(
  db: PoolClient,
  r: { enterprise: string; linkedid: string; hostUrl: string; wavFile: string },
): Promise<void> {
  await db.query(
    `insert into recordings (enterprise, linkedid, host_url, wav_file) values ($1, $2, $3, $4)
     on conflict (enterprise, host_url, wav_file) do nothing`,
    [r.enterprise, r.linkedid, hostIdentity(r.hostUrl), r.wavFile],
  );
}

export class RecordingStore {
  constructor(private readonly pool: Pool) {}

  async find(enterprise: string, hostUrl: string, wavFile: string): Promise<RecordingRow | null> {
    const { rows } = await this.pool.query<Row>(
      `select ${COLUMNS} from recordings where enterprise = $1 and host_url = $2 and wav_file = $3`,
      [enterprise, hostIdentity(hostUrl), wavFile],
    );
    return rows[0] ? fromRow(rows[0]) : null;
  }

  /** Whether `file` (a WAV or its MP3) on this host was deleted by retention: its links answer 410. */
  async isExpired(enterprise: string, hostUrl: string, file: string): Promise<boolean> {
    const { rows } = await this.pool.query(
      `select 1 from recordings where enterprise = $1 and host_url = $2 and state = 'expired'
         and (wav_file = $3 or mp3_file = $3) limit 1`,
      [enterprise, hostIdentity(hostUrl), file],
    );
    return rows.length > 0;
  }

  /** This host's recordings not finished yet, oldest first. */
  async open(hostUrl: string, limit: number): Promise<RecordingRow[]> {
    const { rows } = await this.pool.query<Row>(
      `select ${COLUMNS} from recordings where host_url = $1 and state in ('recording', 'converting') order by id limit $2`,
      [hostIdentity(hostUrl), limit],
    );
    return rows.map(fromRow);
  }

  /** recording → converting (the WAV is final). False when the row moved on meanwhile. */
  async markConverting(id: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update recordings set state = 'converting', wav_ready_at = now(), updated_at = now() where id = $1 and state = 'recording'`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * Takes over a conversion left `converting` for `staleMs` (its instance died or restarted mid-way): true for the
   * one instance that gets it. Instances sharing a PUBLIC_URL (and so a RECORDINGS_DIR) never convert a file twice.
   */
  async claimStale(id: number, staleMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update recordings set updated_at = now() where id = $1 and state = 'converting'
         and updated_at < now() - make_interval(secs => $2::double precision / 1000)`,
      [id, staleMs],
    );
    return (rowCount ?? 0) > 0;
  }

  /**
   * → ready. From `converting` with the MP3 (or with `error` and no MP3), or from `recording` when no conversion
   * applies. False when someone else settled it first (an upload that stopped waiting published the WAV).
   */
  async markReady(id: number, from: 'recording' | 'converting', result: { mp3File?: string; error?: string } = {}): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update recordings set state = 'ready', mp3_file = $3, error = $4, updated_at = now() where id = $1 and state = $2`,
      [id, from, result.mp3File ?? null, result.error ?? null],
    );
    return (rowCount ?? 0) > 0;
  }

  /** The upload waited long enough for the MP3: settle on the WAV. False when the MP3 arrived first. */
  async settleOnWav(id: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update recordings set state = 'ready', error = coalesce(error, 'MP3 not ready in time: WAV linked'), updated_at = now()
       where id = $1 and state = 'converting'`,
      [id],
    );
    return (rowCount ?? 0) > 0;
  }

  async markNone(id: number, reason: string): Promise<void> {
    await this.pool.query(`update recordings set state = 'none', error = $2, updated_at = now() where id = $1 and state = 'recording'`, [id, reason]);
  }

  async markWavDeleted(id: number): Promise<void> {
    await this.pool.query('update recordings set wav_deleted = true, updated_at = now() where id = $1', [id]);
  }

  /**
   * Retention: claims up to `limit` of this host's recordings of `enterprise` older than `days`, under row locks
   * (another instance on the same host skips them), lets `deleteFiles` remove them, then marks them expired, all in
   * one transaction. Returns how many were expired.
   */
  async expireBatch(
    hostUrl: string,
    enterprise: string,
    days: number,
    limit: number,
    deleteFiles: (row: RecordingRow) => Promise<void>,
  ): Promise<number> {
    return inTransaction(this.pool, async (db) => {
      const { rows } = await db.query<Row>(
        `select ${COLUMNS} from recordings
          where host_url = $1 and enterprise = $2 and state <> 'expired' and created_at < now() - make_interval(days => $3)
          order by created_at limit $4 for update skip locked`,
        [hostIdentity(hostUrl), enterprise, days, limit],
      );
      for (const row of rows) await deleteFiles(fromRow(row));
      if (rows.length > 0) {
        await db.query(
          `update recordings set state = 'expired', expired_at = now(), updated_at = now() where id = any($1::bigint[])`,
          [rows.map((r) => r.id)],
        );
      }
      return rows.length;
    });
  }
}
