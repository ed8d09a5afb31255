/**
 * `pbx_connections`: each enterprise's Asterisk (AMI address and login, the AMI secret sealed with the secret
 * box) and its originate settings. Values are validated here, so a row in the table is always usable.
 */
import { InputError } from '../lib/errors.js';
import type { Pool, Queryable } from '../db/pool.js';
import type { SecretBox } from '../secrets/secret-box.js';
import type { SealedColumn } from '../secrets/stored-secrets.js';
import type { PbxSettings } from '../domain/pbx-settings.js';
import { validateOriginateSettings } from './dial-string.js';

export type { PbxSettings } from '../domain/pbx-settings.js';

export type PbxPatch = Partial<Omit<PbxSettings, 'enterprise' | 'updatedAt'>>;

export const PBX_DEFAULTS = Object.freeze({
  port: 5038,
  channelTemplate: 'PJSIP/{ext}',
  context: 'from-internal',
  outboundCallerId: null,
  originateTimeoutS: 30,
});

const HOST = /^[A-Za-z0-9.:_-]{1,253}$/;
const USER = /^[A-Za-z0-9._@-]{1,80}$/;

interface Row {
  enterprise: string;
  ami_host: string;
  ami_port: number;
  ami_user: string;
  ami_secret_enc: string;
  channel_template: string;
  customer_context: string;
  outbound_caller_id: string | null;
  originate_timeout_s: number;
  updated_at: Date;
}

export function validateHost(host: string): string {
  if (!HOST.test(host)) throw new InputError('AMI host must be a host name or IP address', 'ami-host');
  return host;
}

export function validatePort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InputError('AMI port must be 1-65535', 'ami-port');
  return port;
}

export function validateUser(user: string): string {
  if (!USER.test(user)) throw new InputError('AMI user must be 1-80 letters, digits, . _ @ or -', 'ami-user');
  return user;
}

export function validateSecret(secret: string): string {
  // The secret travels in one AMI header line: CR/LF would end it.
  if (!/^[\x20-\x7e]{1,200}$/.test(secret)) throw new InputError('AMI secret must be 1-200 printable characters', 'ami-secret');
  return secret;
}

/** A fingerprint of what the AMI connection depends on: a change means reconnecting. */
export function connectionKey(s: Pick<PbxSettings, 'host' | 'port' | 'username' | 'secret'>): string {
  return JSON.stringify([s.host, s.port, s.username, s.secret]);
}

export class PbxStore {
  constructor(
    private readonly pool: Pool,
    private readonly box: SecretBox,
  ) {}

  private fromRow(r: Row): PbxSettings {
    return Object.freeze({
      enterprise: r.enterprise,
      host: r.ami_host,
      port: r.ami_port,
      username: r.ami_user,
      secret: this.box.open(r.ami_secret_enc),
      channelTemplate: r.channel_template,
      context: r.customer_context,
      outboundCallerId: r.outbound_caller_id,
      originateTimeoutS: r.originate_timeout_s,
      updatedAt: r.updated_at,
    });
  }

  async find(enterprise: string): Promise<PbxSettings | null> {
    const { rows } = await this.pool.query<Row>('select * from pbx_connections where enterprise = $1', [enterprise]);
    return rows[0] ? this.fromRow(rows[0]) : null;
  }

  async list(): Promise<PbxSettings[]> {
    const { rows } = await this.pool.query<Row>('select * from pbx_connections order by enterprise');
    return rows.map((r) => this.fromRow(r));
  }

  /**
   * Creates or changes an enterprise's PBX; fields left out keep their value (or the default on creation).
   * Host, user and secret are required when the enterprise has no PBX yet.
   */
  async save(enterprise: string, patch: PbxPatch): Promise<PbxSettings> {
    const current = await this.find(enterprise);
    const host = patch.host ?? current?.host;
    const username = patch.username ?? current?.username;
    const secret = patch.secret ?? current?.secret;
    if (host === undefined || username === undefined || secret === undefined) {
      throw new InputError('a new PBX needs --ami-host, --ami-user and --ami-secret', 'ami-host');
    }
    const next = {
      host: validateHost(host),
      port: validatePort(patch.port ?? current?.port ?? PBX_DEFAULTS.port),
      username: validateUser(username),
      secret: validateSecret(secret),
      ...validateOriginateSettings({
        channelTemplate: patch.channelTemplate ?? current?.channelTemplate ?? PBX_DEFAULTS.channelTemplate,
        context: patch.context ?? current?.context ?? PBX_DEFAULTS.context,
        outboundCallerId:
          patch.outboundCallerId !== undefined ? patch.outboundCallerId : (current?.outboundCallerId ?? PBX_DEFAULTS.outboundCallerId),
        originateTimeoutS: patch.originateTimeoutS ?? current?.originateTimeoutS ?? PBX_DEFAULTS.originateTimeoutS,
      }),
    };
    const { rows } = await this.pool.query<Row>(
      `insert into pbx_connections (enterprise, ami_host, ami_port, ami_user, ami_secret_enc, channel_template,
         customer_context, outbound_caller_id, originate_timeout_s)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (enterprise) do update set ami_host = excluded.ami_host, ami_port = excluded.ami_port,
         ami_user = excluded.ami_user, ami_secret_enc = excluded.ami_secret_enc,
         channel_template = excluded.channel_template, customer_context = excluded.customer_context,
         outbound_caller_id = excluded.outbound_caller_id, originate_timeout_s = excluded.originate_timeout_s,
         updated_at = now()
       returning *`,
      [
        enterprise,
        next.host,
        next.port,
        next.username,
        this.box.seal(next.secret),
        next.channelTemplate,
        next.context,
        next.outboundCallerId,
        next.originateTimeoutS,
      ],
    );
    if (!rows[0]) throw new InputError(`cannot store the PBX of enterprise ${enterprise}`);
    return this.fromRow(rows[0]);
  }

  async remove(enterprise: string): Promise<boolean> {
    const { rowCount } = await this.pool.query('delete from pbx_connections where enterprise = $1', [enterprise]);
    return (rowCount ?? 0) > 0;
  }
}

/** The sealed AMI secrets, for `secret rotate|retire|list` (secrets/stored-secrets.ts). */
export const PBX_SEALED_COLUMNS: readonly SealedColumn<Queryable>[] = [
  {
    name: 'pbx_connections.ami_secret_enc',
    async read(db, lock) {
      const { rows } = await db.query<{ k: string; v: string }>(
        `select enterprise as k, ami_secret_enc as v from pbx_connections${lock ? ' for update' : ''}`,
      );
      return rows.map((r) => ({ rowKey: r.k, sealed: r.v }));
    },
    async write(db, enterprise, sealed) {
      await db.query('update pbx_connections set ami_secret_enc = $2 where enterprise = $1', [enterprise, sealed]);
    },
  },
];
