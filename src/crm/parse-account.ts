/**
 * Parsers of the account-level RetailCRM answers: the integration module (and its telephony settings), the
 * module edit result, account settings, sites and API key credentials.
 */
import type { AccountSettings, Credentials, IntegrationModule, IntegrationModuleEditInfo } from './types.js';
import { bad, describe, expectEnvelope, idList, isObject, optBool, optId, optString, stringList } from './parse-values.js';

function parseTelephony(value: unknown): NonNullable<IntegrationModule['integrations']>['telephony'] {
  if (!isObject(value)) return undefined;
  const additionalCodes = Array.isArray(value.additionalCodes)
    ? value.additionalCodes.flatMap((c: unknown) => {
        if (!isObject(c)) return [];
        const userId = optId(c.userId);
        const code = optString(c.code);
        return userId !== undefined && code !== undefined ? [{ userId, code }] : [];
      })
    : undefined;
  const externalPhones = Array.isArray(value.externalPhones)
    ? value.externalPhones.flatMap((p: unknown) => {
        if (!isObject(p)) return [];
        const siteCode = optString(p.siteCode);
        const externalPhone = optString(p.externalPhone);
        return siteCode !== undefined && externalPhone !== undefined ? [{ siteCode, externalPhone }] : [];
      })
    : undefined;
  return dropUndefined({
    makeCallUrl: optString(value.makeCallUrl),
    changeUserStatusUrl: optString(value.changeUserStatusUrl),
    allowEdit: optBool(value.allowEdit),
    inputEventSupported: optBool(value.inputEventSupported),
    outputEventSupported: optBool(value.outputEventSupported),
    hangupEventSupported: optBool(value.hangupEventSupported),
    additionalCodes,
    externalPhones,
  });
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

export function parseIntegrationModule(body: unknown): IntegrationModule {
  const env = expectEnvelope(body);
  const m = env.integrationModule;
  if (!isObject(m)) bad(`integrationModule is ${describe(m)}, not an object`);
  const code = optString(m.code);
  if (code === undefined) bad('integrationModule.code is missing');
  const actions = isObject(m.actions)
    ? Object.fromEntries(
        Object.entries(m.actions).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v] as const] : [])),
      )
    : undefined;
  const integrations = isObject(m.integrations) ? m.integrations : undefined;
  const telephony = integrations ? parseTelephony(integrations.telephony) : undefined;
  return dropUndefined({
    code,
    integrationCode: optString(m.integrationCode),
    active: optBool(m.active),
    freeze: optBool(m.freeze),
    name: optString(m.name),
    logo: optString(m.logo),
    clientId: optString(m.clientId),
    native: optBool(m.native),
    baseUrl: optString(m.baseUrl),
    actions,
    availableCountries: Array.isArray(m.availableCountries) ? stringList(m.availableCountries) : undefined,
    accountUrl: optString(m.accountUrl),
    integrations: integrations ? (telephony ? { telephony } : {}) : undefined,
  });
}

export function parseIntegrationModuleEditInfo(body: unknown): IntegrationModuleEditInfo {
  const env = expectEnvelope(body);
  const info = isObject(env.info) ? env.info : {};
  return { notExistUsersIds: idList(info.notExistUsersIds), notExistSiteCodes: stringList(info.notExistSiteCodes) };
}

export function parseAccountSettings(body: unknown): AccountSettings {
  const env = expectEnvelope(body);
  const settings = isObject(env.settings) ? env.settings : bad(`settings is ${describe(env.settings)}, not an object`);
  const tz = isObject(settings.timezone) ? settings.timezone.value : settings.timezone;
  return { timezone: typeof tz === 'string' && tz.trim() !== '' ? tz.trim() : null };
}

export function parseSites(body: unknown): string[] {
  const env = expectEnvelope(body);
  if (Array.isArray(env.sites)) return env.sites.flatMap((s: unknown) => (isObject(s) && typeof s.code === 'string' ? [s.code] : []));
  if (!isObject(env.sites)) bad(`sites is ${describe(env.sites)}, not an object`);
  return Object.entries(env.sites).map(([code, s]) => (isObject(s) && typeof s.code === 'string' ? s.code : code));
}

export function parseCredentials(body: unknown): Credentials {
  const env = expectEnvelope(body);
  if (!Array.isArray(env.scopes)) bad(`scopes is ${describe(env.scopes)}, not an array`);
  return {
    scopes: stringList(env.scopes),
    siteAccess: optString(env.siteAccess),
    sitesAvailable: stringList(env.sitesAvailable),
  };
}
