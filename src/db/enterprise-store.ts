/**
 * Enterprises (one per client company / RetailCRM account): stored with the API key and clientId encrypted,
 * read back decrypted. Settings that later features add live in the `settings` jsonb, parsed here with defaults.
 */
import { EnterpriseUnknownError, InputError } from '../lib/errors.js';
import type { SecretBox } from '../secrets/secret-box.js';
import {
  DEFAULT_CALLBACK_TASKS,
  DEFAULT_LEADS,
  type CallbackTaskSettings,
  type Enterprise,
  type EnterpriseSettings,
  type LeadSettings,
} from '../domain/enterprise.js';
import { parseGenerations } from '../secrets/enterprise-tokens.js';
import type { SealedColumn } from '../secrets/stored-secrets.js';
import { inTransaction, type Pool, type Queryable } from './pool.js';

/** Deadline of an update that rebuilds the enterprise's analytics (a zone or sale-status change). */
const ANALYTICS_REBUILD_TIMEOUT_MS = 600_000;

export type { Enterprise, EnterpriseSettings } from '../domain/enterprise.js';

/** What `enterprise add` gives: the tenant without its timestamps, settings partial (defaults fill the rest). */
export interface EnterpriseInput extends Omit<Enterprise, 'settings' | 'createdAt' | 'updatedAt'> {
  readonly settings?: Partial<Omit<EnterpriseSettings, 'extra'>> & { readonly extra?: Record<string, unknown> };
}

export const ENTERPRISE_NUMBER = /^[A-Za-z0-9_-]{1,32}$/;

