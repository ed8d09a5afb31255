/**
 * The tenant: one client company with its RetailCRM account and the settings every feature reads.
 * Stored by `db/enterprise-store.ts`; this file is only the shape, so every feature can name it.
 */

/** Generations of the webhook and dashboard tokens (`enterprise rotate`); 0 until first rotated. */
export interface TokenGenerations {
  readonly webhook: number;
  readonly dashboard: number;
}

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

