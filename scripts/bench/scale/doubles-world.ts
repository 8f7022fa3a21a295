/**
 * `--activities doubles`: nothing to start besides the worker, whose activity doubles record each
 * analysis and weight change to a file the bench reads at the end.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ScaleCall } from './doubles';
import type { TimedEvent } from './lateness';
import type { ScaleWorld, WorkerStart } from './world';
import { startWorkerProcess } from './worker-process';

const FIXTURE = path.join(__dirname, 'doubles-worker.ts');

/** The doubles world for one N, recording into `dir`. */
export function doublesWorld(dir: string): ScaleWorld {
  const callsFile = path.join(dir, 'calls.jsonl');
  return {
    mode: 'doubles',
    targets: { runtimeApi: '127.0.0.1:1', prometheusUrl: 'http://127.0.0.1:9' },
    startWorker: (w: WorkerStart) =>
      startWorkerProcess(
        FIXTURE,
        { TEMPORAL_ADDRESS: w.temporalAddress, SDK_METRICS_ADDR: w.sdkMetricsAddress, WORKFLOW_BUNDLE: w.bundlePath, CALLS_FILE: callsFile },
        (stdout) => stdout.includes('worker ready'),
      ),
    recordedEvents(): Map<string, TimedEvent[]> {
      const byRollout = new Map<string, TimedEvent[]>();
      if (!fs.existsSync(callsFile)) return byRollout;
      for (const line of fs.readFileSync(callsFile, 'utf8').split('\n')) {
        if (!line) continue;
        const c = JSON.parse(line) as ScaleCall;
        const list = byRollout.get(c.r) ?? [];
        list.push({ a: c.a, t: c.t });
        byRollout.set(c.r, list);
      }
      return byRollout;
    },
    stop: async () => undefined,
  };
}
