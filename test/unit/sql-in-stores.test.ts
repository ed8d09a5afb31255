/**
 * "SQL lives in stores" is code (eslint.config.js, no-restricted-syntax): a `.query(...)` outside a store or
 * src/db/ must fail lint, and secrets/ may no longer import db/. Lints source text as if it were a file in a
 * given folder, so nothing is written into src/.
 */
import { expect } from 'chai';
import { ESLint } from 'eslint';
import { projectRoot } from '../helpers/paths.js';

const SQL = "import type { Pool } from '../db/pool.js';\nexport async function f(pool: Pool): Promise<void> {\n  await pool.query('select 1');\n}\n";

describe('the house: SQL only in stores, in lint', function () {
  this.timeout(60_000);
  let eslint: ESLint;
  before(() => {
    eslint = new ESLint({ cwd: projectRoot });
  });

  async function ruleErrors(filePath: string, code: string, rule: RegExp): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath });
    return (result?.messages ?? []).filter((m) => rule.test(m.ruleId ?? '')).map((m) => m.message);
  }
  const sqlErrors = (filePath: string, code = SQL): Promise<string[]> => ruleErrors(filePath, code, /^no-restricted-syntax$/);

  for (const file of ['src/sync/customer-refresh.ts', 'src/calls/incoming-call.ts', 'src/secrets/key-check.ts', 'src/cli/secret-commands.ts']) {
    it(`fails SQL in ${file}`, async () => {
      const errors = await sqlErrors(file);
      expect(errors, file).to.have.length(1);
      expect(errors[0]).to.match(/SQL lives in the store that owns the table/);
    });
  }

  it('passes SQL in a store and in db/', async () => {
    expect(await sqlErrors('src/sync/order-store.ts')).to.deep.equal([]);
    expect(await sqlErrors('src/calls/call-store.ts')).to.deep.equal([]);
    expect(await sqlErrors('src/db/pool.ts', SQL.replace("'../db/pool.js'", "'./pool.js'"))).to.deep.equal([]);
  });

  it('passes a member named query that is not called (URL query, AGI request query)', async () => {
    expect(await sqlErrors('src/calls/ringing-call.ts', 'export const f = (s: { query: URLSearchParams }): string | null => s.query.get("codes");\n')).to.deep.equal([]);
  });

  it('fails secrets importing db', async () => {
    const errors = await ruleErrors('src/secrets/key-check.ts',
      "import type { Pool } from '../db/pool.js';\nexport type X = Pool;\n", /^boundaries\//);
    expect(errors).to.have.length(1);
  });
});
