/**
 * `npm run demo`: brings the local stack up, starts a canary rollout of the demo service
 * `checkout` (v1 → v2) with compressed timings and shows it live. The stack keeps running
 * afterwards; the end of the output says where everything is and how to steer the rollout.
 *
 *   npm run demo [-- --seed-timings] [--no-watch] [--fault error|latency] [--dir DIR] [--ports JSON]
 *
 * A rollout of checkout that is already running is attached to, not restarted. Ctrl-C stops
 * watching only: the rollout and the stack keep running.
 */
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { formatStatus } from '../client/render';
import { describeCause, type RolloutClient } from '../client/rollouts';
import { ENDED_STATES } from '../workflows/contract';
import { RolloutAlreadyRunningError } from '../client/errors';
import { watchRollout } from '../client/watch';
import { rolloutWorkflowId, type RolloutStatus } from '../workflows/contract';
import { REPO_ROOT, resolveStackConfig, StackConfigError, type StackFlags } from './stack/config';
import type { StackEndpoints } from './stack/endpoints';
import { stackUp } from './stack/lifecycle';
import {
  connectToStack,
  faultCurl,
  pause,
  renderSpecForStack,
  setCanaryFaults,
  workflowUiUrl,
  type DemoFaults,
} from './stack-rollouts';

const say = (line = ''): void => void process.stdout.write(`${line}\n`);

/** Faults `--fault` injects: enough to trip the demo spec's rollback triggers. */
export const DEMO_FAULTS: Readonly<Record<'error' | 'latency', DemoFaults>> = {
  error: { errorRate: 0.05 },
  latency: { latencyMs: 600 },
};

interface Flags {
  seedTimings?: boolean;
  watch: boolean;
  fault?: 'error' | 'latency';
  dir?: string;
  ports?: string;
}

const program = new Command('demo')
  .description('Bring the local stack up and run a canary rollout of the demo service, live')
  .option('--seed-timings', "use the seed design's real timings (about 47 minutes) instead of ~2 minutes")
  .option('--no-watch', 'start the rollout and return without watching it')
  .option('--fault <kind>', 'inject a fault on the canary once it takes traffic: error | latency', (v: string) => {
    if (v !== 'error' && v !== 'latency') throw new InvalidArgumentError('expected "error" or "latency"');
    return v;
  })
  .option('--dir <dir>', 'stack state directory (env PHOENIX_STACK_DIR, default .stack)')
  .option('--ports <json>', 'port overrides as JSON, e.g. {"haproxyFrontend":18080} (env PHOENIX_STACK_PORTS)')
  .showHelpAfterError();

async function main(flags: Flags): Promise<void> {
  const stackFlags: StackFlags = {
    ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
    ...(flags.ports !== undefined ? { ports: flags.ports } : {}),
  };
  const config = resolveStackConfig(stackFlags, process.env);
  say(`bringing the stack up in ${config.dir} (first run installs what is missing; this can take minutes)`);
  const endpoints = await stackUp(config, process.env, (line) => say(`  ${line}`));

  const template = path.join(REPO_ROOT, 'examples', flags.seedTimings ? 'demo-stack-seed-timings.yaml' : 'demo-stack.yaml');
  const { spec } = await renderSpecForStack(template, endpoints);
  const client = await connectToStack(endpoints);
  const rolloutId = rolloutWorkflowId(spec.service);
  const watching = new AbortController();
  try {
    await startOrAttach(client, spec, template);
    if (flags.fault) void injectWhenCanaryTakesTraffic(client, endpoints, rolloutId, DEMO_FAULTS[flags.fault], watching.signal);

    let final: RolloutStatus | undefined;
    if (flags.watch) {
      const onSigint = (): void => watching.abort();
      process.once('SIGINT', onSigint);
      say();
      try {
        final = await watchRollout(() => client.status(rolloutId), {
          write: (text) => void process.stdout.write(text),
          tty: process.stdout.isTTY === true,
          signal: watching.signal,
        });
      } catch (err) {
        if (!watching.signal.aborted) throw err;
        say('\nstopped watching (Ctrl-C); the rollout and the stack keep running.');
      } finally {
        process.off('SIGINT', onSigint);
      }
    }
    watching.abort();
    if (final) {
      say();
      for (const line of formatStatus(final)) say(line);
    }
    printNextSteps(endpoints, rolloutId, final);
  } finally {
    watching.abort();
    await client.close();
  }
}

