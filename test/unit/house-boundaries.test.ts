/**
 * The folder rules of docs/architecture.md are code (eslint.config.js HOUSE): a wrong arrow must fail lint.
 * Lints source text as if it were a file in a given folder, so nothing is written into src/.
 */
import { expect } from 'chai';
import { ESLint } from 'eslint';
import { projectRoot } from '../helpers/paths.js';

const BOUNDARY = /^boundaries\//;

describe('the house: folder boundaries in lint', function () {
  this.timeout(60_000);
  let eslint: ESLint;
  before(() => {
    eslint = new ESLint({ cwd: projectRoot });
  });

  async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath });
    return (result?.messages ?? []).filter((m) => BOUNDARY.test(m.ruleId ?? '')).map((m) => m.message);
  }

  const wrong: readonly (readonly [string, string, string])[] = [
    ['the kernel importing a feature', 'src/domain/phone-number.ts', "import type { LiveCalls } from '../calls/live-calls.js';\nexport type X = LiveCalls;\n"],
    ['a protocol importing the kernel', 'src/crm/types.ts', "import type { Enterprise } from '../domain/enterprise.js';\nexport type X = Enterprise;\n"],
    ['the HTTP layer importing a feature', 'src/http/http-server.ts', "import type { LiveCalls } from '../calls/live-calls.js';\nexport type X = LiveCalls;\n"],
    ['a mechanism importing config', 'src/lib/deadline.ts', "import type { Config } from '../config/config.js';\nexport type X = Config;\n"],
    ['the outbox importing calls', 'src/outbox/enqueue.ts', "import type { LiveCalls } from '../calls/live-calls.js';\nexport type X = LiveCalls;\n"],
    ['a feature importing the composition root', 'src/calls/live-calls.ts', "import type { Service } from '../main.js';\nexport type X = Service;\n"],
  ];
  for (const [what, file, code] of wrong) {
    it(`fails ${what}`, async () => {
      const errors = await boundaryErrors(file, code);
      expect(errors, file).to.have.length(1);
      expect(errors[0]).to.match(/no policy allowing dependencies|not allowed to import|unknown/i);
    });
  }

  it('passes the arrows the house allows', async () => {
    expect(await boundaryErrors('src/calls/live-calls.ts',
      "import type { Enterprise } from '../domain/enterprise.js';\nimport { raceDeadline } from '../lib/deadline.js';\nexport type X = Enterprise;\nexport const y = raceDeadline;\n")).to.deep.equal([]);
    expect(await boundaryErrors('src/sync/history-poller.ts',
      "import { crmAccount } from '../domain/crm-account.js';\nexport const y = crmAccount;\n")).to.deep.equal([]);
  });
});
