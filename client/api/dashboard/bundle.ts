/**
 * The dashboard's built files (dist/dashboard, made by dashboard/build.mjs), read once at start
 * and served from memory: the bundle is small, and a path outside the map can never be read.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';

/** Thrown when the API is asked to serve the dashboard and its bundle has not been built. */
export class DashboardBundleMissingError extends Error {
  override readonly name = 'DashboardBundleMissingError';
  constructor(readonly dir: string) {
    super(
      `the dashboard bundle is missing (no ${path.join(dir, 'index.html')}): build it with ` +
        '`node dashboard/build.mjs` (`npm run api` does this itself)',
    );
  }
}

/** Where the bundle is: dist/dashboard, found from the sources (client/api/dashboard) and from dist/client/api/dashboard. */
export function defaultDashboardDir(): string {
  const candidates = [path.resolve(__dirname, '../../../dist/dashboard'), path.resolve(__dirname, '../../../dashboard')];
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html'))) ?? (candidates[0] as string);
}

/** One file of the bundle as it is sent. */
export interface BundleFile {
  body: Buffer;
  contentType: string;
  /** Hashed asset names never change content, so they may be cached for good. */
  immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

/** Every file of the bundle by its path relative to `dir` (`index.html`, `assets/index-x.js`). */
export function loadBundle(dir: string): Map<string, BundleFile> {
  if (!existsSync(path.join(dir, 'index.html'))) throw new DashboardBundleMissingError(dir);
  const files = new Map<string, BundleFile>();
  const walk = (sub: string): void => {
    for (const name of readdirSync(path.join(dir, sub))) {
      if (name.startsWith('.')) continue;
      const rel = sub ? `${sub}/${name}` : name;
      const full = path.join(dir, rel);
      if (statSync(full).isDirectory()) walk(rel);
      else {
        files.set(rel, {
          body: readFileSync(full),
          contentType: TYPES[path.extname(name)] ?? 'application/octet-stream',
          immutable: rel.startsWith('assets/'),
        });
      }
    }
  };
  walk('');
  return files;
}
