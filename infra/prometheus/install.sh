#!/usr/bin/env bash
# Install Debian's `prometheus` package (prometheus and promtool) where promtool is
# absent, for the tests in tests/e2e/test_prometheus.py. Idempotent and quiet: prints
# nothing when promtool is already there, one line when it installed it, and apt's
# output only on failure.
#
#   bash infra/prometheus/install.sh
#
# Never starts a service: the tests run their own prometheus on a port and data
# directory of their own. While installing, a temporary policy-rc.d (exit 101) stops the
# package's maintainer scripts from starting the packaged unit on :9090, on hosts with
# systemd or sysvinit alike; it is removed again afterwards. Needs root (or sudo -n).
set -euo pipefail

command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && exit 0

die() { echo "infra/prometheus/install.sh: $*" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 \
  || die "no apt-get here: install Prometheus 2.x by hand so that promtool and prometheus are on PATH"

as_root=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null \
    || die "needs root to install the prometheus package (run it as root or with sudo)"
  as_root=(sudo -n)
fi

log="$(mktemp -t prometheus-install.XXXXXX)"
policy=/usr/sbin/policy-rc.d
own_policy=0
cleanup() {
  if [[ $own_policy -eq 1 ]]; then "${as_root[@]}" rm -f "$policy"; fi
  rm -f "$log"
}
trap cleanup EXIT
fail() { cat "$log" >&2; die "$*"; }

if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\n# infra/prometheus/install.sh: start no service while installing\nexit 101\n' \
    | "${as_root[@]}" tee "$policy" >/dev/null
  "${as_root[@]}" chmod 755 "$policy"
  own_policy=1
fi

apt=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
# `apt-get update` once, and only if the package lists do not know the package yet.
if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  "${apt[@]}" update >"$log" 2>&1 || fail "apt-get update failed"
fi
"${apt[@]}" install -y --no-install-recommends prometheus >>"$log" 2>&1 \
  || fail "apt-get install prometheus failed"

command -v promtool >/dev/null 2>&1 || fail "installed the prometheus package but promtool is not on PATH"
echo "installed $(promtool --version 2>&1 | head -n 1)"
