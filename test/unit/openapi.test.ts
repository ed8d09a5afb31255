/** docs/openapi.json is generated from the route schemas (`npm run openapi`); this fails when it is stale. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { expect } from 'chai';
import { openapiDocument } from '../../src/openapi.js';
import { projectRoot } from '../helpers/paths.js';

describe('OpenAPI document', () => {
  // GIVEN the committed docs/openapi.json WHEN the document is generated from the schemas THEN they are identical
  it('is up to date with the route schemas (run `npm run openapi` after changing a route)', async () => {
    const committed = await readFile(path.join(projectRoot, 'docs', 'openapi.json'), 'utf8');
    const generated = await openapiDocument();
    expect(committed === generated, 'docs/openapi.json is stale: run `npm run openapi` and commit it').to.equal(true);
  });

  // GIVEN the document WHEN read THEN it lists RetailCRM's callbacks with their parameters
  it('documents the RetailCRM callbacks with their parameters', async () => {
    const doc = JSON.parse(await openapiDocument()) as { paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    expect(Object.keys(doc.paths)).to.include.members(['/api/makecallexternal', '/api/changeuserstatus', '/health', '/ready', '/metrics', '/dashboard']);
    const names = (doc.paths['/api/makecallexternal']?.['get']?.parameters ?? []).map((p) => p.name);
    expect(names).to.include.members(['clientId', 'code', 'userId', 'phone', 'externalPhone']);
  });
});
