#!/usr/bin/env bash
# Install Debian's `chromium` where it is absent, for the browser tests in tests/browser/
# (Playwright for Python drives the system browser by path: Playwright's own browser
# download is not available here). Idempotent: does nothing but print the browser's path
# when `chromium` is already on PATH; apt's output is shown only on failure.
#
#   bash infra/browser/install.sh     # prints e.g. /usr/bin/chromium
#
# Needs root (or sudo -n) when it has to install.
set -euo pipefail

if path="$(command -v chromium 2>/dev/null)"; then
  echo "$path"
  exit 0
fi

die() { echo "infra/browser/install.sh: $*" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 \
  || die "no apt-get here: install Chromium by hand so that \`chromium\` is on PATH"

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
    || die "needs root to install the chromium package (run it as root or with sudo)"
  as_root=(sudo -n)
fi

log="$(mktemp -t chromium-install.XXXXXX)"
trap 'rm -f "$log"' EXIT
fail() { cat "$log" >&2; die "$*"; }

apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
# `apt-get update` once, and only if the package lists do not know the package yet.
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  "${apt[@]}" update >"$log" 2>&1 || fail "apt-get update failed"
fi
"${apt[@]}" install -y --no-install-recommends chromium >>"$log" 2>&1 \
  || fail "apt-get install chromium failed"

path="$(command -v chromium 2>/dev/null)" || fail "installed the chromium package but chromium is not on PATH"
echo "$path"
