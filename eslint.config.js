// Type-aware lint: the promise rules catch floating and misused promises (STYLE.md §15, §19).
// The boundaries rules keep the house drawn in docs/architecture.md: a wrong arrow between folders fails lint.
// The SQL rule keeps every table's SQL in the store that owns it (docs/architecture.md, "Tables and their owners").
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

/** Which folder of src/ may import which (docs/architecture.md draws the same table). */
const HOUSE = {
  lib: [],
  domain: ['lib'],
  agi: ['lib'],
  ami: ['lib'],
  crm: ['lib'],
  http: ['lib'],
  secrets: ['lib', 'domain'],
  config: ['lib'],
  metrics: ['lib'],
  db: ['lib', 'domain', 'secrets', 'config'],
  customers: ['lib', 'domain', 'crm', 'db', 'metrics', 'config'],
  outbox: ['lib', 'domain', 'crm', 'db', 'metrics', 'config'],
  recordings: ['lib', 'domain', 'http', 'secrets', 'db', 'metrics', 'config'],
  audit: ['lib', 'domain', 'db', 'secrets'],
  access: ['lib', 'domain', 'db', 'secrets', 'metrics', 'config'],
  // Leads and call-back tasks (issue 10): stores of their own, jobs through the outbox.
  work: ['lib', 'domain', 'crm', 'db', 'outbox'],
  calls: ['lib', 'domain', 'agi', 'crm', 'db', 'secrets', 'customers', 'outbox', 'recordings', 'access', 'work', 'metrics', 'config'],
  clicktocall: ['lib', 'domain', 'ami', 'crm', 'http', 'db', 'secrets', 'customers', 'audit', 'access', 'metrics', 'config'],
  integration: ['lib', 'domain', 'crm', 'http', 'db', 'secrets', 'audit', 'access', 'metrics', 'config'],
  sync: ['lib', 'domain', 'crm', 'http', 'db', 'secrets', 'customers', 'access', 'metrics', 'config'],
  reconcile: ['lib', 'domain', 'crm', 'db', 'calls', 'metrics', 'config'],
  analytics: ['lib', 'domain', 'http', 'db', 'secrets', 'access', 'metrics', 'config'],
  health: ['lib', 'domain', 'http', 'agi', 'crm', 'db', 'calls', 'outbox', 'metrics', 'config'],
  backup: ['lib', 'domain', 'db', 'secrets', 'config'],
};
const FEATURES = Object.keys(HOUSE);

/**
 * SQL runs only in stores: `src/**\/*-store.ts` (each the one owner of its tables) and `src/db/` (the pool, the
 * transaction helper, migrations, advisory locks, LISTEN/NOTIFY, and db's own stores). A `.query(...)` call
 * anywhere else fails lint.
 */
const SQL_PLACES = ['src/**/*-store.ts', 'src/db/**'];
/**
 * TEMPORARY (issue 12): route files whose SQL the fastify branch moves into stores (webhook-routes' delete into
 * db/customer-store.ts `removeCustomerPhone`, health's `select 1` into db/). Remove each entry once it is in.
 */

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/fixtures/**'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-await': 'off',
      'no-restricted-properties': ['error', {
        object: 'process', property: 'env',
        message: 'Only src/config/config.ts reads process.env (STYLE.md §3).',
      }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { typescript: { alwaysTryTypes: true, project: './tsconfig.json' }, node: true },
      'boundaries/elements': [
        { type: 'cli', pattern: 'src/cli' },
        ...FEATURES.map((f) => ({ type: f, pattern: `src/${f}` })),
      ],
    },
    rules: {
      'boundaries/dependencies': [2, {
        default: 'disallow',
        policies: [
          ...Object.entries(HOUSE).map(([from, to]) => ({
            from: { element: { type: from } },
            allow: { to: { element: { types: { anyOf: [from, ...to] } } } },
          })),
          { from: { element: { type: 'cli' } }, allow: { to: { element: { types: { anyOf: ['cli', ...FEATURES] } } } } },
          { allow: { to: { module: { origin: 'external' } } } },
          { allow: { to: { module: { origin: 'core' } } } },
        ],
      }],
      // main.ts, cli.ts and shutdown.ts belong to no folder: nothing in a folder may import them.
      'boundaries/no-unknown-dependencies': 2,
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: SQL_PLACES,
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.type='MemberExpression'][callee.property.name='query']",
        message: 'SQL lives in the store that owns the table (a *-store.ts module, or src/db/): see docs/architecture.md, "Tables and their owners".',
      }],
    },
  },
  {
    // cli.ts is the process entry: it hands process.env to loadConfig and reads nothing from it.
    files: ['src/config/config.ts', 'src/cli.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
