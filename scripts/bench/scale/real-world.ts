/** `--activities real`: placeholder until the real I/O world is built. */
import type { ScaleWorld } from './world';

/** Starts the real I/O world for `n` services. */
export async function realWorld(_dir: string, _n: number, _progress: (line: string) => void): Promise<ScaleWorld> {
  throw new Error('--activities real is not built yet');
}
