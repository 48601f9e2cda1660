/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** Base models are served by the server's registry from public/models/ (server/models/): no second copy in dist/. */
const modelsStayOutOfDist: Plugin = {
  name: 'tabfed-models-stay-out-of-dist',
  apply: 'build',
  closeBundle() {
    rmSync(here('./dist/models'), { recursive: true, force: true });
  },
};

export default defineConfig({
  root: here('./web'),
  publicDir: here('./public'),
  plugins: [react(), modelsStayOutOfDist],
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
    rollupOptions: { input: { main: here('./web/index.html'), bench: here('./web/bench.html') } },
  },
  server: {
    proxy: { '/socket.io': { target: 'http://localhost:3000', ws: true }, '/api': 'http://localhost:3000', '/models': 'http://localhost:3000' },
  },
  test: {
    root: here('.'),
    include: ['web/**/*.test.ts', 'server/**/*.test.ts'],
    setupFiles: [here('./web/src/platform/test-setup.ts')],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
