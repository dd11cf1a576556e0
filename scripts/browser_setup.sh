#!/usr/bin/env bash
# Set-up for the real-browser test of the panels (tests/browser): Chromium and Playwright for Python.
#
#   source scripts/browser_setup.sh && browser_setup "$VENV"    (from .ci/run, after the main set-up)
#   bash scripts/browser_setup.sh .venv                          (by hand)
#
# Installs Debian's Chromium with apt when `chromium` is missing and apt-get is usable (as root,
# or with password-less sudo), and `pip install playwright` into the venv given as $1 (the test
# drives the system Chromium: no `playwright install` download). Quiet; it never fails the caller
# (it returns 0 in every case, also under `set -euo pipefail`): when something is missing it prints
# one line saying the browser test will be skipped, and `pytest tests/browser --run-browser` then
# skips with the reason.

browser_setup() {
  local venv=${1:-${METALEARN_VENV:-.venv}} py sudo="" why=""
  py="$venv/bin/python"
  _browser_setup_log() { printf '\033[1m[metalearn-edu]\033[0m %s\n' "$*" >&2; }

  if ! command -v chromium >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then sudo="sudo -n"; else why="no root for apt-get"; fi
      fi
      if [ -z "$why" ]; then
        if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium; } >/dev/null 2>&1; then
          why="apt-get install chromium failed"
        fi
      fi
    else
      why="chromium is missing and apt-get is not available"
    fi
    if [ -z "$why" ] && ! command -v chromium >/dev/null 2>&1; then why="chromium not on PATH after apt-get"; fi
  fi

  if [ -z "$why" ]; then
    if [ ! -x "$py" ]; then
      why="no Python at $py"
    elif ! "$py" -c "import playwright.sync_api" >/dev/null 2>&1 \
         && ! "$py" -m pip install -q --disable-pip-version-check playwright >/dev/null 2>&1; then
      why="pip install playwright failed"
    fi
  fi

  if [ -n "$why" ]; then
    _browser_setup_log "browser test will be skipped: $why"
  else
    _browser_setup_log "browser test ready: $(chromium --version 2>/dev/null | head -n 1), playwright $("$py" -c 'from importlib.metadata import version; print(version("playwright"))' 2>/dev/null)"
  fi
  unset -f _browser_setup_log
  return 0
}

# Run directly (not sourced): do it, and exit 0 whatever happened.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  browser_setup "$@" || true
  exit 0
fi
