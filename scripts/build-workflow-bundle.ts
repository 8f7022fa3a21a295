/**
 * Prebuilds the workflow bundle for production workers (`npm run build:workflow`), so a worker
 * starts without webpack: run it with PHOENIX_WORKFLOW_BUNDLE=dist/workflow-bundle.js.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

async function main(): Promise<void> {
  const out = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'dist', 'workflow-bundle.js'));
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') });
  await fs.mkdir(path.dirname(out), { recursive: true });
  await fs.writeFile(out, code);
  process.stdout.write(`workflow bundle: ${out} (${Math.round(code.length / 1024)} KiB)\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`build:workflow failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
