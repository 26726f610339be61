// Lint for nestmq: the typescript-eslint recommended set everywhere, the type-aware rules that
// catch real bugs (a dropped promise, a switch that misses a case), and the boundary that keeps
// src/core framework-free (STYLE.md §1: main -> app.module -> modules/* -> core/index.ts).
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** What src/core must not import: Nest and its companions, and the layers above the engine. */
const CORE_FORBIDDEN = [
  { group: ['@nestjs/*', 'express', 'express/*', 'rxjs', 'rxjs/*', 'reflect-metadata', 'nestjs-pino', 'pino', 'pino-*', 'prom-client'], message: 'src/core is framework-free: Nest, express, rxjs, pino and prom-client belong in src/modules.' },
  { group: ['**/modules', '**/modules/**', '**/app.module', '**/main', '**/service'], message: 'src/core must not import the layers above it (modules, app.module, main, service).' },
];

export default tseslint.config(
  { ignores: ['dist/**', 'coverage/**', 'node_modules/**', 'data/**', 'src/modules/admin/dashboard/public/vendor/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  {
    rules: {
      // An empty catch is the idiom for best-effort cleanup (kill a child, remove a temp dir).
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // A `default:` is a deliberate choice; a switch without one must name every case.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // Tests read their own package.json for the version.
      '@typescript-eslint/no-require-imports': ['error', { allow: ['/package\\.json$'] }],
      // Dropped from the recommended set: `const broker = this` feeds getters of an object literal.
      '@typescript-eslint/no-this-alias': 'off',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: CORE_FORBIDDEN }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // The dashboard runs in the browser (vendored libraries are not ours to lint).
    files: ['src/modules/admin/dashboard/public/**/*.mjs'],
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    files: ['**/*.cjs', 'jest.config.js', 'test/helpers/*.js'],
    languageOptions: { sourceType: 'commonjs' },
  },
);
