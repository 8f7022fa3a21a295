#!/usr/bin/env node
/**
 * `phoenix`: command-line client for canary rollouts. Exit codes are listed in `./exit-codes`.
 * Errors are reported as one line on stderr (spec problems: one `path: message` line each).
 */
import { Command, CommanderError, Option } from 'commander';
import { formatPreflightProblem } from '../activities/metrics/preflight';
import { ROLLOUT_STATES, type OperatorAck, type RolloutState, type RolloutStatus } from '../workflows/contract';
import { loadClientConfig } from './config';
import { ExitCode, exitCodeFor } from './exit-codes';
import { normalizeRolloutId } from './ids';
import { formatStatus, formatSummaryTable } from './render';
import { isOperatorActionRefused } from './errors';
import { buildListQuery, describeCause, RolloutClient } from './rollouts';
import { issuesOf, loadSpecFile, loadStartInput } from './spec-input';
import { checkSpecMetrics, type MetricsCheck } from './validate';
import { watchRollout } from './watch';

/** What the CLI needs from its process; injected so tests can run it in-process. */
export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  stdoutIsTTY: boolean;
  /** Overrides how a client is obtained (tests); defaults to `RolloutClient.connect` from `env`. */
  connect?: () => Promise<RolloutClient>;
  /** Poll interval of `watch` (ms). */
  watchIntervalMs?: number;
}

