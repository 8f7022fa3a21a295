/** The run's view of its rollouts: status once a second, the faulty canaries' errors, the results. */
import type { Client } from '@temporalio/client';
import type { RolloutClient } from '../../client/rollouts';
import { ChaosDeadlineError, sleep, type Tracked } from './common';
import { injectErrors } from './services';

/** Polls every rollout once a second; injects the faulty canaries' errors; collects results. */
export async function monitorRollouts(ctx: {
  tracked: Tracked[];
  rollouts: RolloutClient;
  raw: Client;
  workerEnv: NodeJS.ProcessEnv;
  log: (line: string) => void;
  sinceT0: () => number;
  allDone: () => boolean;
  deadline: number;
}): Promise<void> {
  while (!ctx.allDone()) {
    if (Date.now() > ctx.deadline) {
      const open = ctx.tracked.filter((t) => !t.result).map((t) => `${t.service.name} (${t.last?.state ?? '?'} at ${t.last?.weight ?? '?'}%)`);
      throw new ChaosDeadlineError(`hard deadline passed with rollouts still open: ${open.join(', ')}`);
    }
    await Promise.all(
      ctx.tracked
        .filter((t) => t.rolloutId && !t.result)
        .map(async (t) => {
          const description = await ctx.raw.workflow.getHandle(t.rolloutId).describe().catch(() => undefined);
          if (description && description.status.name !== 'RUNNING') {
            t.result = await ctx.rollouts.result(t.rolloutId).catch(() => undefined);
            if (t.result) ctx.log(`chaos: ${ctx.sinceT0().toFixed(1)} s  ${t.rolloutId} ended ${t.result.outcome}: ${t.result.reason}`);
            return;
          }
          const status = await ctx.rollouts.status(t.rolloutId).catch(() => undefined);
          if (!status) return;
          t.last = status;
          const analysedAt = status.lastAnalysisAt ? Date.parse(status.lastAnalysisAt) : NaN;
          if (Number.isFinite(analysedAt) && analysedAt !== t.analyses[t.analyses.length - 1]) t.analyses.push(analysedAt);
          const at = t.service.faultAtWeight;
          if (at !== undefined && t.faultInjectedAtWeight === undefined && status.state === 'progressing' && status.weight >= at) {
            await injectErrors(t.service.canaryPort, 0.5, ctx.workerEnv).then(
              () => {
                t.faultInjectedAtWeight = status.weight;
                t.faultInjectedAt = Date.now();
                ctx.log(`chaos: ${ctx.sinceT0().toFixed(1)} s  ${t.service.name}: canary answers 50% 5xx from now (at ${status.weight}%)`);
              },
              (err: unknown) => ctx.log(`chaos: fault injection on ${t.service.name} failed, retrying: ${(err as Error).message}`),
            );
          }
        }),
    );
    await sleep(1_000);
  }
}
