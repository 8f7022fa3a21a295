/** A worker environment holding the secrets a real worker holds, for tests of what children may see. */
export const WORKER_ENV_WITH_SECRETS = {
  PATH: process.env.PATH ?? '/usr/bin:/bin',
  HOME: '/home/phoenix-test',
  LANG: 'C.UTF-8',
  TZ: 'Europe/Berlin',
  PHOENIX_API_HMAC_SECRET: 's3cret-hmac-for-tests',
  SOME_WEBHOOK_SECRET: 's3cret-webhook-for-tests',
  TEMPORAL_API_KEY: 's3cret-temporal-key',
  PHOENIX_PASSED: 'passed-through',
} as const;
