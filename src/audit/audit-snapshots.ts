/**
 * What the audit log records of an enterprise, an extension mapping or a PBX: the plain settings, and each
 * secret (API key, clientId, AMI secret) as a fingerprint only, a keyed hash that shows "changed / unchanged"
 * without revealing or allowing a guess of the value.
 */
import type { PbxSettings } from '../domain/pbx-settings.js';
import { settingsToJson } from '../db/enterprise-store.js';
import { type Enterprise } from '../domain/enterprise.js';
import type { SecretBox } from '../secrets/secret-box.js';

export function fingerprint(box: SecretBox, secret: string): string {
  return `fp:${box.hash('audit-fingerprint', secret).slice(0, 16)}`;
}

export function enterpriseSnapshot(box: SecretBox, e: Enterprise | null): Record<string, unknown> | null {
  if (!e) return null;
  return {
    crmUrl: e.crmUrl,
    apiKey: fingerprint(box, e.apiKey),
    clientId: fingerprint(box, e.clientId),
    country: e.country,
    site: e.site,
    settings: settingsToJson(e.settings),
  };
}

export function pbxSnapshot(box: SecretBox, p: PbxSettings | null): Record<string, unknown> | null {
  if (!p) return null;
  return {
    host: p.host,
    port: p.port,
    username: p.username,
    secret: fingerprint(box, p.secret),
    channelTemplate: p.channelTemplate,
    context: p.context,
    outboundCallerId: p.outboundCallerId,
    originateTimeoutS: p.originateTimeoutS,
  };
}
