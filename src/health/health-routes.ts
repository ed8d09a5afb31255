/**
 * The health plugin: `/health` (alive: the process answers; open to anyone, for load balancers and systemd), `/ready` (the
 * database, and per enterprise RetailCRM, AMI and the outbox, with reasons) and `/metrics` (Prometheus); the
 * last two only for HTTP_ADMIN_ALLOW. /ready is 503 only for what makes this instance useless (database down,
 * shutting down); one enterprise's problems make it "degraded" with the reasons.
 */
import type { AgiServer } from '../agi/server.js';
import type { LiveCalls } from '../calls/live-calls.js';
import type { CrmReachability } from '../crm/reachability.js';
import { pingDatabase, type Pool } from '../db/pool.js';
import type { Metrics } from '../metrics/metrics.js';
import type { OutboxBacklog } from '../outbox/worker.js';
import { raceDeadline } from '../lib/deadline.js';
import type { FastifyPluginAsync } from 'fastify';
import { PATHS } from '../http/public-paths.js';
import { enterpriseReadiness, type EnterpriseReadiness, type ReadinessThresholds } from './readiness.js';

export interface HealthDeps {
  readonly pool: Pool;
  readonly liveCalls: LiveCalls;
  readonly metrics: Metrics;
  readonly agi: AgiServer;
  readonly enterpriseNumbers: () => Promise<readonly string[]>;
  readonly reachability: CrmReachability;
  readonly amiStates: () => Record<string, string>;
  readonly outboxBacklog: () => Promise<readonly OutboxBacklog[]>;
  readonly thresholds?: ReadinessThresholds;
}

const CHECK_DEADLINE_MS = 2_000;

async function checkDatabase(pool: Pool): Promise<string> {
  try {
    await raceDeadline(pingDatabase(pool), Date.now() + CHECK_DEADLINE_MS);
    return 'ok';
  } catch {
    return 'unreachable';
  }
}

async function enterprisesReadiness(deps: HealthDeps): Promise<Record<string, EnterpriseReadiness>> {
  const deadline = Date.now() + CHECK_DEADLINE_MS;
  const [numbers, backlog] = await Promise.all([
    raceDeadline(deps.enterpriseNumbers(), deadline),
    raceDeadline(deps.outboxBacklog(), deadline),
  ]);
  const byEnterprise = new Map(backlog.map((b) => [b.enterprise, b]));
  const ami = deps.amiStates();
  const now = Date.now();
  return Object.fromEntries(
    numbers.map((n) => [
      n,
      enterpriseReadiness(
        {
          enterprise: n,
          crm: deps.reachability.get(n),
          amiState: ami[n],
          oldestPendingSeconds: byEnterprise.get(n)?.oldestPendingSeconds ?? 0,
          failedJobs: byEnterprise.get(n)?.failed ?? 0,
        },
        now,
        deps.thresholds,
      ),
    ]),
  );
}

export const healthPlugin: FastifyPluginAsync<HealthDeps> = async (app, deps) => {
  app.route({
    method: ['GET'],
    url: PATHS.health,
    schema: { summary: 'Alive: the process answers (503 with the reason while shutting down)', tags: ['operations'] },
    handler: async () => ({ status: 'ok', liveCalls: deps.liveCalls.count, agiSessions: deps.agi.activeSessions }),
  });

  app.route({
    method: ['GET'],
    url: PATHS.ready,
    schema: { summary: 'Ready: the database, and per enterprise RetailCRM, AMI and the outbox, with reasons', tags: ['operations'] },
    onRequest: app.adminOnly,
    handler: async (_request, reply) => {
      const database = await checkDatabase(deps.pool);
      if (database !== 'ok') return reply.code(503).send({ status: 'unavailable', database, reasons: ['database unreachable'] });
      let enterprises: Record<string, EnterpriseReadiness>;
      try {
        enterprises = await enterprisesReadiness(deps);
      } catch {
        return reply.code(503).send({ status: 'unavailable', database, reasons: ['database too slow to read enterprise state'] });
      }
      const degraded = Object.values(enterprises).some((e) => !e.ok);
      return {
        status: degraded ? 'degraded' : 'ready',
        database,
        liveCalls: deps.liveCalls.count,
        agiSessions: deps.agi.activeSessions,
        enterprises,
      };
    },
  });

  app.route({
    method: ['GET'],
    url: PATHS.metrics,
    schema: { summary: 'Prometheus metrics', tags: ['operations'] },
    onRequest: app.adminOnly,
    handler: async (_request, reply) => {
      deps.metrics.liveCalls.set(deps.liveCalls.count);
      const body = await deps.metrics.render();
      return reply.type(deps.metrics.contentType).send(body);
    },
  });
};
