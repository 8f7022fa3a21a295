/**
 * The local demo stack: Temporal dev server (+UI), Prometheus, Alertmanager, HAProxy, the stable
 * demo service, the load generator and the Phoenix worker, all on 127.0.0.1, detached, with pids
 * and logs under `.stack/` (or --dir / PHOENIX_STACK_DIR).
 *
 *   npm run stack:up   [-- --dir DIR --ports '{"haproxyFrontend":18080}' --load-rate 50 --replicas 3,2 --temporal postgres --no-worker --no-load]
 *   npm run stack:down [-- --dir DIR]
 *   tsx scripts/stack.ts status [--dir DIR] [--json]
 *
 * Default ports: Temporal 7233 (UI 8233), Prometheus 9090, Alertmanager 9093, HAProxy frontend
 * 8080 (runtime API 9999), stable demo 8081, canary demo 8082 (started by rollouts), worker
 * metrics 9464. Addresses of everything are written to `<dir>/endpoints.json`. `--temporal postgres`
 * runs a real Temporal server on a private PostgreSQL (scripts/temporal-postgres.ts) on the Temporal
 * port instead of the dev server, without the UI; its other ports are chosen free.
 */
import { Command } from 'commander';
import { resolveStackConfig, StackConfigError, type StackFlags } from './stack/config';
import { stackDown, stackStatus, stackUp } from './stack/lifecycle';

const say = (line: string) => process.stdout.write(`${line}\n`);

interface Flags {
  dir?: string;
  ports?: string;
  loadRate?: string;
  replicas?: string;
  worker?: boolean;
  load?: boolean;
  json?: boolean;
  temporal?: string;
}

function config(flags: Flags) {
  const f: StackFlags = {
    ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
    ...(flags.ports !== undefined ? { ports: flags.ports } : {}),
    ...(flags.loadRate !== undefined ? { loadRate: flags.loadRate } : {}),
    ...(flags.replicas !== undefined ? { replicas: flags.replicas } : {}),
    ...(flags.worker !== undefined ? { worker: flags.worker } : {}),
    ...(flags.load !== undefined ? { load: flags.load } : {}),
    ...(flags.temporal !== undefined ? { temporal: flags.temporal } : {}),
  };
  return resolveStackConfig(f, process.env);
}

const program = new Command('stack').description('Run the Phoenix demo stack locally').showHelpAfterError();
const dirOption = ['--dir <dir>', 'stack state directory (env PHOENIX_STACK_DIR, default .stack)'] as const;

program
  .command('up')
  .description('start every part that is not running and wait until all are ready')
  .option(...dirOption)
  .option('--ports <json>', 'port overrides as JSON, e.g. {"haproxyFrontend":18080} (env PHOENIX_STACK_PORTS)')
  .option('--load-rate <n>', 'requests per second of the load generator (env LOAD_RATE, default 50)')
  .option(
    '--replicas <n>',
    'instances per version, N or STABLE,CANARY, e.g. 3,2: pools behind HAProxy (env PHOENIX_STACK_REPLICAS, default 1; ' +
      'instance i listens on the stable/canary port + i; the canary pool follows the stable one unless --ports names it)',
  )
  .option(
    '--temporal <kind>',
    'dev: `temporal server start-dev` with its UI (default); postgres: a real Temporal server on a private PostgreSQL, ' +
      'no UI (env PHOENIX_STACK_TEMPORAL)',
  )
  .option('--no-worker', 'do not start the Phoenix worker')
  .option('--no-load', 'do not start the load generator')
  .action(async (flags: Flags) => {
    const endpoints = await stackUp(config(flags), process.env, say);
    say(`stack is up; endpoints in ${endpoints.dir}/endpoints.json`);
    say(`  HAProxy frontend  ${endpoints.haproxyFrontend}`);
    say(`  Temporal          ${endpoints.temporal}${endpoints.temporalKind === 'postgres' ? ' (Temporal server on PostgreSQL)' : ''}`);
    say(`  Temporal UI       ${endpoints.temporalKind === 'postgres' ? '(none with --temporal postgres)' : endpoints.temporalUi}`);
    say(`  Prometheus        ${endpoints.prometheus}`);
    say(`  Alertmanager      ${endpoints.alertmanager}`);
    say(`  demo spec         ${endpoints.demoSpec}`);
  });

program
  .command('down')
  .description('stop every part (SIGTERM, then SIGKILL); logs are kept')
  .option(...dirOption)
  .action(async (flags: Flags) => {
    await stackDown(config(flags), process.env, say);
  });

program
  .command('status')
  .description('show which parts run (exit 0: all running, 1: some, 3: none)')
  .option(...dirOption)
  .option('--json', 'print JSON')
  .action(async (flags: Flags) => {
    const { parts, endpoints } = await stackStatus(config(flags), process.env);
    if (flags.json) say(JSON.stringify({ parts, endpoints }, null, 2));
    else for (const p of parts) say(`${p.part.padEnd(13)} ${p.running ? `running (pid ${p.pid})` : 'stopped'}`);
    const managed = parts.filter((p) => p.managed);
    const up = managed.filter((p) => p.running).length;
    process.exitCode = up === managed.length ? 0 : up === 0 ? 3 : 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  const e = err as Error;
  process.stderr.write(`${e instanceof StackConfigError ? e.message : (e.message ?? String(err))}\n`);
  process.exit(1);
});
