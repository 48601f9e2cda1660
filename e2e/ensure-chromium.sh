#!/usr/bin/env bash
# Makes sure a Chromium for the e2e tests exists: $CHROMIUM_PATH, else Debian's
# /usr/bin/chromium, installed with apt when missing and possible. Playwright
# never downloads a browser here.
set -euo pipefail
path="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$path" ]; then
  echo "chromium: $path ($("$path" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if [ -n "${CHROMIUM_PATH:-}" ]; then
  echo "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file." >&2
  exit 1
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  echo "chromium: not found, installing Debian's chromium with apt-get…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
  echo "chromium: installed ($(/usr/bin/chromium --version))"
  exit 0
fi
cat >&2 <<'MSG'
The e2e tests need Chromium and none was found at /usr/bin/chromium.
Install it, then run npm test again:
  Debian/Ubuntu:  sudo apt-get install -y chromium
  elsewhere:      point CHROMIUM_PATH at a Chromium or Chrome binary, e.g.
                  CHROMIUM_PATH=/usr/bin/google-chrome npm test
MSG
exit 1
