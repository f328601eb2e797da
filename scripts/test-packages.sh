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
/usr/bin/vigilctl version
# vigilctl finds the daemons beside it in /usr/bin, not through PATH.
for k in analyzer agent; do
    PATH=/nonexistent /usr/bin/vigilctl config check $k /etc/vigil/$k.yaml >"$B/config-check-$k" ||
        fail "vigilctl config check $k"
    grep -q '^# config OK' "$B/config-check-$k" || fail "vigilctl config check $k: no 'config OK'"
done
for m in man8/vigil-agent.8.gz man8/vigil-analyzer.8.gz man1/vigilctl.1.gz; do
    [ -s "/usr/share/man/$m" ] || fail "no man page $m"
done
[ -s /usr/share/doc/vigil-analyzer/examples/prometheus/vigil-alerts.yml ] ||
    fail "no Prometheus rules for Vigil's own health"
# The rule examples analyzer.yaml points to load as they are.
/usr/bin/vigilctl rules check /usr/share/doc/vigil-analyzer/examples/rules >/dev/null ||
    fail "vigilctl rules check of the shipped rule examples"
getent passwd vigil >/dev/null || fail "no vigil user"
[ -d /var/lib/vigil ] || fail "no /var/lib/vigil"
dpkg-query -W -f='${Conffiles}\n' vigil-agent | grep -q /etc/vigil/agent.yaml || fail "agent.yaml is not a conffile"
for u in vigil-agent vigil-analyzer; do
    systemd-analyze verify "/lib/systemd/system/$u.service" || fail "systemd-analyze verify $u"
    exposure=$(systemd-analyze security --offline=yes "/lib/systemd/system/$u.service" 2>/dev/null | tail -1)
    echo "$u: systemd-analyze security: $exposure"
done
# docs/install.md, embedded broker: the drop-ins' command lines, then what vigilctl shows.
# (systemd itself is not running here: the daemons are started the way the units would.)
drop=/usr/share/doc/vigil-analyzer/examples/embedded-kafka
cmd() { sed -n 's/^ExecStart=\(.\+\)$/\1/p' "$drop/$1.conf" | tail -1; }
T=$(mktemp -d)
cp /etc/vigil/analyzer.yaml "$T/analyzer.yaml"
printf 'history:\n  resolution: 1s\n' >>"$T/analyzer.yaml"
an=$(cmd vigil-analyzer | sed "s|/etc/vigil/analyzer.yaml|$T/analyzer.yaml|")
rm -f /var/lib/vigil/bootstrap
sh -c "exec $an" >"$T/analyzer.log" 2>&1 &
apid=$!
for _ in $(seq 100); do [ -s /var/lib/vigil/bootstrap ] && break; sleep 0.1; done
[ -s /var/lib/vigil/bootstrap ] || { cat "$T/analyzer.log"; fail "embedded broker address not written"; }
ag=$(cmd vigil-agent | sed "s|--config /etc/vigil/agent.yaml|--config /etc/vigil/agent.yaml --set collectors=cpu,mem,load --set host=pkgtest --set interval=200ms|")
sh -c "exec $ag" >"$T/agent.log" 2>&1 &
gpid=$!
ok=
for _ in $(seq 150); do
    if /usr/bin/vigilctl top --once 2>/dev/null | grep -q '^pkgtest '; then ok=1; break; fi
    sleep 0.2
done
[ -n "$ok" ] || { cat "$T/analyzer.log" "$T/agent.log"; kill $gpid $apid; fail "vigilctl top never showed the agent's host"; }
/usr/bin/vigilctl status | tee "$T/status" | sed 's/^/  /'
grep -q "kafka embedded" "$T/status" || fail "vigilctl status: no embedded kafka"
grep -q "1 seen" "$T/status" || fail "vigilctl status: host not seen"
sleep 2 # two history points at 1 s resolution
/usr/bin/vigilctl report -o "$T/report.html" pkgtest || fail "vigilctl report"
grep -q "<svg " "$T/report.html" || fail "vigilctl report: no plot"
kill -TERM $gpid $apid
wait $gpid $apid || fail "daemons did not stop cleanly on SIGTERM"
rm -rf "$T"
dpkg -r vigil-agent vigil-analyzer >/dev/null
[ -e /usr/bin/vigil-agent ] && fail "binary left after remove"
[ -f /etc/vigil/agent.yaml ] || fail "remove must keep conffiles"
dpkg -P vigil-agent vigil-analyzer >/dev/null
[ -e /etc/vigil ] && fail "/etc/vigil left after purge"
[ -e /var/lib/vigil ] && fail "/var/lib/vigil left after purge"
getent passwd vigil >/dev/null && fail "vigil user left after purge"
trap - EXIT
echo "package test passed: built, installed, checked, removed and purged cleanly"
