// @ts-check
/**
 * The dashboard's bundle: built into dist/dashboard (git-ignored with the rest of dist/) and served
 * by the API process under /dashboard/. `base` makes every asset URL absolute under that prefix,
 * so deep links (/dashboard/rollouts/<id>) load the same files.
 */
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/dashboard/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    // The API serves it to 127.0.0.1 by default; no CDN, no legacy browsers to care for.
    target: 'es2022',
    sourcemap: true,
  },
});
