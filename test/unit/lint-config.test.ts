/**
 * The lint rules that guard real bugs (workflow determinism, forgotten awaits, console output in
 * library code) fire where they should and stay quiet where the code is legitimate. Runs the real
 * ESLint with the repository's eslint.config.mjs on snippets placed at existing paths, so the typed
 * rules see the real tsconfig.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { ESLint } from 'eslint';

const repo = path.resolve(__dirname, '..', '..');

let eslint: ESLint;

/** Rule ids reported for `code` as if it were the file at `relPath`, with their lines. */
async function findings(code: string, relPath: string): Promise<{ rule: string | null; line: number }[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(repo, relPath) });
  assert.ok(result, `no lint result for ${relPath}`);
  return result.messages.map((m) => ({ rule: m.ruleId, line: m.line }));
}

const rulesOf = (list: { rule: string | null }[]) => list.map((f) => f.rule);

describe('eslint.config.mjs', { timeout: 120_000 }, () => {
  before(() => {
    eslint = new ESLint({ cwd: repo });
  });

  it('bans Node builtins, I/O libraries and activity value imports in workflows; allows type imports', async () => {
    const code = [
      "import { readFileSync } from 'node:fs';",
      "import * as path from 'path';",
      "import pino from 'pino';",
      "import { Registry } from 'prom-client';",
      "import { createActivities } from '../activities/create-activities';",
      "import type { RolloutActivities } from '../activities/types';",
      "import { proxyActivities } from '@temporalio/workflow';",
      'export const used = [readFileSync, path, pino, Registry, createActivities];',
      'export const acts = proxyActivities<RolloutActivities>({ startToCloseTimeout: 1000 });',
      '',
    ].join('\n');
    const found = await findings(code, 'workflows/plan.ts');
    const banned = found.filter((f) => f.rule === '@typescript-eslint/no-restricted-imports').map((f) => f.line);
    assert.deepEqual(banned, [1, 2, 3, 4, 5]);
  });

  it('the same imports are fine in activities', async () => {
    const code = [
      "import { readFileSync } from 'node:fs';",
      "import pino from 'pino';",
      'export const used = [readFileSync, pino];',
      '',
    ].join('\n');
    assert.deepEqual(await findings(code, 'activities/alerts.ts'), []);
  });

  it('reports a floating promise, but not one marked with void', async () => {
    const code = [
      'async function work(): Promise<void> {}',
      'work();',
      'void work();',
      'export async function main(): Promise<void> {',
      '  await work();',
      '}',
      '',
    ].join('\n');
    const found = await findings(code, 'client/ids.ts');
    assert.deepEqual(
      found.filter((f) => f.rule === '@typescript-eslint/no-floating-promises').map((f) => f.line),
      [2],
    );
  });

  it("does not report node:test's own test()/describe() calls as floating", async () => {
    const code = "import { describe, test } from 'node:test';\ndescribe('x', () => {\n  test('y', () => {});\n});\n";
    assert.deepEqual(await findings(code, 'test/unit/client-ids.test.ts'), []);
  });

  it('no console in library code; CLIs may print', async () => {
    const code = "console.log('hello');\nexport {};\n";
    const library = [
      'activities/alerts.ts',
      'workflows/plan.ts',
      'worker/logger.ts',
      'rollout-spec/units.ts',
      'client/rollouts.ts',
      'client/api/server.ts',
    ];
    for (const lib of library) {
      assert.deepEqual(rulesOf(await findings(code, lib)), ['no-console'], lib);
    }
    for (const cli of ['client/cli.ts', 'scripts/stack.ts', 'test/unit/client-ids.test.ts']) {
      assert.deepEqual(rulesOf(await findings(code, cli)), [], cli);
    }
  });

  it('requires import type for imports used only as types', async () => {
    const code = [
      "import { RolloutSpec } from '../rollout-spec/types';",
      'export const f = (s: RolloutSpec): string => s.service;',
      '',
    ].join('\n');
    assert.deepEqual(rulesOf(await findings(code, 'client/ids.ts')), ['@typescript-eslint/consistent-type-imports']);
  });
});
