// `npm start` serves the built app (dist/) and the federation on PORT (3000);
// `npm run dev` (--dev) serves the pages through vite's middleware instead.
// TABFED_CONFIG='{"preset":"tiny","rounds":5}' overrides the default config.
// Base models: the shipped ones in public/models/<id>/ (TABFED_MODELS_DIR
// overrides), plus those added from the coordinator page (kept in .cache/models/;
// TABFED_MODELS_CACHE overrides).
import { existsSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RequestHandler } from 'express';
import { RANDOM_BASE } from '../web/src/protocol/base.ts';
import { DEFAULT_CONFIG, mergeConfig, type FederationConfig } from '../web/src/protocol/config.ts';
import { createApplication, DEFAULT_MODELS, type AppOptions } from './app.ts';
import { ModelRegistry } from './models/registry.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');

function fail(message: string): never {
  console.error(`tabfed: ${message}`);
  process.exit(1);
}

function configFromEnv(models: ModelRegistry): FederationConfig {
  const raw = process.env.TABFED_CONFIG;
  let patch: Record<string, unknown> = {};
  if (raw?.trim()) {
    try {
      patch = JSON.parse(raw);
    } catch (e) {
      fail(`TABFED_CONFIG is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (patch && typeof patch === 'object' && !('base' in patch) && !models.get(DEFAULT_CONFIG.base)) {
    // A checkout without the shipped base still starts, over the random one, and says why.
    console.warn(
      `tabfed: WARNING: the default base model "${DEFAULT_CONFIG.base}" is not among the base models (${models.problems.length ? 'see above' : 'none found'}) ` +
        `(run \`npm run pretrain\` to make it); federating over the seeded random base instead`,
    );
    patch = { ...patch, base: RANDOM_BASE };
  }
  try {
    return mergeConfig(DEFAULT_CONFIG, patch, models);
  } catch (e) {
    fail(`TABFED_CONFIG: ${(e as Error).message}`);
  }
}

function portFromEnv(): number {
  const port = Number(process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be an integer in 0..65535, got "${process.env.PORT}"`);
  return port;
}

/** Where the pages come from: dist/, or vite in middleware mode with its HMR socket on our server. */
async function pages(httpServer: HttpServer, dev: boolean): Promise<{ opts: AppOptions; close(): Promise<void> }> {
  if (!dev) {
    if (!existsSync(join(DIST, 'index.html'))) fail(`${join(DIST, 'index.html')} is missing: run \`npm run build\` first (or \`npm run dev\`)`);
    return { opts: { staticDir: DIST }, close: async () => undefined };
  }
  const { createServer: createVite } = await import('vite');
  const vite = await createVite({
    configFile: join(ROOT, 'vite.config.ts'),
    server: { middlewareMode: true, ws: { server: httpServer } },
    appType: 'spa',
  });
  return { opts: { pages: vite.middlewares as unknown as RequestHandler }, close: () => vite.close() };
}

async function main(): Promise<void> {
  const dev = process.argv.includes('--dev');
  const models = ModelRegistry.open({
    dir: process.env.TABFED_MODELS_DIR?.trim() || DEFAULT_MODELS.dir,
    cacheDir: process.env.TABFED_MODELS_CACHE?.trim() || DEFAULT_MODELS.cacheDir,
  });
  for (const p of models.problems) console.warn(`tabfed: base models: ${p}`);
  const config = configFromEnv(models);
  const port = portFromEnv();
  const httpServer = createServer();
  const site = await pages(httpServer, dev);
  const app = createApplication(httpServer, { ...site.opts, config, models });
  httpServer.on('error', (e) => fail(`cannot listen on port ${port}: ${e.message}`));
  httpServer.listen(port, () => {
    const { port: actual } = httpServer.address() as { port: number };
    console.log(`tabfed${dev ? ' (dev)' : ''}: http://localhost:${actual}/  (coordinator: http://localhost:${actual}/coordinator)`);
    const base = app.coordinator.status().base;
    console.log(`tabfed: base ${base.id} (${base.label}), ${config.rounds} rounds, ${config.numShards} shards, min ${config.minClients} clients`);
    console.log(`tabfed: base models: ${['random', ...models.list().map((b) => b.id)].join(', ')}`);
  });
  const stop = async () => {
    await Promise.allSettled([app.close(), site.close()]);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

await main();
