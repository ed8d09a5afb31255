/** Paths for tests: the project root (found from the compiled file's location) and fixture files. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
}

export const projectRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** fixturePath('agi', 'inbound_answered__incoming.json') → <root>/test/fixtures/agi/inbound_answered__incoming.json */
export function fixturePath(...parts: string[]): string {
  return path.join(projectRoot, 'test', 'fixtures', ...parts);
}
