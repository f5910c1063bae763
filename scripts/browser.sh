#!/bin/sh
# Make sure Debian's Chromium is there for the browser tests (tests/browser/); idempotent and quiet.
# Playwright drives this system browser (never `playwright install`).
#   scripts/browser.sh          install chromium with apt-get when /usr/bin/chromium is missing
# Exit status: 0 when Chromium is ready, 1 when it could not be installed.
set -eu
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "browser.sh: $CHROMIUM is missing and I am not root; run: apt-get install chromium" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; then
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || true
fi
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
echo "browser.sh: could not install chromium with apt-get; browser tests will fail" >&2
exit 1
