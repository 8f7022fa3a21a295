/**
 * Runs once inside the worker's workflow sandbox, before any workflow exists (the bundler's
 * `preloadModules`); the sandbox's globals are frozen right after it.
 *
 * Why: the SDK keeps a stack trace for every promise a workflow creates (for the `__stack_trace`
 * query the Temporal UI shows), and with 10 frames, each source-mapped, that was a third of the
 * worker's CPU per workflow task (docs/scaling.md). With a limit of 0 the capture is empty and
 * cheap. The cost: workflow-side errors carry no stack (their messages still say what failed;
 * activity errors keep theirs, they are thrown outside the sandbox) and the UI's stack-trace tab
 * is empty. `PHOENIX_WORKFLOW_STACK_TRACES=true` bundles without this module.
 */
Error.stackTraceLimit = 0;

export {};
