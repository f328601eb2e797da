#!/usr/bin/env bash
# Vigil demo: an embedded Kafka broker, the real agent on this host, the analyzer and a local
# webhook receiver. After the detectors warm up, CPU-burning processes creates a real anomaly on
# this host; you see the alert arrive at the receiver, then its resolution.
#   scripts/demo.sh            ends by itself (about 90 s)
#   scripts/demo.sh --forever  keeps everything running until Ctrl-C
set -euo pipefail
cd "$(dirname "$0")/.."
forever=0
case "${1:-}" in
--forever) forever=1 ;;
"") ;;
-h | --help)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: $0 [--forever]" >&2
    exit 2
    ;;
esac

scripts/setup.sh
echo "building..."
BUILD_DIR=build scripts/build.sh
B=build
D=$(mktemp -d /tmp/vigil-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now_ms() { date +%s%3N; }
# The polling below starts no process (bash builtins only): the agent counts this host's forks
# (cpu.forks_ps), and a demo that forked five times a second while it waited, and not while the
# CPU burned, raised alerts about itself that then did not resolve.
mkfifo "$D/tick"
exec {tick_fd}<>"$D/tick"
pause() { read -r -t "$1" -u "$tick_fd" || true; }
count() { # file pattern -> N: lines of file that contain pattern
    local line
    N=0
    [ -f "$1" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        [[ $line == *"$2"* ]] && N=$((N + 1))
    done <"$1"
    return 0
}
wait_for() { # file pattern timeout_s
    local end=$((EPOCHSECONDS + $3))
    while count "$1" "$2" && [ "$N" -eq 0 ]; do
        [ "$EPOCHSECONDS" -lt $end ] || return 1
        pause 0.2
    done
}

start=$(now_ms)
echo "logs and data in $D"
"$B/tests/receiver/vigil-test-receiver" --port 0 --port-file "$D/receiver.port" \
    --out "$D/received.jsonl" --print &
pids+=($!)
wait_for "$D/receiver.port" "" 10 || { echo "receiver did not start" >&2; exit 1; }
port=$(cat "$D/receiver.port")
echo "webhook receiver listening on http://127.0.0.1:$port/alerts"

# user= : run as root, the analyzer (like the agent below) would become the packaged 'vigil' user
# where the host has it, which cannot write $D.
"$B/analyzer/vigil-analyzer" --embedded-kafka --bootstrap-file "$D/bootstrap" --set user= \
    --set webhook.url="http://127.0.0.1:$port/alerts" --set stats_interval=15s \
    --set alert.series='cpu.*' --set http.listen=127.0.0.1:0 \
    >"$D/analyzer.out" 2>"$D/analyzer.log" &
pids+=($!)
analyzer=$!
wait_for "$D/bootstrap" "" 15 || { cat "$D/analyzer.log" >&2; exit 1; }
bs=$(head -1 "$D/bootstrap")
echo "embedded Kafka broker at $bs  (watch the stream: kcat -b $bs -t vigil.metrics -C)"
wait_for "$D/analyzer.log" 'http api listening' 10 || { cat "$D/analyzer.log" >&2; exit 1; }
api=$(sed -n 's/.*msg="http api listening".* port=\([0-9]*\).*/\1/p' "$D/analyzer.log" | head -1)
echo "analyzer API at http://127.0.0.1:$api  (try: curl -s 127.0.0.1:$api/metrics | grep vigil_)"

# user= : the agent stays root (with its capabilities dropped) instead of becoming the packaged
# 'vigil' user, which a development machine may not have (docs/security.md).
"$B/agent/vigil-agent" --set bootstrap_servers="$bs" --set interval=1s --set user= \
    --set spool.dir="$D/spool" --set bpf.btf_cache="$D/btf" 2>"$D/agent.log" &
pids+=($!)
echo "agent collecting this host's metrics every second; analyzer warming up (20 s)..."
echo "(the demo alerts on the cpu.* series only, so that whatever else this machine is doing"
echo " does not add alerts of its own; the analyzer's default is every series)"
if ! wait_for "$D/analyzer.log" "host warmed up" 60; then
    kill -0 "$analyzer" 2>/dev/null && echo "the analyzer did not warm up within 60 s" >&2 ||
        echo "the analyzer exited" >&2
    tail "$D/analyzer.log" "$D/agent.log" >&2
    exit 1
fi

# How busy the CPU was before the anomaly (from /proc/stat, builtins only): on a machine already
# near 100 %, burning it more is no anomaly, and the demo says so rather than wait in silence.
cpu_sample() { # -> BUSY TOTAL jiffies since boot
    local cpu user nice sys idle iowait irq softirq steal rest
    read -r cpu user nice sys idle iowait irq softirq steal rest </proc/stat
    BUSY=$((user + nice + sys + irq + softirq + steal))
    TOTAL=$((BUSY + idle + iowait))
}
cpu_sample
b0=$BUSY tot0=$TOTAL
pause 2
cpu_sample
busy_pct=$(((BUSY - b0) * 100 / (TOTAL - tot0 > 0 ? TOTAL - tot0 : 1)))
echo
echo "CPU busy before the anomaly: $busy_pct %"
if [ "$busy_pct" -ge 70 ]; then
    echo "(this machine is already busy: burning the rest of its CPU may not stand out as an anomaly)"
fi
ncpu=$(nproc)
echo ">>> injecting an anomaly: $ncpu CPU-burning processes (one per core) for 20 s"
t0=$(now_ms)
burners=()
for _ in $(seq "$ncpu"); do
    timeout 20 sh -c 'while :; do :; done' &
    burners+=($!)
    pids+=($!)
done
# The alert: the analyzer's (its User-Agent) firing on a cpu.* series, received after the burn
# began. Anything else a user POSTs to the receiver meanwhile is not it.
first_alert() { # file after_ms -> T1: recv_ms of the first such line, or empty
    local line re='^\{"recv_ms":([0-9]+),.*"user-agent":"vigil/.*"status":"firing".*"series":"cpu\.'
    T1=
    [ -f "$1" ] || return 0
    while IFS= read -r line || [ -n "$line" ]; do
        if [[ $line =~ $re ]] && [ "${BASH_REMATCH[1]}" -ge "$2" ]; then
            T1=${BASH_REMATCH[1]}
            return 0
        fi
    done <"$1"
}
end=$((EPOCHSECONDS + 60))
while first_alert "$D/received.jsonl" "$t0" && [ -z "$T1" ]; do
    if [ "$EPOCHSECONDS" -ge $end ]; then
        echo "no cpu alert arrived within 60 s of the anomaly's start (CPU busy before it: $busy_pct %)" >&2
        tail "$D/analyzer.log" >&2
        if [ "$busy_pct" -ge 70 ]; then
            echo "the machine was already busy, so the burn did not stand out: run the demo again when it is idle" >&2
        fi
        exit 1
    fi
    pause 0.2
done
t1=$T1
for b in "${burners[@]}"; do wait "$b" 2>/dev/null || true; done
echo ">>> anomaly over; waiting for the resolution"
# Resolved once every alert that fired has resolved.
resolved=0
end=$((EPOCHSECONDS + 60))
while [ "$EPOCHSECONDS" -lt $end ]; do
    count "$D/received.jsonl" '"status":"firing"'
    nf=$N
    count "$D/received.jsonl" '"status":"resolved"'
    nr=$N
    if [ "$nr" -ge "$nf" ]; then
        resolved=1
        break
    fi
    pause 0.2
done
t2=$(now_ms)

echo
echo "==== demo summary"
echo "alerts received by the webhook: $(grep -c '"status":"firing"' "$D/received.jsonl") firing, $(grep -c '"status":"resolved"' "$D/received.jsonl") resolved"
echo "time from anomaly start to webhook delivery: $((t1 - t0)) ms"
echo "first alert arrived $(( (t1 - start) / 1000 )) s after the demo started"
if [ $resolved -eq 1 ]; then
    echo "all alerts resolved $(((t2 - t0) / 1000)) s after the anomaly started"
else
    echo "some alerts had not resolved 60 s after the anomaly ended"
fi
echo "everything the receiver got: $D/received.jsonl; daemon logs: $D/*.log"

if [ $forever -eq 1 ]; then
    echo "running until Ctrl-C (try: kcat -b $bs -t vigil.metrics -C -o -1 -c 1,"
    echo "  or: $B/analyzer/vigilctl/vigilctl status --api http://127.0.0.1:$api)"
    wait
else
    echo "next: scripts/demo.sh --forever keeps it all running, to try vigilctl status/top against it;"
    echo "      docs/install.md sets Vigil up on a fleet"
fi
[ $resolved -eq 1 ]