async function startOrAttach(client: RolloutClient, spec: Parameters<RolloutClient['start']>[0], template: string): Promise<void> {
  const rolloutId = rolloutWorkflowId(spec.service);
  try {
    await client.start(spec);
    say(`started ${rolloutId} from ${path.relative(process.cwd(), template)}: ${spec.stable.version} → ${spec.canary.version}`);
  } catch (err) {
    if (!(err instanceof RolloutAlreadyRunningError)) throw err;
    say(`${rolloutId} is already running: attaching to it (\`npm run phoenix -- abort checkout --reason ...\` to stop it)`);
  }
}

/**
 * Waits until the canary carries traffic in a phase (weight > 0 and not rolling back), then sets
 * the faults on it. Returns quietly if the rollout ends or watching stops first.
 */
async function injectWhenCanaryTakesTraffic(
  client: RolloutClient,
  endpoints: StackEndpoints,
  rolloutId: string,
  faults: DemoFaults,
  stop: AbortSignal,
): Promise<void> {
  try {
    while (!stop.aborted) {
      const status = await client.status(rolloutId);
      if ((ENDED_STATES as readonly string[]).includes(status.state) || status.state === 'rolling_back') return;
      if (status.weight > 0) {
        await setCanaryFaults(endpoints, faults);
        say(`\n>>> injected ${JSON.stringify(faults)} on the canary at ${status.weight}% (phase ${status.phase}); watch it roll back\n`);
        return;
      }
      await pause(500, stop);
    }
  } catch (err) {
    say(`\ncould not inject the fault: ${describeCause(err)}`);
  }
}

function printNextSteps(endpoints: StackEndpoints, rolloutId: string, final: RolloutStatus | undefined): void {
  const service = rolloutId.replace(/^rollout-/, '');
  say();
  say(final ? `${rolloutId} ended: ${final.state}. The stack keeps running.` : `${rolloutId} is running. The stack keeps running.`);
  say();
  say(`  Temporal UI       ${endpoints.temporalUi}`);
  say(`  this rollout      ${workflowUiUrl(endpoints, rolloutId)}`);
  say(`  Prometheus        ${endpoints.prometheus}`);
  say(`  Alertmanager      ${endpoints.alertmanager}`);
  say(`  HAProxy frontend  ${endpoints.haproxyFrontend}   (runtime API ${endpoints.haproxyRuntimeApi})`);
  say(`  stable / canary   ${endpoints.demo.stable.url} / ${endpoints.demo.canary.url}`);
  say();
  const env = endpoints.temporal === '127.0.0.1:7233' ? '' : `TEMPORAL_ADDRESS=${endpoints.temporal} `;
  say('Steer it:');
  say(`  ${env}npm run phoenix -- watch ${service}`);
  say(`  ${env}npm run phoenix -- pause ${service} --reason "looking at p95"`);
  say(`  ${env}npm run phoenix -- resume ${service}`);
  say(`  ${env}npm run phoenix -- abort ${service} --reason "bad canary"`);
  say(`  or in the UI: ${workflowUiUrl(endpoints, rolloutId)} → "Send a Signal", name "pause", input {"reason":"..."}`);
  say(`Break the canary (while it runs) to see a rollback; /admin needs the stack's admin token (demo.canary.adminToken in ${path.join(endpoints.dir, 'endpoints.json')}):`);
  say(`  ${faultCurl(endpoints, DEMO_FAULTS.error)}`);
  say(`  ${faultCurl(endpoints, DEMO_FAULTS.latency)}`);
  const defaultDir = path.join(REPO_ROOT, '.stack');
  const dirFlag = path.resolve(endpoints.dir) === defaultDir ? '' : ` -- --dir ${endpoints.dir}`;
  say(`Run another rollout: npm run demo${dirFlag}          Stop everything: npm run stack:down${dirFlag}`);
}

program.action(async (flags: Flags) => main(flags));
program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as Error;
  process.stderr.write(`demo: ${e instanceof StackConfigError ? e.message : describeCause(err)}\n`);
  process.exit(1);
});
