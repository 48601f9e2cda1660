import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './server/tools/chromium.ts';

const PORT = Number(process.env.E2E_PORT ?? 3123);

export default defineConfig({
  testDir: './e2e',
  // The tests share one federation server and the machine's two cores: one at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 8 * 60_000,
  expect: { timeout: 30_000 },
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${PORT}`,
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
    trace: 'off',
  },
  webServer: {
    command: 'npx tsx server/main.ts',
    url: `http://127.0.0.1:${PORT}/api/status`,
    // TABFED_MODELS_DIR (optional) points the server at other base models than public/models/;
    // bases the tests add go to their own cache, not the one `npm start` lists.
    env: {
      PORT: String(PORT),
      TABFED_MODELS_DIR: process.env.TABFED_MODELS_DIR ?? '',
      TABFED_MODELS_CACHE: '.cache/e2e-models',
      TABFED_CONFIG: JSON.stringify({ base: 'random', preset: 'tiny', autoStart: false }),
    },
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
    stdout: 'pipe',
  },
});
