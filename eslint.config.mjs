// @ts-check
/**
 * Lint setup in the spirit of temporalio/samples-typescript `.shared/.eslintrc.js`, as a flat config with
 * typed linting: floating promises are errors (a forgotten `await` on an activity or workflow API is a bug),
 * type-only imports are explicit (so workflows never pull activity code into the sandbox by accident),
 * library code logs through pino instead of the console, and workflow files cannot import Node builtins
 * or I/O libraries (the workflow bundler would reject most of them anyway, but later and less clearly).
 */
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Node builtins and I/O libraries that have no place in deterministic workflow code. */
const workflowBannedPatterns = [
  { group: ['node:*'], message: 'Workflows are deterministic sandboxed code: no Node builtins.' },
  {
    group: ['fs', 'fs/*', 'path', 'child_process', 'net', 'http', 'https', 'crypto', 'os'],
    message: 'Workflows are deterministic sandboxed code: no Node builtins or I/O.',
  },
  {
    group: ['pino', 'prom-client', 'fastify'],
    message: 'Workflows must not do I/O: log with `log` from @temporalio/workflow; metrics belong to activities.',
  },
  {
    group: ['**/activities', '**/activities/**'],
    allowTypeImports: true,
    message: 'Import activities with `import type` and call them through proxyActivities.',
  },
];

export default tseslint.config(
  {
    ignores: ['dist/', '.cache/', '.stack/', '.stack-bench/', 'node_modules/', 'test-artifacts/', 'deploy/', 'docs/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself tracks; awaiting them is not the idiom.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after'] },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'object-shorthand': ['error', 'always'],
      // Async fakes, fastify handlers and interface implementations are async by contract, not by accident.
      '@typescript-eslint/require-await': 'off',
      // Rejecting with AbortSignal.reason (typed `any`) is the standard way to propagate a cancellation.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Library code runs inside the worker, the API server or the client library: it logs through pino.
    files: ['activities/**', 'workflows/**', 'worker/**', 'rollout-spec/**', 'catalog/**', 'client/rollouts.ts', 'client/api/**'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['test/**'],
    rules: {
      // Tests hand activities to MockActivityEnvironment.run(); they are closures declared with method syntax in
      // the RolloutActivities contract, so this fires on every such call without a real `this` problem.
      '@typescript-eslint/unbound-method': 'off',
      // Tests assert on JSON bodies (inject().json(), JSON.parse) that are `any` by design; typing each is noise.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  {
    files: ['workflows/**'],
    rules: {
      // The core rule cannot tell `import type` apart; the typescript-eslint version honours allowTypeImports.
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: workflowBannedPatterns }],
    },
  },
  {
    // The dashboard runs in the browser (typed by dashboard/tsconfig.json, which the project service finds).
    files: ['dashboard/src/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: { 'no-console': 'error' },
  },
  {
    // Plain JavaScript (this file, scripts/test.mjs) is not part of tsconfig.json.
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
