/**
 * The tenant: one client company with its RetailCRM account and the settings every feature reads.
 * Stored by `db/enterprise-store.ts`; this file is only the shape, so every feature can name it.
 */

/** Generations of the webhook and dashboard tokens (`enterprise rotate`); 0 until first rotated. */
export interface TokenGenerations {
  readonly webhook: number;
  readonly dashboard: number;
}

/** Off by default. */
export interface CallbackTaskSettings {
  readonly enabled: boolean;
  /** RetailCRM user who gets the task when the caller has no responsible manager; null: such calls get none. */
  readonly defaultUserId: number | null;
  /** The task is due this long after the missed call. */
  readonly dueMinutes: number;
}

/** Off by default. */
export interface LeadSettings {
  readonly enabled: boolean;
  /** Site (store) code of the order; null: the enterprise's site. */
  readonly site: string | null;
  /** Order method code (reference/order-methods), e.g. `phone`; null: RetailCRM's default. */
  readonly orderMethod: string | null;
  /** Order status code; null: RetailCRM's default (`new`). */
  readonly status: string | null;
  /** At most one lead per number in each window of this many hours. */
  readonly periodHours: number;
}

export const DEFAULT_CALLBACK_TASKS: CallbackTaskSettings = Object.freeze({ enabled: false, defaultUserId: null, dueMinutes: 30 });
export const DEFAULT_LEADS: LeadSettings = Object.freeze({ enabled: false, site: null, orderMethod: null, status: null, periodHours: 24 });

export interface EnterpriseSettings {
  /** Create a RetailCRM customer for a caller RetailCRM does not know. */
  readonly autoCreateCustomers: boolean;
  /**
   * Send popups (call/event) and call history to RetailCRM. Off for a company whose RetailCRM telephony slot is
   * held by another provider (RetailCRM allows one telephony module per account): names and routing still work.
   */
  readonly telephonyEvents: boolean;
  /** Leave RCRM_MANAGER empty when the responsible manager is on break or dinner. */
  readonly skipManagerOnBreak: boolean;
  /** RetailCRM account timezone offset in minutes (RetailCRM dates carry no zone). */
  readonly crmTimezone: string;
  /** DIDs per RetailCRM site, for integration registration and click-to-call. */
  readonly externalPhones: readonly { readonly siteCode: string; readonly externalPhone: string }[];
  /**
   * CIDRs of the PBXs allowed to run this enterprise's calls (FastAGI peer address); empty: any peer AGI_ALLOW
   * admits. Stops one tenant's PBX from acting for another tenant on a shared service.
   */
  readonly pbxAddresses: readonly string[];
  /** Generations of the webhook and dashboard tokens (`enterprise rotate`); 0 until first rotated. */
  readonly tokenGenerations: TokenGenerations;
  /**
   * RetailCRM order status codes that count as a sale in analytics (`--sale-statuses`): default `complete`, the
   * code of RetailCRM's default status of its `complete` group. List every status of the account's sale group.
   */
  readonly saleStatuses: readonly string[];
  /** A RetailCRM task "call back" for a missed inbound call, completed when the caller is reached (src/work/). */
  readonly callbackTasks: CallbackTaskSettings;
  /** An order ("lead") in RetailCRM for a number it did not know (src/work/). */
  readonly leads: LeadSettings;
  /** Recordings older than this many days are deleted (links answer 410, the call stays); null: kept forever. */
  readonly recordingRetentionDays: number | null;
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface Enterprise {
  readonly number: string;
  readonly crmUrl: string;
  readonly apiKey: string;
  readonly clientId: string;
  readonly country: string;
  readonly site: string | null;
  readonly settings: EnterpriseSettings;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

