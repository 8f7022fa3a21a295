/**
 * Prebuilds the workflow bundle for production workers (`npm run build:workflow`), so a worker
 * starts without webpack: run it with PHOENIX_WORKFLOW_BUNDLE=dist/workflow-bundle.js.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { buildWorkflowBundle } from '../worker/workflow-bundle';

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist', 'workflow-bundle.js'));
  // The same sandbox set-up as a worker that bundles at start (PHOENIX_WORKFLOW_STACK_TRACES included).
  const stackTraces = ['true', '1'].includes(process.env.PHOENIX_WORKFLOW_STACK_TRACES ?? '');
  const { code } = await buildWorkflowBundle({ stackTraces });
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, code);
  process.stdout.write(`workflow bundle: ${out} (${Math.round(code.length / 1024)} KiB)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`build:workflow failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
