// Type-aware lint: the promise rules catch floating and misused promises (STYLE.md §15, §19).
import tseslint from 'typescript-eslint';

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
        message: 'Only src/config.ts reads process.env (STYLE.md §3).',
      }],
    },
  },
  {
    // cli.ts is the process entry: it hands process.env to loadConfig and reads nothing from it.
    files: ['src/config.ts', 'src/cli.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