/** Thrown when arguments are well-formed for commander but not for us. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

const HELP_FOOTER = `
Rollout ids: "rollout-checkout" or just "checkout".
Connection: TEMPORAL_ADDRESS (default 127.0.0.1:7233), TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
  TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH, PHOENIX_CONNECT_TIMEOUT_MS.
Operator actions (pause, resume, abort, promote) wait for the rollout's answer: "accepted: <what was
  done> (state <state>)" and exit 0, or "refused: <reason>" on stderr and exit 5.
Exit codes: 0 ok/promoted/accepted, 1 rollout ended badly (--wait, watch), 2 invalid input/usage,
  3 server unreachable (or no worker answers), 4 not found, 5 refused, already finished or already running,
  6 internal error.`;

function outcomeCode(state: RolloutState): ExitCode {
  return state === 'promoted' ? ExitCode.Ok : ExitCode.RolloutEndedBadly;
}

/** Runs the CLI with user arguments (no `node` / script path) and returns the exit code. */
export async function runCli(args: string[], io: CliIO): Promise<number> {
  let code: number = ExitCode.Ok;
  let client: RolloutClient | undefined;
  const getClient = async (): Promise<RolloutClient> => {
    client ??= io.connect ? await io.connect() : await RolloutClient.connect(loadClientConfig(io.env));
    return client;
  };
  const operator = { by: `cli:${io.env.USER ?? io.env.LOGNAME ?? 'unknown'}` };
  const println = (line = ''): void => io.stdout(`${line}\n`);
  /** Runs an operator action and reports the rollout's answer; a refusal is exit 5, not an error. */
  const operate = async (act: () => Promise<OperatorAck>): Promise<void> => {
    try {
      const ack = await act();
      println(`accepted: ${ack.message} (state ${ack.state})`);
    } catch (err) {
      if (!isOperatorActionRefused(err)) throw err;
      io.stderr(`refused: ${err.reason.split('\n')[0]}\n`);
      code = ExitCode.Conflict;
    }
  };

  const program = new Command('phoenix')
    .description('Start, steer and watch canary rollouts')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: (text, write) => write(`phoenix: ${text.replace(/^error: /, '')}`) })
    .addHelpText('after', HELP_FOOTER)
    .showSuggestionAfterError(true);

  program
    .command('validate')
    .description('check a rollout spec file (YAML or JSON) without starting anything')
    .argument('<file>', 'spec file')
    .option(
      '--check-metrics <prometheus-url>',
      'also run each enabled metric query once for the stable version against this Prometheus; exit 2 if a non-optional one finds no series or fails',
    )
    .action(async (file: string, opts: { checkMetrics?: string }) => {
      const spec = await loadSpecFile(file);
      println(`${file}: valid (${spec.service}: ${spec.stable.version} → ${spec.canary.version})`);
      const url = opts.checkMetrics;
      if (url === undefined) return;
      if (!/^https?:\/\/[^/\s]+/.test(url)) throw new UsageError(`--check-metrics must be an http(s) URL, got ${JSON.stringify(url)}`);
      let check: MetricsCheck;
      try {
        check = await checkSpecMetrics(spec, url);
      } catch (err) {
        if (!(err instanceof Error && err.name === 'MetricsUnavailableError')) throw err;
        io.stderr(`phoenix: ${err.message}\n`);
        code = ExitCode.ServerUnreachable;
        return;
      }
      for (const problem of check.problems) println(formatPreflightProblem(problem));
      const optional = check.problems.length - check.failing.length;
      println(
        check.problems.length === 0
          ? `metrics: all ${check.checked} queries found series for ${spec.stable.version} at ${url}`
          : `metrics: ${check.problems.length} of ${check.checked} queries cannot work for ${spec.stable.version} at ${url}` +
              (optional > 0 ? ` (${optional} optional)` : ''),
      );
      code = check.failing.length > 0 ? ExitCode.InvalidInput : ExitCode.Ok;
    });

  program
    .command('start')
    .description(
      'start a rollout and print its id: of a catalog service (a request file, or --service and --canary; ' +
        'checked against PHOENIX_CATALOG_DIR), or from an inline spec file (the worker must allow inline targets)',
    )
    .argument('[file]', 'rollout request or inline spec file')
    .option('--service <name>', 'catalog service to roll out (instead of a file)')
    .option('--canary <version>', 'canary version (with --service)')
    .option('--stable <version>', "stable version (with --service; default: the catalog's)")
    .option('--wait', 'wait for the end; exit 0 when promoted, 1 otherwise')
    .option('--watch', 'show live progress until the end (implies --wait)')
    .option('--idempotency-key <key>', 'retrying with the same key never starts a second rollout')
    .action(async (file: string | undefined, opts: { service?: string; canary?: string; stable?: string; wait?: boolean; watch?: boolean; idempotencyKey?: string }) => {
      if (file !== undefined && opts.service !== undefined) throw new UsageError('give a file or --service, not both');
      if (file === undefined && (opts.service === undefined || opts.canary === undefined)) {
        throw new UsageError('give a request or spec file, or --service <name> --canary <version>');
      }
      const input = await loadStartInput(
        file !== undefined ? { file } : { service: opts.service!, canary: opts.canary!, stable: opts.stable },
        io.env,
      );
      const rollouts = await getClient();
      const startOptions = { idempotencyKey: opts.idempotencyKey };
      const started =
        input.kind === 'inline'
          ? await rollouts.start(input.spec, startOptions)
          : await rollouts.startFromCatalog(input.request, input.catalog, startOptions);
      println(started.rolloutId);
      if (opts.watch) {
        const final = await watchRollout(() => rollouts.status(started.rolloutId), {
          write: io.stdout,
          tty: io.stdoutIsTTY,
          intervalMs: io.watchIntervalMs,
        });
        code = outcomeCode(final.state);
      } else if (opts.wait) {
        const result = await rollouts.result(started.rolloutId);
        println(`${started.rolloutId}: ${result.outcome}${result.reason ? ` (${result.reason})` : ''}`);
        code = result.outcome === 'promoted' ? ExitCode.Ok : ExitCode.RolloutEndedBadly;
      }
    });

  program
    .command('status')
    .description('show the current status of a rollout')
    .argument('<id>', 'rollout id or service')
    .option('--json', 'print the status as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const rolloutId = normalizeRolloutId(id);
      const status: RolloutStatus = await (await getClient()).status(rolloutId);
      if (opts.json) println(JSON.stringify(status, null, 2));
      else for (const line of formatStatus(status)) println(line);
    });

  program
    .command('list')
    .description('list rollouts, newest first')
    .addOption(new Option('--state <state>', 'only rollouts in this state').choices(ROLLOUT_STATES))
    .option('--service <service>', 'only rollouts of this service')
    .option('--json', 'print the list as JSON')
    .action(async (opts: { state?: RolloutState; service?: string; json?: boolean }) => {
      const filter = { state: opts.state, service: opts.service };
      buildListQuery(filter); // rejects a bad filter before connecting
      const rows = await (await getClient()).list(filter);
      if (opts.json) println(JSON.stringify(rows, null, 2));
      else if (rows.length === 0) println('no rollouts');
      else for (const line of formatSummaryTable(rows)) println(line);
    });

  program
    .command('watch')
    .description('follow a rollout live until it ends; exit 0 when promoted, 1 otherwise')
    .argument('<id>', 'rollout id or service')
    .action(async (id: string) => {
      const rolloutId = normalizeRolloutId(id);
      const rollouts = await getClient();
      const final = await watchRollout(() => rollouts.status(rolloutId), {
        write: io.stdout,
        tty: io.stdoutIsTTY,
        intervalMs: io.watchIntervalMs,
      });
      code = outcomeCode(final.state);
    });

  for (const [name, description] of [
    ['pause', 'freeze the rollout where it is'],
    ['resume', 'continue a paused rollout'],
    ['promote', 'promote the canary now, skipping the remaining phases'],
  ] as const) {
    program
      .command(name)
      .description(description)
      .argument('<id>', 'rollout id or service')
      .option('--reason <text>', 'why (recorded in the rollout history)')
      .action(async (id: string, opts: { reason?: string }) => {
        const rolloutId = normalizeRolloutId(id);
        const rollouts = await getClient();
        const input = opts.reason === undefined ? operator : { ...operator, reason: opts.reason };
        await operate(() => rollouts[name](rolloutId, input));
      });
  }

  program
    .command('abort')
    .description('abort the rollout: traffic back to stable, canary terminated')
    .argument('<id>', 'rollout id or service')
    .requiredOption('--reason <text>', 'why (required)')
    .option('--force', 'drain a rollback that is stuck because stable is not serving (accepting the risk)')
    .action(async (id: string, opts: { reason: string; force?: boolean }) => {
      if (opts.reason.trim() === '') throw new UsageError('--reason must not be empty');
      const rolloutId = normalizeRolloutId(id);
      const rollouts = await getClient();
      await operate(() => rollouts.abort(rolloutId, opts.reason, operator.by, opts.force ? { force: true } : {}));
    });

  try {
    if (args.length === 0) {
      program.outputHelp({ error: true });
      return ExitCode.InvalidInput;
    }
    await program.parseAsync(args, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      const ok = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code);
      return ok ? ExitCode.Ok : ExitCode.InvalidInput;
    }
    const issues = issuesOf(err);
    if (issues) {
      for (const issue of issues) io.stderr(`${issue.path || '(root)'}: ${issue.message}\n`);
      return ExitCode.InvalidInput;
    }
    const exit = exitCodeFor(err);
    // Our own errors already say what happened; for anything else the root cause says most.
    const message = exit !== ExitCode.Internal && err instanceof Error ? err.message : describeCause(err);
    io.stderr(`phoenix: ${message.split('\n')[0]}\n`);
    return exit;
  } finally {
    await client?.close().catch(() => undefined);
  }
}

if (require.main === module) {
  runCli(process.argv.slice(2), {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    stdoutIsTTY: process.stdout.isTTY === true,
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`phoenix: ${describeCause(err)}\n`);
      process.exitCode = ExitCode.Internal;
    },
  );
}
