#!/usr/bin/env bash
# Make sure Debian's chromium is installed for the browser tests (make test calls this).
# As root it apt-installs chromium (and chromium-driver) when missing; otherwise it only
# says what is missing, and the browser tests skip with that reason. Playwright drives this
# system browser; it never downloads one of its own.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-chromium: /usr/bin/chromium is missing and this is not root;" \
       "the browser tests will be skipped (sudo apt-get install chromium chromium-driver)" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: no apt-get here; the browser tests will be skipped" >&2
  exit 0
fi
echo "ensure-chromium: installing chromium with apt-get (once)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium chromium-driver >/dev/null
/usr/bin/chromium --version
