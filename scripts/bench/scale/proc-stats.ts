/**
 * RSS and CPU of a process, sampled from /proc/<pid>/stat and /proc/<pid>/status every second:
 * peak and last RSS, CPU over the whole window and the busiest 10 s (100% = one core).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

/** What {@link ProcSampler.summary} reports. */
export interface ProcSummary {
  pid: number;
  peakRssMiB: number;
  endRssMiB: number;
  /** CPU over the sampled window, percent of one core. */
  cpuPercent: number;
  /** CPU over the busiest 10 s of the window, percent of one core. */
  peakCpuPercent10s: number;
  samples: number;
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100; // Linux's USER_HZ everywhere we run
    }
  }
  return clockTicks;
}

interface Sample {
  at: number;
  cpuTicks: number;
  rssKiB: number;
}

function read(pid: number): Sample | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15)
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    return { at: Date.now(), cpuTicks, rssKiB };
  } catch {
    return null; // the process is gone
  }
}

/** Samples one process every `everyMs` until {@link stop}. */
export class ProcSampler {
  private readonly samples: Sample[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    everyMs = 1_000,
  ) {
    this.take();
    this.timer = setInterval(() => this.take(), everyMs);
    this.timer.unref();
  }

  private take(): void {
    const s = read(this.pid);
    if (s) this.samples.push(s);
  }

  /** Latest RSS in MiB, or null before the first sample. */
  currentRssMiB(): number | null {
    const last = this.samples.at(-1);
    return last ? last.rssKiB / 1024 : null;
  }

  /** Takes a last sample and stops sampling. */
  stop(): void {
    this.take();
    clearInterval(this.timer);
  }

  summary(): ProcSummary {
    const s = this.samples;
    const hz = ticksPerSecond();
    const first = s[0];
    const last = s.at(-1);
    const pct = (a: Sample, b: Sample): number => (b.at > a.at ? (((b.cpuTicks - a.cpuTicks) / hz) * 1000 * 100) / (b.at - a.at) : 0);
    let peak = 0;
    for (let i = 0, j = 0; j < s.length; j++) {
      while ((s[j] as Sample).at - (s[i] as Sample).at > 10_000) i++;
      if ((s[j] as Sample).at - (s[i] as Sample).at >= 5_000) peak = Math.max(peak, pct(s[i] as Sample, s[j] as Sample));
    }
    const round = (v: number): number => Math.round(v * 10) / 10;
    return {
      pid: this.pid,
      peakRssMiB: round(Math.max(0, ...s.map((x) => x.rssKiB)) / 1024),
      endRssMiB: round((last?.rssKiB ?? 0) / 1024),
      cpuPercent: first && last ? round(pct(first, last)) : 0,
      peakCpuPercent10s: round(peak),
      samples: s.length,
    };
  }
}
