import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { buildReport } from './build-report';

/**
 * The Forge web UI: Preact + TypeScript, bundled by Vite into web/dist, which `forge server`
 * serves at /. Build from the project root: `npm run build:web`. For development, run a Forge
 * server on :3000 and `npx vite --config web/vite.config.ts`; API calls are proxied to it.
 */
const root = fileURLToPath(new URL('.', import.meta.url));
const target = process.env.FORGE_DEV_SERVER ?? 'http://127.0.0.1:3000';

export default defineConfig({
  root,
  base: '/',
  publicDir: false,
  plugins: [buildReport()],
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
    sourcemap: false,
    assetsInlineLimit: 0,
  },
  server: {
    proxy: { '/api': { target, changeOrigin: false }, '/admin': { target }, '/metrics': { target } },
  },
});
