/**
 * What an API credential may do: a list of service globs and a list of actions. Every `/v1` route
 * needs one action on one service (or, for the list, `read` on the services it returns):
 *
 * | route | action |
 * | --- | --- |
 * | `GET /v1/rollouts`, `GET /v1/rollouts/:id` | `read` |
 * | `POST /v1/rollouts` | `start` (on the spec's `service`) |
 * | `POST /v1/rollouts/:id/{pause,resume,abort,promote}` | that action |
 * | `POST /v1/alertmanager` | `abort`, per alert, on the service the alert names |
 *
 * Service globs are picomatch globs over service names (`checkout`, `checkout-*`, `*` = all).
 */
import picomatch from 'picomatch';

/** Actions a credential can be granted. */
export const API_ACTIONS = ['read', 'start', 'pause', 'resume', 'abort', 'promote'] as const;
/** One grantable action. */
export type ApiAction = (typeof API_ACTIONS)[number];

/** Characters a service glob may contain: those of service names plus `* ? [ ] { } ,`. */
export const SERVICE_GLOB = /^[A-Za-z0-9._*?[\]{},-]{1,200}$/;
/** Human description of {@link SERVICE_GLOB} for error messages. */
export const SERVICE_GLOB_RULE = 'must be a service name or glob (letters, digits, ".", "_", "-" and * ? [ ] { } ,)';

/** Which services and actions a credential covers. */
export interface Scope {
  /** Globs over service names, as configured. */
  readonly services: readonly string[];
  /** The granted actions; `'*'` grants all of them. */
  readonly actions: readonly ApiAction[] | '*';
  /** True when `action` on `service` is granted. */
  allows(action: ApiAction, service: string): boolean;
  /** True when `action` is granted on at least one service glob. */
  grants(action: ApiAction): boolean;
}

/** Builds a scope; throws when a glob is not acceptable (config loading reports that per entry). */
export function compileScope(services: readonly string[], actions: readonly (ApiAction | '*')[] | '*'): Scope {
  for (const glob of services) {
    if (!SERVICE_GLOB.test(glob)) throw new Error(`service glob ${JSON.stringify(glob)} ${SERVICE_GLOB_RULE}`);
  }
  // `dot` so that `*` also covers a service whose name starts with a dot; names never contain `/`.
  const matchers = services.map((glob) => picomatch(glob, { dot: true }));
  const all = actions === '*' || actions.includes('*');
  const granted = new Set<ApiAction>(all ? API_ACTIONS : (actions as readonly ApiAction[]));
  return Object.freeze({
    services: Object.freeze([...services]),
    actions: all ? ('*' as const) : Object.freeze([...granted]),
    allows: (action: ApiAction, service: string) => granted.has(action) && matchers.some((m) => m(service)),
    grants: (action: ApiAction) => granted.has(action) && matchers.length > 0,
  });
}

/** Every action on every service: the scope of the admin credentials (legacy env variables). */
export const FULL_SCOPE: Scope = compileScope(['*'], '*');

/** Refusal of an action outside the caller's scope (403, path `(credentials)`). */
export class OutOfScopeError extends Error {
  override readonly name = 'OutOfScopeError';
  constructor(
    readonly principal: string,
    readonly action: ApiAction,
    /** The service acted on; undefined when the principal has the action on no service at all. */
    readonly service: string | undefined,
  ) {
    super(
      service === undefined
        ? `principal ${principal} may not ${action} any service`
        : `principal ${principal} may not ${action} service ${service}`,
    );
  }
}

/** Throws {@link OutOfScopeError} unless `scope` allows `action` on `service`. */
export function requireScope(principal: string, scope: Scope, action: ApiAction, service: string): void {
  if (!scope.allows(action, service)) throw new OutOfScopeError(principal, action, service);
}
