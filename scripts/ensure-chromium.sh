#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (npm run test:browser): installs the
# `chromium` package with apt-get when /usr/bin/chromium is missing. When it cannot be installed, it
# fails with apt-get's error: the browser tests never skip for want of a browser.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: $CHROMIUM is missing and there is no apt-get to install it; install Chromium so that $CHROMIUM exists" >&2
  exit 1
fi
run_as_root=()
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM is missing; installing it needs root (apt-get install chromium) and sudo is not available" >&2
    exit 1
  fi
  run_as_root=(sudo -n)
fi
echo "ensure-chromium: installing Debian's chromium package (a few minutes)" >&2
export DEBIAN_FRONTEND=noninteractive
"${run_as_root[@]}" apt-get update -q >&2
"${run_as_root[@]}" apt-get install -y -q --no-install-recommends chromium >&2
if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: apt-get installed chromium but $CHROMIUM is not there" >&2
  exit 1
fi
"$CHROMIUM" --version >&2
