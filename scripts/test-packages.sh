#!/usr/bin/env bash
# Builds the .deb packages, installs them with dpkg on this machine, checks the binaries, the
# configs and the units, then removes and purges them and checks nothing is left. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}
if [ "$(id -u)" -ne 0 ]; then
    echo "package test skipped: needs root to install packages (run as root or in CI)"
    exit 0
fi
if dpkg-query -W vigil-agent vigil-analyzer >/dev/null 2>&1; then
    echo "package test skipped: vigil packages are already installed here; not touching them"
    exit 0
fi
BUILD_DIR=$B scripts/build.sh
rm -f "$B"/vigil-*.deb
(cd "$B" && cpack -G DEB >cpack.log 2>&1) || { cat "$B/cpack.log"; exit 1; }
ver=$(sed -n 's/^project(vigil VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
agent=$B/vigil-agent_${ver}_amd64.deb
analyzer=$B/vigil-analyzer_${ver}_amd64.deb
ls "$agent" "$analyzer" >/dev/null
fail() { echo "package test FAILED: $*"; exit 1; }
dpkg-deb -f "$agent" Depends | grep -qi cuda && fail "vigil-agent depends on CUDA"
echo "vigil-agent depends on: $(dpkg-deb -f "$agent" Depends)"

cleanup() { dpkg -P vigil-agent vigil-analyzer >/dev/null 2>&1 || true; }
trap cleanup EXIT
dpkg -i "$agent" "$analyzer" >"$B/dpkg-install.log" 2>&1 || { cat "$B/dpkg-install.log"; fail "dpkg -i"; }
/usr/bin/vigil-agent --version
/usr/bin/vigil-analyzer --version
/usr/bin/vigil-agent --config /etc/vigil/agent.yaml --check-config >/dev/null || fail "agent --check-config"
/usr/bin/vigil-analyzer --config /etc/vigil/analyzer.yaml --check-config >/dev/null || fail "analyzer --check-config"
getent passwd vigil >/dev/null || fail "no vigil user"
[ -d /var/lib/vigil ] || fail "no /var/lib/vigil"
dpkg-query -W -f='${Conffiles}\n' vigil-agent | grep -q /etc/vigil/agent.yaml || fail "agent.yaml is not a conffile"
for u in vigil-agent vigil-analyzer; do
    systemd-analyze verify "/lib/systemd/system/$u.service" || fail "systemd-analyze verify $u"
    exposure=$(systemd-analyze security --offline=yes "/lib/systemd/system/$u.service" 2>/dev/null | tail -1)
    echo "$u: systemd-analyze security: $exposure"
done
dpkg -r vigil-agent vigil-analyzer >/dev/null
[ -e /usr/bin/vigil-agent ] && fail "binary left after remove"
[ -f /etc/vigil/agent.yaml ] || fail "remove must keep conffiles"
dpkg -P vigil-agent vigil-analyzer >/dev/null
[ -e /etc/vigil ] && fail "/etc/vigil left after purge"
[ -e /var/lib/vigil ] && fail "/var/lib/vigil left after purge"
getent passwd vigil >/dev/null && fail "vigil user left after purge"
trap - EXIT
echo "package test passed: built, installed, checked, removed and purged cleanly"
