#!/usr/bin/env bash
# Builds the .deb packages, installs them with dpkg on this machine, checks the binaries, the
# configs, the units and the Debian metadata, then removes and purges them (one at a time, and
# both at once) and checks what is left is what docs/install.md says. Needs root. Leaves the host
# as it found it: no packages, no /etc/vigil, no /var/lib/vigil, no vigil user or group (unless
# the user was there before).
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
if [ -e /etc/vigil ] || [ -e /var/lib/vigil ]; then
    echo "package test skipped: /etc/vigil or /var/lib/vigil exists here; not touching them"
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
for d in "$agent" "$analyzer"; do
    [ "$(dpkg-deb -f "$d" Description | wc -l)" -ge 3 ] || fail "$d: no extended description"
    dpkg-deb -f "$d" Maintainer | grep -q '^[^<>]* <[^<>]*@[^<>]*>$' || fail "$d: Maintainer"
done
if dpkg-deb -c "$analyzer" | grep '/usr/lib/vigil/libvigil-cuda.so$' >/dev/null; then
    dpkg-deb -f "$analyzer" Suggests | grep -q libcublas || fail "vigil-analyzer: no Suggests: cuBLAS"
fi

had_user=
getent passwd vigil >/dev/null && had_user=1
W=/etc/systemd/system/multi-user.target.wants
# What a purge keeps (docs/install.md, "Removing") goes too, so that the next run (and CI on
# this machine) starts from a clean host.
gpid='' apid=''
cleanup() {
    # A daemon left running (a failed check below) as vigil would keep deluser from removing it.
    for p in $gpid $apid; do kill "$p" 2>/dev/null || true; done
    for p in $gpid $apid; do wait "$p" 2>/dev/null || true; done
    dpkg -P vigil-agent vigil-analyzer >/dev/null 2>&1 || true
    rm -f /etc/vigil/api-token /etc/vigil/webhook-secret
    rmdir /etc/vigil 2>/dev/null || true
    if [ -z "$had_user" ]; then
        if getent passwd vigil >/dev/null; then deluser --system vigil >/dev/null 2>&1 || true; fi
        if getent group vigil >/dev/null; then delgroup --system vigil >/dev/null 2>&1 || true; fi
    fi
}
trap cleanup EXIT
dpkg -i "$agent" "$analyzer" >"$B/dpkg-install.log" 2>&1 || { cat "$B/dpkg-install.log"; fail "dpkg -i"; }
# Installed, not enabled: the shipped configs point at a placeholder Kafka.
for u in vigil-agent vigil-analyzer; do
    if [ -e "$W/$u.service" ] || [ -L "$W/$u.service" ]; then fail "$u enabled at install"; fi
done
# Debian's documents, and no build-host path in the installed GPU backend.
for p in vigil-agent vigil-analyzer; do
    grep -q '^Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' \
        "/usr/share/doc/$p/copyright" || fail "$p: no machine-readable copyright"
    zcat "/usr/share/doc/$p/changelog.gz" | head -1 | grep -q "^vigil ($ver) " ||
        fail "$p: changelog.gz has no entry for $ver"
done
if [ -e /usr/lib/vigil/libvigil-cuda.so ]; then
    readelf -d /usr/lib/vigil/libvigil-cuda.so | grep -q 'R.*PATH' && fail "libvigil-cuda.so has an RPATH/RUNPATH"
    echo "libvigil-cuda.so: $(ldd /usr/lib/vigil/libvigil-cuda.so | grep 'libcublas\.')"
fi
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
# docs/install.md's recipe for the secret files, as written there: never readable by others.
recipe=$(awk '/A token for the API/ {f = 1} f && /^```sh/ {b = 1; next} b && /^```/ {exit} b' docs/install.md)
[ -n "$recipe" ] || fail "no secret-file recipe in docs/install.md"
sh -ec "$recipe"
for f in api-token webhook-secret; do
    [ -s /etc/vigil/$f ] || fail "recipe: /etc/vigil/$f empty"
    [ "$(stat -c '%U:%G %a' /etc/vigil/$f)" = "root:vigil 640" ] || fail "recipe: /etc/vigil/$f mode"
done
# README's --once as root: a BTF cache left root's 0700 (as before this fix) goes to vigil.
install -d -m 0700 /var/lib/vigil/btf
/usr/bin/vigil-agent --config /etc/vigil/agent.yaml --once >/dev/null || fail "vigil-agent --once"
[ "$(stat -c %U /var/lib/vigil/btf)" = vigil ] || fail "--once as root left /var/lib/vigil/btf to $(stat -c %U /var/lib/vigil/btf)"
# What the admin does once the configs are right (docs/install.md, "Start"), then an upgrade
# (the same packages again) keeps the units enabled.
systemctl enable vigil-agent vigil-analyzer 2>/dev/null
dpkg -i "$agent" "$analyzer" >"$B/dpkg-upgrade.log" 2>&1 || { cat "$B/dpkg-upgrade.log"; fail "dpkg -i again"; }
for u in vigil-agent vigil-analyzer; do
    [ -L "$W/$u.service" ] || fail "$u: enabled by the admin, disabled by an upgrade"
