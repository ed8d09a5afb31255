/**
 * `users sync`: every RetailCRM user (paged, 100 a page) beside the extension we map to them, and, with `apply`,
 * the mapping filled from the codes RetailCRM knows (the module's additionalCodes: the user object itself carries
 * no extension, contract §7.5). A mapping that differs from RetailCRM's is kept unless `force`.
 */
import type { RetailCrmClient } from '../crm/client.js';
import type { User } from '../crm/types.js';
import type { Enterprise } from '../domain/enterprise.js';
import { EXTENSION_CODE, type ExtensionStore } from '../db/extension-store.js';
import type { CrmUserStore } from '../db/crm-user-store.js';
import { crmAccount } from '../domain/crm-account.js';
import { moduleCode } from './registration.js';

/** Stop after this many pages whatever the pagination says (a broken answer must not loop forever). */
const MAX_PAGES = 200;
const PAGE_LIMIT = 100;

export type SyncAction = 'unchanged' | 'set' | 'replaced' | 'kept' | 'none';

export interface SyncedUser {
  readonly userId: number;
  readonly name: string;
  readonly email: string;
  readonly active: boolean;
  /** Our mapping before the sync. */
  readonly ext: string | null;
  /** What RetailCRM's module knows. */
  readonly crmCode: string | null;
  /** unchanged: same; set: filled; replaced: overwritten (force); kept: differs, not overwritten; none: no code. */
  readonly action: SyncAction;
}

export interface UsersSyncDeps {
  readonly crm: Pick<RetailCrmClient, 'users' | 'integrationModuleGet'>;
  readonly extensions: Pick<ExtensionStore, 'list' | 'set'>;
  /** Where the users' names are kept for analytics (sql/016); every sync refreshes them. */
  readonly names?: Pick<CrmUserStore, 'saveNames'>;
}

/** Keeps the names RetailCRM gave (analytics shows "First Last" instead of a user id). */
export async function rememberNames(names: Pick<CrmUserStore, 'saveNames'> | undefined, enterprise: string, users: readonly User[]): Promise<void> {
  await names?.saveNames(enterprise, users.map((u) => ({ userId: u.id, firstName: u.firstName ?? '', lastName: u.lastName ?? '' })));
}

export async function readAllUsers(crm: Pick<RetailCrmClient, 'users'>, enterprise: Enterprise): Promise<User[]> {
  const users: User[] = [];
  for (let page = 1; page <= MAX_PAGES; page++) {
    const answer = await crm.users(crmAccount(enterprise), { page, limit: PAGE_LIMIT });
    users.push(...answer.items);
    if (page >= answer.pagination.totalPageCount || answer.items.length === 0) break;
  }
  return users;
}

function fullName(u: User): string {
  return [u.lastName, u.firstName, u.patronymic].filter((p) => p !== undefined && p !== '').join(' ');
}

export async function syncUsers(
  deps: UsersSyncDeps,
  enterprise: Enterprise,
  opts: { apply?: boolean; force?: boolean } = {},
): Promise<SyncedUser[]> {
  const users = await readAllUsers(deps.crm, enterprise);
  await rememberNames(deps.names, enterprise.number, users);
  const module = await deps.crm.integrationModuleGet(crmAccount(enterprise), moduleCode(enterprise.number));
  const crmCodes = new Map<number, string>();
  for (const c of module?.integrations?.telephony?.additionalCodes ?? []) {
    if (EXTENSION_CODE.test(c.code)) crmCodes.set(Number(c.userId), c.code);
  }
  const mapping = await deps.extensions.list(enterprise.number);
  const extOf = new Map(mapping.map((m) => [m.userId, m.ext]));
  const userOfExt = new Map(mapping.map((m) => [m.ext, m.userId]));

  const result: SyncedUser[] = [];
  for (const u of users) {
    const ext = extOf.get(u.id) ?? null;
    const crmCode = crmCodes.get(u.id) ?? null;
    let action: SyncAction;
    if (crmCode === null) action = 'none';
    else if (crmCode === ext) action = 'unchanged';
    else {
      const taken = userOfExt.get(crmCode);
      const conflict = ext !== null || (taken !== undefined && taken !== u.id);
      action = conflict ? (opts.force ? 'replaced' : 'kept') : 'set';
      if (opts.apply && action !== 'kept') await deps.extensions.set(enterprise.number, crmCode, u.id);
    }
    result.push({
      userId: u.id,
      name: fullName(u),
      email: u.email ?? '',
      active: u.active ?? true,
      ext,
      crmCode,
      action,
    });
  }
  return result;
}
