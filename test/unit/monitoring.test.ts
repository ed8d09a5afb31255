/**
 * The shipped monitoring files: monitoring/alerts.yml passes `promtool check rules` (Debian's prometheus package;
 * test/prereqs.sh installs it — a missing promtool fails this test, never skips it), and every rcrm_* metric the
 * alerts and the Grafana dashboard use is one the service registers (a renamed metric cannot silently break them).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Metrics } from '../../src/metrics/metrics.js';
import { projectRoot } from '../helpers/paths.js';

const ALERTS = path.join(projectRoot, 'monitoring', 'alerts.yml');
const DASHBOARD = path.join(projectRoot, 'monitoring', 'grafana-dashboard.json');

function promtool(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile('promtool', args, { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('promtool is missing: install Debian\'s "prometheus" package (apt-get install prometheus; test/prereqs.sh does it as root)'));
        return;
      }
      resolve({ code: err ? Number(err.code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

function rcrmNames(text: string): Set<string> {
  return new Set([...text.matchAll(/\brcrm_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, '')));
}

describe('monitoring files', function () {
  this.timeout(30_000);

  it('alerts.yml passes promtool check rules', async () => {
    const r = await promtool(['check', 'rules', ALERTS]);
    expect(r.output).to.contain('SUCCESS');
    expect(r.code).to.equal(0);
  });

  it('uses only metrics the service registers', async () => {
    const metrics = new Metrics();
    const registered = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    for (const [file, text] of [['alerts.yml', readFileSync(ALERTS, 'utf8')], ['grafana-dashboard.json', exprs]] as const) {
      const unknown = [...rcrmNames(text)].filter((n) => !registered.has(n));
      expect(unknown, `${file} uses unknown metrics`).to.deep.equal([]);
    }
    for (const name of ['nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) expect(registered.has(name)).to.equal(true);
  });
});
