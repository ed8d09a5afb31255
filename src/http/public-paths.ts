/**
 * The URLs this service exposes to RetailCRM and to people, in one place: the CLI prints them, the HTTP server
 * routes them, registration sends them to RetailCRM.
 */
export const PATHS = Object.freeze({
  health: '/health',
  ready: '/ready',
  metrics: '/metrics',
  makeCall: '/api/makecallexternal',
  userStatus: '/api/changeuserstatus',
  recordings: '/recordings/',
  webhookPrefix: '/retailcrm/webhook/',
  dashboard: '/dashboard',
});

export interface EnterpriseUrls {
  readonly makeCallUrl: string;
  readonly changeUserStatusUrl: string;
  readonly webhookUrl: string;
  readonly dashboardUrl: string;
}

export function enterpriseUrls(publicUrl: string, enterprise: string, tokens: { webhook: string; dashboard: string }): EnterpriseUrls {
  return {
    makeCallUrl: `${publicUrl}${PATHS.makeCall}`,
    changeUserStatusUrl: `${publicUrl}${PATHS.userStatus}`,
    webhookUrl: `${publicUrl}${PATHS.webhookPrefix}${encodeURIComponent(enterprise)}/${tokens.webhook}`,
    dashboardUrl: `${publicUrl}${PATHS.dashboard}?enterprise=${encodeURIComponent(enterprise)}&token=${tokens.dashboard}`,
  };
}
