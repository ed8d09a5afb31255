/**
 * Reads of `asterisk_cdr`, the table Asterisk's cdr_pgsql writes (sql/008_asterisk_cdr.sql): the calls Asterisk
 * saw that our journal has not recorded as ended, and their CDR rows. Nothing here writes: Asterisk owns the
 * rows, the journal (CallJournal) owns `calls`. Every query runs under the pool's statement_timeout.
 */
import type { Pool, PoolClient } from '../db/pool.js';
import type { CdrRow } from './cdr-call.js';

/** A window of CDR end times, in epoch seconds. */
export interface CdrWindow {
  readonly fromSec: number;
  readonly untilSec: number;
}

type Db = Pick<Pool | PoolClient, 'query'>;

interface RawRow {
  linkedid: string;
  src: string | null;
  dst: string | null;
  channel: string | null;
  dstchannel: string | null;
  lastapp: string | null;
  start: number | null;
  answer: number | null;
  end: number | null;
  duration: number | null;
  billsec: number | null;
  disposition: string | null;
  sequence: number | null;
  recordingfile: string | null;
  rcrm_direction: string | null;
}

export class CdrStore {
  constructor(private readonly db: Db) {}

  /**
   * Calls of `enterprise` whose every CDR ended inside the window (so none is still being written), that have no
   * ended call in the journal: oldest first, at most `limit`.
   */
  async unrecorded(enterprise: string, window: CdrWindow, limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ linkedid: string }>(
      `select a.linkedid from asterisk_cdr a
             where a.rcrm_enterprise = $1 and a."end" >= $2 and a."end" <= $3 and a.linkedid <> ''
               and not exists (select 1 from asterisk_cdr b where b.linkedid = a.linkedid and b."end" > $3)
               and not exists (select 1 from calls c where c.enterprise = $1 and c.linkedid = a.linkedid and c.ended_at is not null)
             group by a.linkedid
             order by min(a.start), a.linkedid
             limit $4`,
      [enterprise, window.fromSec, window.untilSec, limit],
    );
    return rows.map((r) => r.linkedid);
  }

  /** Every CDR row of these calls: the enterprise's, and the transfer legs that carry no enterprise. */
  async rowsOf(enterprise: string, linkedids: readonly string[]): Promise<Map<string, CdrRow[]>> {
    const out = new Map<string, CdrRow[]>();
    if (linkedids.length === 0) return out;
    const { rows } = await this.db.query<RawRow>(
      `select linkedid, src, dst, channel, dstchannel, lastapp, start, answer, "end", duration, billsec, disposition,
               sequence, recordingfile, rcrm_direction
             from asterisk_cdr where linkedid = any($2) and coalesce(rcrm_enterprise, '') in ($1, '')
             order by linkedid, start, sequence`,
      [enterprise, linkedids],
    );
    for (const r of rows) {
      const list = out.get(r.linkedid) ?? [];
      list.push({
        src: r.src ?? '',
        dst: r.dst ?? '',
        channel: r.channel ?? '',
        dstchannel: r.dstchannel ?? '',
        lastapp: r.lastapp ?? '',
        start: r.start ?? 0,
        answer: r.answer ?? 0,
        end: r.end ?? 0,
        duration: r.duration ?? 0,
        billsec: r.billsec ?? 0,
        disposition: r.disposition ?? '',
        sequence: r.sequence ?? 0,
        recordingfile: r.recordingfile ?? '',
        direction: r.rcrm_direction ?? '',
      });
      out.set(r.linkedid, list);
    }
    return out;
  }

  /** Calls in the window naming an enterprise this service does not know (a typo in the dialplan, a removed one). */
  async unknownEnterprises(window: CdrWindow, limit: number): Promise<{ enterprise: string; linkedid: string }[]> {
    const { rows } = await this.db.query<{ enterprise: string; linkedid: string }>(
      `select distinct a.rcrm_enterprise as enterprise, a.linkedid from asterisk_cdr a
             where a."end" >= $1 and a."end" <= $2 and coalesce(a.rcrm_enterprise, '') <> ''
               and not exists (select 1 from enterprises e where e.number = a.rcrm_enterprise)
             order by a.linkedid limit $3`,
      [window.fromSec, window.untilSec, limit],
    );
    return rows;
  }
}
