/**
 * `resolveRollout`: the first activity of every rollout. It turns a catalog request into the spec
 * the rollout runs with, reading the worker's catalog (PHOENIX_CATALOG_DIR) afresh so that an
 * edit applies to the next rollout, never to a running one (the workflow keeps what this
 * returned). Inline specs pass only on a worker started with inline targets allowed.
 */
import type { Logger } from 'pino';
import { CatalogError, emptyCatalog, loadCatalog, type Catalog } from '../catalog/catalog';
import { resolveRequest } from '../catalog/resolve';
import { CatalogUnavailableError, InlineTargetsNotAllowedError, RolloutRequestRejectedError, toApplicationFailure } from './errors';
import type { ResolvedRollout, ResolveRolloutInput } from './types';

/** Who decides where targets come from: whoever runs the worker. */
export interface TargetPolicy {
  /** Directory of catalog YAML files; `undefined` = no catalog (every request is refused). */
  catalogDir?: string;
  /** Whether rollouts may name their own targets (inline specs): development and demos only. */
  allowInlineTargets: boolean;
}

function currentCatalog(dir: string | undefined): Catalog {
  if (dir === undefined) return emptyCatalog();
  try {
    return loadCatalog(dir);
  } catch (err) {
    if (err instanceof CatalogError) throw new CatalogUnavailableError(err.message);
    throw err;
  }
}

/** Builds the activity for `policy`. */
export function createResolveRollout(policy: TargetPolicy, logger: Logger): (input: ResolveRolloutInput) => Promise<ResolvedRollout> {
  return async (input) => {
    const log = logger.child({ rolloutId: input.rolloutId, activity: 'resolveRollout' });
    try {
      if ('spec' in input) {
        if (!policy.allowInlineTargets) throw new InlineTargetsNotAllowedError();
        log.info('inline targets allowed on this worker; using the spec as given');
        return { spec: input.spec, source: { kind: 'inline' } };
      }
      const result = resolveRequest(currentCatalog(policy.catalogDir), input.request);
      if (!result.ok) throw new RolloutRequestRejectedError(result.issues);
      log.info({ targets: result.source }, 'rollout resolved from the catalog');
      return result;
    } catch (err) {
      log.warn({ err }, 'rollout cannot be resolved');
      throw toApplicationFailure(err);
    }
  };
}
