/**
 * Manager statuses read from RetailCRM itself (`GET users`, every page), at start and then every interval, for
 * each enterprise that skips managers on break. changeUserStatusUrl callbacks are the fast path; this catches a
 * manager who went on break before the service started, or whose callback was lost. One enterprise failing does
 * not stop the others; each request has the client's deadline.
 */
import type { RetailCrmClient } from '../crm/client.js';
import type { EnterpriseStore } from '../db/enterprise-store.js';
import { errorCode } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { PeriodicTask } from '../lib/periodic-task.js';
import { MANAGER_STATUSES, type ManagerStatus, type ManagerStatusDirectory } from './manager-status.js';
import type { CrmUserStore } from '../db/crm-user-store.js';
import { readAllUsers, rememberNames } from './users-sync.js';

export interface ManagerStatusSyncOptions {
  readonly crm: Pick<RetailCrmClient, 'users'>;
  readonly enterprises: Pick<EnterpriseStore, 'list'>;
  readonly statuses: Pick<ManagerStatusDirectory, 'setMany'>;
  readonly logger: Logger;
  /** The users' names are kept on every read too (analytics names managers). */
  readonly names?: Pick<CrmUserStore, 'saveNames'>;
  /** Pause between two reads of every enterprise. */
  readonly intervalMs: number;
}

export class ManagerStatusSync {
  private readonly loop: PeriodicTask;

  constructor(private readonly opts: ManagerStatusSyncOptions) {
    this.loop = new PeriodicTask(() => this.syncAll(), opts.intervalMs, (err) =>
      opts.logger.warn('manager status sync failed', { code: errorCode(err), err }),
    );
  }

  /** Reads every enterprise now, then every interval until stop(). */
  start(): void {
    this.loop.start();
  }

  /** One pass over every enterprise that skips absent managers; resolves with how many statuses were read. */
  async syncAll(): Promise<number> {
    let read = 0;
    for (const e of await this.opts.enterprises.list()) {
      if (this.loop.stopped) break;
      if (!e.settings.skipManagerOnBreak) continue;
      try {
        const users = await readAllUsers(this.opts.crm, e);
        await rememberNames(this.opts.names, e.number, users);
        const known = users.flatMap((u) =>
          (MANAGER_STATUSES as readonly string[]).includes(u.status ?? '') ? [{ userId: u.id, status: u.status as ManagerStatus }] : [],
        );
        await this.opts.statuses.setMany(e.number, known);
        read += known.length;
      } catch (err) {
        this.opts.logger.warn('cannot read manager statuses from RetailCRM', { enterprise: e.number, code: errorCode(err) });
      }
    }
    return read;
  }

  async stop(): Promise<void> {
    await this.loop.stop();
  }
}
