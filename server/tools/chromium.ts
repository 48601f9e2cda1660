// Launching Debian's Chromium for the swarm, the browser bench and e2e tests.
// Never downloads a browser: CHROMIUM_PATH or /usr/bin/chromium.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--enable-unsafe-webgpu',
  // Without these Chromium's own background connections are refused in bulk on a closed network.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