interface Row {
  number: string;
  crm_url: string;
  api_key_enc: string;
  client_id_enc: string;
  country: string;
  site: string | null;
  settings: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

function parseSaleStatuses(raw: unknown): readonly string[] {
  const codes = Array.isArray(raw) ? raw.filter((c: unknown): c is string => typeof c === 'string' && c !== '') : [];
  return Object.freeze(codes.length > 0 ? codes : ['complete']);
}

/** A whole number of days ≥ 1; anything else (unset, 0, garbage) keeps recordings forever. */
function retentionDays(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : null;
}

function parseSettings(raw: Record<string, unknown>): EnterpriseSettings {
  const phones = Array.isArray(raw['externalPhones']) ? raw['externalPhones'] : [];
  return Object.freeze({
    autoCreateCustomers: raw['autoCreateCustomers'] !== false,
    telephonyEvents: raw['telephonyEvents'] !== false,
    skipManagerOnBreak: raw['skipManagerOnBreak'] !== false,
    crmTimezone: typeof raw['crmTimezone'] === 'string' ? raw['crmTimezone'] : 'Europe/Moscow',
    externalPhones: phones.flatMap((p: unknown) => {
      if (typeof p !== 'object' || p === null) return [];
      const { siteCode, externalPhone } = p as Record<string, unknown>;
      return typeof siteCode === 'string' && typeof externalPhone === 'string' ? [{ siteCode, externalPhone }] : [];
    }),
    pbxAddresses: Array.isArray(raw['pbxAddresses'])
      ? raw['pbxAddresses'].filter((c: unknown): c is string => typeof c === 'string')
      : [],
    tokenGenerations: parseGenerations(raw['tokenGenerations']),
    saleStatuses: parseSaleStatuses(raw['saleStatuses']),
    callbackTasks: parseCallbackTasks(raw['callbackTasks']),
    leads: parseLeads(raw['leads']),
    recordingRetentionDays: retentionDays(raw['recordingRetentionDays']),
    extra: typeof raw['extra'] === 'object' && raw['extra'] !== null ? (raw['extra'] as Record<string, unknown>) : {},
  });
}

function positiveInt(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : null;
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function parseCallbackTasks(v: unknown): CallbackTaskSettings {
  if (typeof v !== 'object' || v === null) return DEFAULT_CALLBACK_TASKS;
  const o = v as Record<string, unknown>;
  return Object.freeze({
    enabled: o['enabled'] === true,
    defaultUserId: positiveInt(o['defaultUserId']),
    dueMinutes: positiveInt(o['dueMinutes']) ?? DEFAULT_CALLBACK_TASKS.dueMinutes,
  });
}

function parseLeads(v: unknown): LeadSettings {
  if (typeof v !== 'object' || v === null) return DEFAULT_LEADS;
  const o = v as Record<string, unknown>;
  return Object.freeze({
    enabled: o['enabled'] === true,
    site: text(o['site']),
    orderMethod: text(o['orderMethod']),
    status: text(o['status']),
    periodHours: positiveInt(o['periodHours']) ?? DEFAULT_LEADS.periodHours,
  });
}

export class EnterpriseStore {
  constructor(
    private readonly pool: Pool,
    private readonly box: SecretBox,
  ) {}

  private fromRow(row: Row): Enterprise {
    return Object.freeze({
      number: row.number,
      crmUrl: row.crm_url,
      apiKey: this.box.open(row.api_key_enc),
      clientId: this.box.open(row.client_id_enc),
      country: row.country,
      site: row.site,
      settings: parseSettings(row.settings),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    });
  }

  clientIdHash(clientId: string): string {
    return this.box.hash('client-id', clientId);
  }

  async find(number: string): Promise<Enterprise | null> {
    if (!ENTERPRISE_NUMBER.test(number)) return null;
    const { rows } = await this.pool.query<Row>('select * from enterprises where number = $1', [number]);
    return rows[0] ? this.fromRow(rows[0]) : null;
  }

  async get(number: string): Promise<Enterprise> {
    const found = await this.find(number);
    if (!found) throw new EnterpriseUnknownError(number);
    return found;
  }

  async findByClientId(clientId: string): Promise<Enterprise | null> {
    const find = async (): Promise<Row | undefined> =>
      (await this.pool.query<Row>('select * from enterprises where client_id_hash = $1', [this.clientIdHash(clientId)])).rows[0];
    // The hash is under the current key: after `secret rotate` by the CLI, a running service finds rows once it
    // has re-read the keyring (rate-limited by the box, so unknown clientIds cannot make it read the file often).
    const row = (await find()) ?? (this.box.refresh() ? await find() : undefined);
    return row ? this.fromRow(row) : null;
  }

  /** The enterprise numbers only (no secrets decrypted): for health checks and metrics. */
  async numbers(): Promise<string[]> {
    const { rows } = await this.pool.query<{ number: string }>('select number from enterprises order by number');
    return rows.map((r) => r.number);
  }

  async list(): Promise<Enterprise[]> {
    const { rows } = await this.pool.query<Row>('select * from enterprises order by number');
    return rows.map((r) => this.fromRow(r));
  }

  async create(input: EnterpriseInput): Promise<Enterprise> {
    const { rows } = await this.pool.query<Row>(
      `insert into enterprises (number, crm_url, api_key_enc, client_id_enc, client_id_hash, country, site, settings)
       values ($1, $2, $3, $4, $5, $6, $7, $8)
       on conflict (number) do nothing
       returning *`,
      [
        input.number,
        input.crmUrl,
        this.box.seal(input.apiKey),
        this.box.seal(input.clientId),
        this.clientIdHash(input.clientId),
        input.country,
        input.site,
        JSON.stringify(input.settings ?? {}),
      ],
    );
    if (!rows[0]) throw new InputError(`enterprise ${input.number} already exists (use "enterprise set")`, 'number');
    return this.fromRow(rows[0]);
  }

  async update(number: string, patch: Partial<Omit<EnterpriseInput, 'number'>>): Promise<Enterprise> {
    const current = await this.get(number);
    const settings = { ...settingsToJson(current.settings), ...(patch.settings ?? {}) };
    const clientId = patch.clientId ?? current.clientId;
    // A new zone or new sale statuses rebuild the enterprise's analytics in this update (sql/006, sql/017): one
    // to two minutes per million calls, past the pool's statement_timeout.
    const rebuilds = patch.settings?.crmTimezone !== undefined || patch.settings?.saleStatuses !== undefined;
    const { rows } = await inTransaction(this.pool, async (db) => {
      if (rebuilds) await db.query(`select set_config('statement_timeout', $1, true)`, [String(ANALYTICS_REBUILD_TIMEOUT_MS)]);
      return db.query<Row>(
        `update enterprises set crm_url = $2, api_key_enc = $3, client_id_enc = $4, client_id_hash = $5,
           country = $6, site = $7, settings = $8, updated_at = now()
         where number = $1 returning *`,
        [
          number,
          patch.crmUrl ?? current.crmUrl,
          this.box.seal(patch.apiKey ?? current.apiKey),
          this.box.seal(clientId),
          this.clientIdHash(clientId),
          patch.country ?? current.country,
          patch.site === undefined ? current.site : patch.site,
          JSON.stringify(settings),
        ],
      );
    });
    if (!rows[0]) throw new EnterpriseUnknownError(number);
    return this.fromRow(rows[0]);
  }

  async remove(number: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('delete from enterprises where number = $1', [number]);
    return (rowCount ?? 0) > 0;
  }
}

export function settingsToJson(s: EnterpriseSettings): Record<string, unknown> {
  return {
    autoCreateCustomers: s.autoCreateCustomers,
    telephonyEvents: s.telephonyEvents,
    skipManagerOnBreak: s.skipManagerOnBreak,
    crmTimezone: s.crmTimezone,
    externalPhones: s.externalPhones,
    pbxAddresses: s.pbxAddresses,
    tokenGenerations: s.tokenGenerations,
    saleStatuses: s.saleStatuses,
    callbackTasks: s.callbackTasks,
    leads: s.leads,
    recordingRetentionDays: s.recordingRetentionDays,
    extra: s.extra,
  };
}

/** The sealed API key of the oldest enterprise (what proves a key right before the key check row exists). */
export async function oldestSealedApiKey(db: Queryable): Promise<string | null> {
  const { rows } = await db.query<{ api_key_enc: string }>('select api_key_enc from enterprises order by created_at limit 1');
  return rows[0]?.api_key_enc ?? null;
}

/** The enterprises' sealed columns, for `secret rotate|retire|list` (secrets/stored-secrets.ts). */
export const ENTERPRISE_SEALED_COLUMNS: readonly SealedColumn<Queryable>[] = [
  {
    name: 'enterprises.api_key_enc',
    async read(db, lock) {
      const { rows } = await db.query<{ k: string; v: string }>(`select number as k, api_key_enc as v from enterprises${lock ? ' for update' : ''}`);
      return rows.map((r) => ({ rowKey: r.k, sealed: r.v }));
    },
    async write(db, number, sealed) {
      await db.query('update enterprises set api_key_enc = $2 where number = $1', [number, sealed]);
    },
  },
  {
    name: 'enterprises.client_id_enc',
    hashPurpose: 'client-id',
    async read(db, lock) {
      const { rows } = await db.query<{ k: string; v: string }>(`select number as k, client_id_enc as v from enterprises${lock ? ' for update' : ''}`);
      return rows.map((r) => ({ rowKey: r.k, sealed: r.v }));
    },
    async write(db, number, sealed, hash) {
      await db.query('update enterprises set client_id_enc = $2, client_id_hash = $3 where number = $1', [number, sealed, hash]);
    },
  },
];
