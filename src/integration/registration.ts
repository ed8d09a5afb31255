/**
 * Registering the enterprise's RetailCRM telephony module (`POST integration-modules/{code}/edit`, contract §2):
 * the `integrationModule` built from the enterprise (clientId, external phones), the extension mapping
 * (additionalCodes) and PUBLIC_URL; `register` creates or updates it (safe to re-run: the same body each time),
 * `unregister` deactivates it. Also serves the module's SVG logo, which RetailCRM requires.
 */
import type { RetailCrmClient } from '../crm/client.js';
import type { IntegrationModule, IntegrationModuleEditInfo } from '../crm/types.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import type { Enterprise } from '../domain/enterprise.js';
import type { ExtensionMapping, ExtensionStore } from '../db/extension-store.js';
import { crmAccount } from '../domain/crm-account.js';
import type { FastifyPluginAsync } from 'fastify';
import { PATHS } from '../http/public-paths.js';
import { randomSecret } from '../secrets/secret-box.js';

export const INTEGRATION_CODE = 'retailcrm-agi';
export const MODULE_NAME = 'Asterisk (retailcrm-agi)';
export const LOGO_PATH = '/logo.svg';
/** A clientId shorter than this is treated as absent and replaced by a random one. */
export const MIN_CLIENT_ID_LENGTH = 16;

export const LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">' +
  '<rect width="64" height="64" rx="12" fill="#1e6fd9"/>' +
  '<path fill="#fff" d="M22 14c2 0 3 1 4 3l3 7c1 2 0 4-1 5l-3 3c2 5 6 9 11 11l3-3c1-1 3-2 5-1l7 3c2 1 3 2 3 4v6' +
  'c0 3-2 5-5 5C30 57 7 34 7 19c0-3 2-5 5-5z"/></svg>';

export function moduleCode(enterprise: string): string {
  return `${INTEGRATION_CODE}-${enterprise}`;
}

export interface ModuleInput {
  readonly enterprise: Enterprise;
  readonly mapping: readonly ExtensionMapping[];
  readonly publicUrl: string;
  readonly active: boolean;
}

export function buildIntegrationModule(input: ModuleInput): IntegrationModule {
  const base = input.publicUrl.replace(/\/+$/, '');
  return {
    code: moduleCode(input.enterprise.number),
    integrationCode: INTEGRATION_CODE,
    active: input.active,
    name: MODULE_NAME,
    logo: `${base}${LOGO_PATH}`,
    baseUrl: base,
    clientId: input.enterprise.clientId,
    accountUrl: `${base}${PATHS.dashboard}`,
    integrations: {
      telephony: {
        makeCallUrl: `${base}${PATHS.makeCall}`,
        changeUserStatusUrl: `${base}${PATHS.userStatus}`,
        allowEdit: false,
        inputEventSupported: true,
        outputEventSupported: true,
        hangupEventSupported: true,
        additionalCodes: [...input.mapping]
          .sort((a, b) => a.userId - b.userId)
          .map((m) => ({ userId: Math.trunc(m.userId), code: m.ext })),
        externalPhones: input.enterprise.settings.externalPhones.map((p) => ({
          siteCode: p.siteCode,
          externalPhone: p.externalPhone,
        })),
      },
    },
  };
}

export interface RegistrationDeps {
  readonly enterprises: Pick<EnterpriseStore, 'get' | 'update'>;
  readonly extensions: Pick<ExtensionStore, 'list'>;
  readonly crm: Pick<RetailCrmClient, 'integrationModuleEdit'>;
  readonly publicUrl: string;
}

/** The request as it goes on the wire, for `--dry-run`; secrets masked. */
export interface DescribedRequest {
  readonly method: 'POST';
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly form: { readonly integrationModule: string };
}

export interface RegistrationResult {
  readonly module: IntegrationModule;
  readonly request: DescribedRequest;
  /** Absent on a dry run. */
  readonly info?: IntegrationModuleEditInfo;
  readonly clientIdGenerated: boolean;
}

function maskSecret(secret: string): string {
  return secret.length <= 8 ? '****' : `${secret.slice(0, 4)}…****`;
}

export function describeRequest(enterprise: Enterprise, module: IntegrationModule): DescribedRequest {
  const shown = { ...module, ...(module.clientId === undefined ? {} : { clientId: maskSecret(module.clientId) }) };
  return {
    method: 'POST',
    url: `${enterprise.crmUrl.replace(/\/+$/, '')}/api/v5/integration-modules/${encodeURIComponent(module.code)}/edit`,
    headers: {
      'X-API-KEY': maskSecret(enterprise.apiKey),
      'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
    },
    form: { integrationModule: JSON.stringify(shown, null, 2) },
  };
}

/** Gives the enterprise a random clientId when it has none (or a too short one); never on a dry run. */
async function ensureClientId(
  deps: RegistrationDeps,
  enterprise: Enterprise,
  dryRun: boolean,
): Promise<{ enterprise: Enterprise; generated: boolean }> {
  if (enterprise.clientId.length >= MIN_CLIENT_ID_LENGTH) return { enterprise, generated: false };
  const clientId = randomSecret(24);
  if (dryRun) return { enterprise: { ...enterprise, clientId }, generated: true };
  return { enterprise: await deps.enterprises.update(enterprise.number, { clientId }), generated: true };
}

async function send(deps: RegistrationDeps, number: string, active: boolean, dryRun: boolean): Promise<RegistrationResult> {
  const ensured = await ensureClientId(deps, await deps.enterprises.get(number), dryRun);
  const module = buildIntegrationModule({
    enterprise: ensured.enterprise,
    mapping: await deps.extensions.list(number),
    publicUrl: deps.publicUrl,
    active,
  });
  const request = describeRequest(ensured.enterprise, module);
  if (dryRun) return { module, request, clientIdGenerated: ensured.generated };
  const info = await deps.crm.integrationModuleEdit(crmAccount(ensured.enterprise), module.code, module);
  return { module, request, info, clientIdGenerated: ensured.generated };
}

/** Creates or updates the enterprise's module in RetailCRM (or only describes the request, `dryRun`). */
export function register(deps: RegistrationDeps, enterprise: string, opts: { dryRun?: boolean } = {}): Promise<RegistrationResult> {
  return send(deps, enterprise, true, opts.dryRun ?? false);
}

/** Deactivates the module (`active:false`, RetailCRM's uninstall); the enterprise and its mapping stay. */
export function unregister(deps: RegistrationDeps, enterprise: string, opts: { dryRun?: boolean } = {}): Promise<RegistrationResult> {
  return send(deps, enterprise, false, opts.dryRun ?? false);
}

/** The logo plugin, `GET /logo.svg`: the module's logo, referenced from the registration. */
export const logoPlugin: FastifyPluginAsync = async (app) => {
  app.get(LOGO_PATH, { schema: { summary: "The integration module's SVG logo", tags: ['RetailCRM callbacks'] } }, async (_request, reply) =>
    reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(LOGO_SVG),
  );
};