done
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
# Port 0 rather than the default 9710, which another analyzer on this host may hold; vigilctl
# is pointed at the port the analyzer logs.
printf 'history:\n  resolution: 1s\nhttp:\n  listen: 127.0.0.1:0\n' >>"$T/analyzer.yaml"
an=$(cmd vigil-analyzer | sed "s|/etc/vigil/analyzer.yaml|$T/analyzer.yaml|")
rm -f /var/lib/vigil/bootstrap
sh -c "exec $an" >"$T/analyzer.log" 2>&1 &
apid=$!
for _ in $(seq 100); do [ -s /var/lib/vigil/bootstrap ] && break; sleep 0.1; done
[ -s /var/lib/vigil/bootstrap ] || { cat "$T/analyzer.log"; fail "embedded broker address not written"; }
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*http api listening.* port=\([0-9][0-9]*\).*/\1/p' "$T/analyzer.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$T/analyzer.log"; fail "the analyzer logged no API port"; }
export VIGIL_API=http://127.0.0.1:$port
ag=$(cmd vigil-agent | sed "s|--config /etc/vigil/agent.yaml|--config /etc/vigil/agent.yaml --set collectors=cpu,mem,load --set host=pkgtest --set interval=200ms|")
sh -c "exec $ag" >"$T/agent.log" 2>&1 &
gpid=$!
ok=
for _ in $(seq 150); do
    if /usr/bin/vigilctl top --once 2>/dev/null | grep -q '^pkgtest '; then ok=1; break; fi
    sleep 0.2
done
[ -n "$ok" ] || { cat "$T/analyzer.log" "$T/agent.log"; fail "vigilctl top never showed the agent's host"; }
/usr/bin/vigilctl status | tee "$T/status" | sed 's/^/  /'
grep -q "kafka embedded" "$T/status" || fail "vigilctl status: no embedded kafka"
grep -q "1 seen" "$T/status" || fail "vigilctl status: host not seen"
sleep 2 # two history points at 1 s resolution
/usr/bin/vigilctl report -o "$T/report.html" pkgtest || fail "vigilctl report"
grep -q "<svg " "$T/report.html" || fail "vigilctl report: no plot"
kill -TERM $gpid $apid
wait $gpid $apid || fail "daemons did not stop cleanly on SIGTERM"
gpid='' apid=''
rm -rf "$T"
# One package removed (rc), the other purged: the removed one's state stays (docs/install.md).
echo pkgtest >/var/lib/vigil/pkgtest-outbox
dpkg -r vigil-analyzer >/dev/null
[ -e /usr/bin/vigil-analyzer ] && fail "binary left after remove"
[ -L "$W/vigil-analyzer.service" ] && fail "remove left a dangling $W/vigil-analyzer.service"
[ -L "$W/vigil-agent.service" ] || fail "removing the analyzer disabled the agent"
[ -f /etc/vigil/analyzer.yaml ] || fail "remove must keep conffiles"
dpkg -P vigil-agent >/dev/null 2>"$B/purge-agent.log"
[ -e /usr/bin/vigil-agent ] && fail "binary left after purge"
[ -L "$W/vigil-agent.service" ] && fail "purge left $W/vigil-agent.service"
[ -e /etc/vigil/agent.yaml ] && fail "agent.yaml left after purge"
[ -f /var/lib/vigil/pkgtest-outbox ] || fail "purging vigil-agent removed /var/lib/vigil while vigil-analyzer was only removed"
[ -f /etc/vigil/analyzer.yaml ] || fail "purging vigil-agent removed the removed analyzer's config"
dpkg -P vigil-analyzer >/dev/null 2>"$B/purge-analyzer.log"
purged() {
    [ -e /var/lib/vigil ] && fail "/var/lib/vigil left after purge"
    # Only the admin's secret files are left in /etc/vigil, as they were, and the purge named them.
    [ "$(ls -A /etc/vigil | tr '\n' ' ')" = "api-token webhook-secret " ] ||
        fail "/etc/vigil after purge: $(ls -A /etc/vigil)"
    for f in api-token webhook-secret; do
        [ "$(stat -c '%U:%G %a' /etc/vigil/$f)" = "root:vigil 640" ] || fail "purge changed /etc/vigil/$f"
    done
    grep -q "kept /etc/vigil: .*api-token webhook-secret" "$1" || fail "purge did not name the files it kept"
    # The user and group stay, so their id is not handed to the next system group.
    getent passwd vigil >/dev/null || fail "purge removed the vigil user"
    getent group vigil >/dev/null || fail "purge removed the vigil group"
    ls /etc/systemd/system/*.wants/vigil-* 2>/dev/null && fail "unit links left after purge"
    [ -z "$(find /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
        -name '*vigil*' 2>/dev/null)" ] || fail "deb-systemd-helper state left after purge"
    return 0
}
purged "$B/purge-analyzer.log"
# Again, with the user and the secrets already there: installed, enabled, both purged at once.
dpkg -i "$agent" "$analyzer" >"$B/dpkg-install.log" 2>&1 || { cat "$B/dpkg-install.log"; fail "dpkg -i over a kept user"; }
systemctl enable vigil-agent vigil-analyzer 2>/dev/null
dpkg -P vigil-agent vigil-analyzer >/dev/null 2>"$B/purge-both.log"
purged "$B/purge-both.log"
sed 's/^/  /' "$B/purge-both.log"
cleanup
trap - EXIT
getent passwd vigil >/dev/null && [ -z "$had_user" ] && fail "could not remove the test's vigil user"
echo "package test passed: built, installed, checked, removed and purged cleanly"
