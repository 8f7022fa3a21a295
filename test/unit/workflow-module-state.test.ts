/**
 * The worker evaluates the workflow modules once and shares them between rollouts
 * (worker/workflow-bundle.ts `shareModules`). That is only safe while no module of the workflow
 * bundle keeps state at module level: this test reads every file the bundle takes from this
 * repository and refuses a top-level `let`/`var` or a module-level Map/Set/WeakMap.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { WORKFLOWS_PATH } from '../../worker/workflow-bundle';

const ROOT = path.resolve(__dirname, '..', '..');

/** The repository's files reachable from `entry` through runtime (non-type) imports. */
function runtimeImports(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = fs.readFileSync(file, 'utf8');
    for (const m of source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gms)) {
      const base = path.resolve(path.dirname(file), m[1] as string);
      const resolved = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
      if (resolved) visit(resolved);
    }
  };
  visit(entry);
  return [...seen];
}

/** Module-level statements that would hold state shared by every rollout on a worker. */
function moduleLevelState(source: string): string[] {
  return source
    .split('\n')
    .filter((line) => /^(?:export\s+)?(?:let|var)\s/.test(line) || /^(?:export\s+)?const\s+\w+\s*(?::[^=]+)?=\s*new\s+(?:Map|WeakMap|WeakSet)\b/.test(line));
}

describe('workflow modules shared between rollouts', () => {
  const files = runtimeImports(WORKFLOWS_PATH.replace(/\.js$/, '.ts'));

  it('reaches the workflow code and what it imports at run time', () => {
    const names = files.map((f) => path.relative(ROOT, f));
    assert.ok(names.includes(path.join('workflows', 'canary-rollout.ts')), names.join(', '));
    assert.ok(names.includes(path.join('workflows', 'analysis-round.ts')), names.join(', '));
    assert.ok(names.some((n) => n.startsWith('rollout-spec')), names.join(', '));
  });

  it('keeps no state at module level', () => {
    const found = files.flatMap((f) => moduleLevelState(fs.readFileSync(f, 'utf8')).map((l) => `${path.relative(ROOT, f)}: ${l.trim()}`));
    assert.deepEqual(found, []);
  });

  it('would see a module-level let, var or Map', () => {
    assert.deepEqual(moduleLevelState('let cache = 1;\nconst x = 2;\n  let inner = 3;\nexport const m = new Map();'), ['let cache = 1;', 'export const m = new Map();']);
  });
});
