/**
 * How every Phoenix worker bundles the rollout workflows: the production worker, the prebuilt
 * bundle, the scale bench, the chaos run and the tests all build the same sandbox.
 */
import { bundleWorkflowCode, type BundleOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/** The workflow code's entry point. */
export const WORKFLOWS_PATH = require.resolve('../workflows');

/** The module that switches the sandbox's per-promise stack traces off (see sandbox-preload.ts). */
export const SANDBOX_PRELOAD_PATH = require.resolve('./sandbox-preload');

export interface WorkflowBundleSettings {
  /** Another checkout's workflows (the scale bench's `--workflows-ref`); default this one's. */
  readonly workflowsPath?: string;
  /** Keep the SDK's per-promise stack traces (slower; see sandbox-preload.ts). Default false. */
  readonly stackTraces?: boolean;
  /**
   * Evaluate the workflow modules once per worker thread instead of once per workflow (default
   * true). Safe because no module under workflows/ (or what it imports) keeps state at module
   * level: a rollout's state lives in its `Rollout`, created per workflow. The SDK freezes shared
   * modules, so a module-level write would throw rather than leak between rollouts.
   */
  readonly shareModules?: boolean;
  /** Where webpack's messages go; default nowhere (a worker passes its own logger). */
  readonly logger?: BundleOptions['logger'];
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

export function workflowBundleOptions(settings: WorkflowBundleSettings = {}): BundleOptions {
  const workflowsPath = settings.workflowsPath ?? WORKFLOWS_PATH;
  const preloadModules = [
    ...(settings.stackTraces ? [] : [SANDBOX_PRELOAD_PATH]),
    ...(settings.shareModules === false ? [] : [workflowsPath]),
  ];
  return {
    workflowsPath,
    preloadModules,
    logger: settings.logger ?? quietLogger,
  };
}

export function buildWorkflowBundle(settings: WorkflowBundleSettings = {}): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode(workflowBundleOptions(settings));
}
