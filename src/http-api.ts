/**
 * The HTTP API: which feature plugins the server carries. The composition root passes their dependencies; the
 * OpenAPI generator (src/openapi.ts) registers the same plugins without running them.
 */
import type { HttpServer } from './http/http-server.js';
import { analyticsPlugin, type AnalyticsRoutesDeps } from './analytics/analytics-routes.js';
import { clickToCallPlugin, type ClickToCallRouteDeps } from './clicktocall/click-to-call-routes.js';
import { healthPlugin, type HealthDeps } from './health/health-routes.js';
import { logoPlugin } from './integration/registration.js';
import { userStatusPlugin, type UserStatusRouteDeps } from './integration/user-status-routes.js';
import { recordingsPlugin, type RecordingRoutesDeps } from './recordings/recording-routes.js';
import { webhookPlugin, type WebhookRoutesDeps } from './sync/webhook-routes.js';

export interface HttpApiDeps {
  readonly health: HealthDeps;
  readonly recordings: RecordingRoutesDeps;
  readonly clickToCall: ClickToCallRouteDeps;
  readonly userStatus: UserStatusRouteDeps;
  readonly analytics: AnalyticsRoutesDeps;
  readonly webhooks: WebhookRoutesDeps;
}

export function registerHttpApi(http: HttpServer, deps: HttpApiDeps): void {
  http.register(healthPlugin, deps.health);
  http.register(recordingsPlugin, deps.recordings);
  http.register(clickToCallPlugin, deps.clickToCall);
  http.register(userStatusPlugin, deps.userStatus);
  http.register(logoPlugin, {});
  http.register(analyticsPlugin, deps.analytics);
  http.register(webhookPlugin, deps.webhooks);
}
