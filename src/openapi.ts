/**
 * `npm run openapi`: writes docs/openapi.json, the OpenAPI document of the HTTP API generated from the route
 * schemas. The plugins are registered with inert dependencies: registering a route runs none of its handlers.
 */
import { writeFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { registerHttpApi, type HttpApiDeps } from './http-api.js';
import { HttpServer } from './http/http-server.js';
import { createLogger } from './lib/logger.js';

/** The document as committed: stable key order from the schemas, two-space indent, final newline. */
export async function openapiDocument(): Promise<string> {
  const logger = createLogger({ level: 'error', silent: true });
  const http = new HttpServer({ logger });
  const inert = new Proxy({}, { get: () => undefined }) as never;
  const deps: HttpApiDeps = {
    health: inert,
    recordings: inert,
    // The limit's presence decides whether the route documents 429; its value does not enter the document.
    clickToCall: { enterprises: inert, clickToCall: inert, logger, rateLimit: { max: 60, windowMs: 60_000 } },
    userStatus: inert,
    analytics: inert,
    webhooks: inert,
  };
  registerHttpApi(http, deps);
  try {
    return `${JSON.stringify(await http.openapi(), null, 2)}\n`;
  } finally {
    await http.close();
  }
}

function isMain(): boolean {
  return process.argv[1] !== undefined && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url;
}

if (isMain()) {
  const target = process.argv[2] ?? 'docs/openapi.json';
  await writeFile(target, await openapiDocument());
  process.stdout.write(`wrote ${target}\n`);
}
