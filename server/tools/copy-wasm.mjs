// Copies tfjs-backend-wasm's binaries into public/ so the app serves them
// itself (setWasmPaths('/tfjs-wasm/')): nothing is fetched from a CDN.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
const dest = join(root, 'public', 'tfjs-wasm');
if (!existsSync(src)) {
  console.error(`copy-wasm: ${src} is missing; run npm install first`);
  process.exit(1);
}
mkdirSync(dest, { recursive: true });
const files = readdirSync(src).filter((f) => f.endsWith('.wasm'));
for (const f of files) copyFileSync(join(src, f), join(dest, f));
console.log(`copy-wasm: ${files.length} files -> public/tfjs-wasm/`);
