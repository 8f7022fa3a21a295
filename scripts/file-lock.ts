/**
 * An exclusive lock file (O_EXCL create) around work that two processes must not do at once, such
 * as building or installing a cached tool. A lock whose owner pid is dead is stale and taken
 * over, so a killed run never blocks later ones.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `fn` holding `lockFile`; `onWait` is told once (with the owner's pid, or `?`) when it has to wait. */
export async function withLock<T>(lockFile: string, onWait: (owner: string) => void, fn: () => Promise<T>): Promise<T> {
  await fs.mkdir(path.dirname(lockFile), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const handle = await fs.open(lockFile, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await fs.readFile(lockFile, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        await fs.rm(lockFile, { force: true });
        continue;
      }
      if (!announced) {
        onWait(Number.isNaN(owner) ? '?' : String(owner));
        announced = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { force: true });
  }
}
