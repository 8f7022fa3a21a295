/**
 * The spec's two targets: how canary traffic weight is set (`traffic`: HAProxy runtime API or a
 * signed webhook) and how the canary is deployed, checked, promoted and terminated (`platform`:
 * local processes, external commands or a signed webhook). Sandbox-safe: zod only.
 */
import { z } from 'zod';
import { argv, durationField, envName, httpUrl, port, strict } from './fields';
import { gatewayApiTraffic, kubernetesPlatform } from './kubernetes-targets';

// ---------------------------------------------------------------------------------------------
// Traffic
// ---------------------------------------------------------------------------------------------

const haproxyName = (description: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9._:-]+$/, 'must be an HAProxy name (letters, digits, ".", "_", ":", "-")')
    .describe(description);

const runtimeApiAddress = z
  .string()
  .refine(
    (value) => {
      if (value.startsWith('/')) return value.length > 1;
      const m = /^(?:\[([0-9A-Fa-f:]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(value);
      const portNumber = Number(m?.[3]);
      return m !== null && portNumber >= 1 && portNumber <= 65535;
    },
    { message: 'must be "host:port" or an absolute unix socket path' },
  )
  .describe('HAProxy runtime API address: `host:port` or an absolute unix socket path.');

/**
 * A pool of servers: the names, or a prefix that selects every server of the backend whose name
 * starts with it (what HAProxy users write as `server-template web- 3 ...`).
 */
const serverPool = (slot: 'stable' | 'canary') =>
  z
    .union([
      z
        .array(haproxyName(`A ${slot} server.`))
        .min(1, 'must name at least one server')
        .refine((names) => new Set(names).size === names.length, { message: 'must not name a server twice' }),
      strict({ prefix: haproxyName(`Prefix of the ${slot} servers' names.`).min(1) }),
    ])
    .optional()
    .describe(
      `The ${slot} pool: a list of server names, or \`{prefix}\` for every server of the backend whose name ` +
        `starts with it. The router gives the pool as a whole its share, split evenly over its usable servers.`,
    );

const haproxyTraffic = strict({
  kind: z.literal('haproxy').describe('Selects this variant.'),
  runtimeApi: runtimeApiAddress,
  backend: haproxyName('Backend holding the stable and canary servers.'),
  stableServer: haproxyName('Server (in the backend) running the stable version (one server; or `stableServers`).').optional(),
  canaryServer: haproxyName('Server (in the backend) running the canary version (one server; or `canaryServers`).').optional(),
  stableServers: serverPool('stable'),
  canaryServers: serverPool('canary'),
  baselineServer: haproxyName(
    'Server (in the backend) for a fresh baseline instance of the stable version (`judge.freshBaseline`); the operator ' +
      'configures it in HAProxy at weight 0 and Phoenix gives it weight only while a baseline runs. Single servers only.',
  ).optional(),
})
  .superRefine((value, ctx) => {
    for (const slot of ['stable', 'canary'] as const) {
      const one = value[`${slot}Server`];
      const pool = value[`${slot}Servers`];
      if (one === undefined && pool === undefined) {
        ctx.addIssue({ code: 'custom', path: [`${slot}Server`], message: `name the ${slot} server (${slot}Server) or pool (${slot}Servers)` });
      } else if (one !== undefined && pool !== undefined) {
        ctx.addIssue({ code: 'custom', path: [`${slot}Servers`], message: `give either ${slot}Server or ${slot}Servers, not both` });
      }
    }
    const members = (slot: 'stable' | 'canary'): { names: string[]; prefix?: string } => {
      const one = value[`${slot}Server`];
      const pool = value[`${slot}Servers`];
      if (one !== undefined) return { names: [one] };
      if (Array.isArray(pool)) return { names: pool };
      return { names: [], prefix: pool?.prefix };
    };
    const stable = members('stable');
    const canary = members('canary');
    if (value.baselineServer !== undefined) {
      if (value.stableServer === undefined || value.canaryServer === undefined) {
        ctx.addIssue({ code: 'custom', path: ['baselineServer'], message: 'is supported with stableServer and canaryServer (single servers), not with pools' });
      } else if (value.baselineServer === value.stableServer || value.baselineServer === value.canaryServer) {
        ctx.addIssue({ code: 'custom', path: ['baselineServer'], message: 'must differ from stableServer and canaryServer' });
      }
    }
    const shared = stable.names.filter((n) => canary.names.includes(n));
    if (shared.length > 0) {
      const single = value.canaryServer !== undefined && value.stableServer !== undefined;
      const field = value.canaryServer !== undefined ? 'canaryServer' : 'canaryServers';
      const message = single ? 'must differ from stableServer' : `must differ from the stable servers (both name ${shared.join(', ')})`;
      ctx.addIssue({ code: 'custom', path: [field], message });
    }
    // A server matched by both pools would count for both: prefixes must not select the same names.
    const overlaps = (a: { names: string[]; prefix?: string }, b: { names: string[]; prefix?: string }): boolean =>
      (a.prefix !== undefined && (b.names.some((n) => n.startsWith(a.prefix as string)) || (b.prefix !== undefined && (b.prefix.startsWith(a.prefix) || a.prefix.startsWith(b.prefix)))));
    if (overlaps(stable, canary) || overlaps(canary, stable)) {
      ctx.addIssue({ code: 'custom', path: ['canaryServers'], message: 'the stable and canary pools select the same server names' });
    }
  })
  .describe(
    'Split traffic by setting HAProxy server weights through its runtime API: one stable and one canary ' +
      'server, or pools of each (per-server weights computed so the canary pool gets its share; servers ' +
      'that are DOWN or in maintenance are left out).',
  );

const webhookTraffic = strict({
  kind: z.literal('webhook').describe('Selects this variant.'),
  url: httpUrl('Endpoint receiving signed `{service, weight}` POSTs.'),
  secretEnv: envName,
}).describe('Split traffic by POSTing the desired canary weight to a signed webhook.');

/** `traffic`: how the canary weight is set. */
export const trafficSchema = z
  .discriminatedUnion('kind', [haproxyTraffic, webhookTraffic, gatewayApiTraffic])
  .describe('How canary traffic weight is set. Required.');

// ---------------------------------------------------------------------------------------------
// Platform
// ---------------------------------------------------------------------------------------------

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Worker environment variables a platform's child processes get when the spec names none. The
 * platforms apply it (a spec without `passEnv`, e.g. from an older workflow history, gets the same).
 */
export const DEFAULT_PASS_ENV: readonly string[] = Object.freeze(['PATH', 'HOME', 'LANG', 'TZ']);

const passEnv = z
  .array(z.string().regex(ENV_NAME, 'must be an environment variable name (letters, digits, "_")'))
  .optional()
  .meta({ default: [...DEFAULT_PASS_ENV] })
  .describe(
    'Names of the worker environment variables the started processes get (those set in the worker). ' +
      'Nothing else of the worker environment reaches them (it holds secrets: HMAC keys, webhook ' +
      'secrets, the Temporal API key); `env` adds explicit values.',
  );

const explicitEnv = (description: string) =>
  z.record(z.string().regex(ENV_NAME, 'must be an environment variable name'), z.string()).optional().describe(description);

/**
 * A command line whose arguments may carry `{{name}}` placeholders, only the given ones: anything
 * else in double braces would reach the command verbatim (or fail at run time), so it is refused.
 */
const templatedArgv = (description: string, placeholders: readonly string[]) =>
  argv(description).superRefine((args, ctx) => {
    for (const [i, arg] of args.entries()) {
      for (const m of arg.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)) {
        if (!placeholders.includes(m[1] as string)) {
          ctx.addIssue({
            code: 'custom',
            path: [i],
            message: `unknown placeholder "{{${m[1]}}}"; valid placeholders: ${placeholders.map((p) => `{{${p}}}`).join(', ')}`,
          });
        }
      }
    }
  });

/** What the command platform substitutes in its command lines (activities/platform/command-platform.ts). */
const COMMAND_PLACEHOLDERS = ['service', 'version', 'canaryVersion', 'stableVersion', 'rolloutId'] as const;

const processPlatform = strict({
  kind: z.literal('process').describe('Selects this variant.'),
  command: templatedArgv('Command line starting one instance; `{{version}}` and `{{port}}` are substituted.', ['version', 'port']),
  cwd: z.string().min(1).optional().describe('Working directory of the instances.'),
  env: explicitEnv('Extra environment variables of the instances (they win over `passEnv`).'),
  passEnv,
  stablePort: port('Port of the stable instance (the first of the stable pool with `replicas`).'),
  canaryPort: port('Port of the canary instance (the first of the canary pool with `replicas`).'),
  baselinePort: port(
    'Port of a fresh baseline instance of the stable version (`judge.freshBaseline`), reserved by the operator; one instance per version only.',
  ).optional(),
  replicas: z
    .union([
      z.number().int('must be a whole number').min(1, 'must be at least 1').max(64, 'must be at most 64'),
      strict({
        stable: z.number().int('must be a whole number').min(1, 'must be at least 1').max(64, 'must be at most 64'),
        canary: z.number().int('must be a whole number').min(1, 'must be at least 1').max(64, 'must be at most 64'),
      }),
    ])
    .default(1)
    .transform((r) => (typeof r === 'number' ? { stable: r, canary: r } : r))
    .describe(
      'Instances per version: a number for both, or `{stable, canary}`. Instance i of a pool listens on ' +
        '`stablePort + i` / `canaryPort + i`; the two port ranges must not overlap.',
    ),
  canaryScale: z
    .enum(['full', 'weight'])
    .default('full')
    .describe(
      '`full`: deploy the whole canary pool at once. `weight`: start one canary instance and add ' +
        'instances as the canary weight grows, ceil(replicas.stable × weight / 100) of them (at least ' +
        '1, at most replicas.canary), as Argo Rollouts\' setCanaryScale matchTrafficWeight does, so a 5% ' +
        'canary does not cost a full pool. Instances leave traffic before they are stopped.',
    ),
  healthPath: z
    .string()
    .regex(/^\//, 'must start with "/"')
    .default('/healthz')
    .describe('Path polled for health on the canary.'),
  stateDir: z
    .string()
    .min(1)
    .default('.stack/platform')
    .describe('Directory where process ids are kept so a restarted worker finds them.'),
})
  .superRefine((value, ctx) => {
    if (value.stablePort === value.canaryPort) {
      ctx.addIssue({ code: 'custom', path: ['canaryPort'], message: 'must differ from stablePort' });
      return;
    }
    const { stable, canary } = value.replicas;
    const stableEnd = value.stablePort + stable - 1;
    const canaryEnd = value.canaryPort + canary - 1;
    if (stableEnd > 65535) ctx.addIssue({ code: 'custom', path: ['replicas'], message: `the stable pool would need ports up to ${stableEnd}` });
    if (canaryEnd > 65535) ctx.addIssue({ code: 'custom', path: ['replicas'], message: `the canary pool would need ports up to ${canaryEnd}` });
    if (value.stablePort <= canaryEnd && value.canaryPort <= stableEnd) {
      ctx.addIssue({
        code: 'custom',
        path: ['canaryPort'],
        message: `the canary ports ${value.canaryPort}-${canaryEnd} overlap the stable ports ${value.stablePort}-${stableEnd}`,
      });
    }
    const b = value.baselinePort;
    if (b !== undefined && ((b >= value.stablePort && b <= stableEnd) || (b >= value.canaryPort && b <= canaryEnd))) {
      ctx.addIssue({ code: 'custom', path: ['baselinePort'], message: `must not be one of the stable (${value.stablePort}-${stableEnd}) or canary (${value.canaryPort}-${canaryEnd}) ports` });
    }
  })
  .describe('Run stable and canary as local processes (development and demos).');

const commandPlatform = strict({
  kind: z.literal('command').describe('Selects this variant.'),
  deploy: templatedArgv('Command that starts (or confirms running) the canary.', COMMAND_PLACEHOLDERS),
  healthCheck: templatedArgv('Command that exits 0 when the canary is healthy.', COMMAND_PLACEHOLDERS),
  promote: templatedArgv('Command that makes the canary the new stable.', COMMAND_PLACEHOLDERS),
  terminate: templatedArgv('Command that stops the canary.', COMMAND_PLACEHOLDERS),
  timeout: durationField('Timeout of each command.').prefault('5m'),
  env: explicitEnv('Extra environment variables of the commands (they win over `passEnv`).'),
  passEnv,
})
  .transform(({ timeout, ...rest }) => ({ ...rest, timeoutMs: timeout }))
  .describe('Run external commands for each platform operation.');

const webhookPlatform = strict({
  kind: z.literal('webhook').describe('Selects this variant.'),
  url: httpUrl('Endpoint receiving signed `{action, service, version}` POSTs.'),
  secretEnv: envName,
}).describe('Call a signed webhook for each platform operation.');

/** `platform`: how the canary is deployed, health-checked, promoted and terminated. */
export const platformSchema = z
  .discriminatedUnion('kind', [processPlatform, commandPlatform, webhookPlatform, kubernetesPlatform])
  .describe('How the canary is deployed, health-checked, promoted and terminated. Required.');
