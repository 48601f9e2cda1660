/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./web'),
  publicDir: here('./public'),
  plugins: [react()],
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    chunkSizeWarningLimit: 4096,
    rollupOptions: { input: { main: here('./web/index.html'), bench: here('./web/bench.html') } },
  },
  server: {
    proxy: { '/socket.io': { target: 'http://localhost:3000', ws: true }, '/api': 'http://localhost:3000' },
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
