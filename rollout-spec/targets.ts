/**
 * The spec's two targets: how canary traffic weight is set (`traffic`: HAProxy runtime API or a
 * signed webhook) and how the canary is deployed, checked, promoted and terminated (`platform`:
 * local processes, external commands or a signed webhook). Sandbox-safe: zod only.
 */
import { z } from 'zod';
import { argv, durationField, envName, httpUrl, port, strict } from './fields';

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

const haproxyTraffic = strict({
  kind: z.literal('haproxy').describe('Selects this variant.'),
  runtimeApi: runtimeApiAddress,
  backend: haproxyName('Backend holding the stable and canary servers.'),
  stableServer: haproxyName('Server (in the backend) running the stable version.'),
  canaryServer: haproxyName('Server (in the backend) running the canary version.'),
})
  .superRefine((value, ctx) => {
    if (value.stableServer === value.canaryServer) {
      ctx.addIssue({ code: 'custom', path: ['canaryServer'], message: 'must differ from stableServer' });
    }
  })
  .describe('Split traffic by setting HAProxy server weights through its runtime API.');

const webhookTraffic = strict({
  kind: z.literal('webhook').describe('Selects this variant.'),
  url: httpUrl('Endpoint receiving signed `{service, weight}` POSTs.'),
  secretEnv: envName,
}).describe('Split traffic by POSTing the desired canary weight to a signed webhook.');

/** `traffic`: how the canary weight is set. */
export const trafficSchema = z
  .discriminatedUnion('kind', [haproxyTraffic, webhookTraffic])
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

const processPlatform = strict({
  kind: z.literal('process').describe('Selects this variant.'),
  command: argv('Command line starting one instance; `{{version}}` and `{{port}}` are substituted.').superRefine(
    (args, ctx) => {
      for (const [i, arg] of args.entries()) {
        for (const m of arg.matchAll(/\{\{\s*([^{}]*?)\s*\}\}/g)) {
          if (m[1] !== 'version' && m[1] !== 'port') {
            ctx.addIssue({
              code: 'custom',
              path: [i],
              message: `unknown placeholder "{{${m[1]}}}"; valid placeholders: {{version}}, {{port}}`,
            });
          }
        }
      }
    },
  ),
  cwd: z.string().min(1).optional().describe('Working directory of the instances.'),
  env: explicitEnv('Extra environment variables of the instances (they win over `passEnv`).'),
  passEnv,
  stablePort: port('Port of the stable instance.'),
  canaryPort: port('Port of the canary instance.'),
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
    }
  })
  .describe('Run stable and canary as local processes (development and demos).');

const commandPlatform = strict({
  kind: z.literal('command').describe('Selects this variant.'),
  deploy: argv('Command that starts (or confirms running) the canary.'),
  healthCheck: argv('Command that exits 0 when the canary is healthy.'),
  promote: argv('Command that makes the canary the new stable.'),
  terminate: argv('Command that stops the canary.'),
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
  .discriminatedUnion('kind', [processPlatform, commandPlatform, webhookPlatform])
  .describe('How the canary is deployed, health-checked, promoted and terminated. Required.');
