/* The eBPF collectors' descriptions and metric tables, built in every configuration. */
#include <errno.h>

#include "bpf_impl.h"
#include "vg_bpf.h"
#include "vg_util.h"

/* Every eBPF collector reports the events its programs missed (vg_bpf_emit_misses). */
#define MISSED(prefix)                                                                             \
    {                                                                                              \
        prefix ".missed_ps", "events/s", VG_METRIC_RATE,                                           \
            "Events this collector's programs did not see: the kernel skips a program's run when " \
            "the "                                                                                 \
            "program is already running on that CPU (an event in an interrupt that arrives while " \
            "it "                                                                                  \
            "handles another). Non-zero means the other metrics of the collector undercount. "     \
            "From the "                                                                            \
            "programs' recursion_misses; absent on kernels that do not report it (before 5.12)."   \
    }

static const struct vg_metric_desc runqlat_metrics[] = {
    {"bpf.runqlat.p50_us", "us", VG_METRIC_GAUGE,
     "Median time a task waited in a CPU run queue (after a wakeup, or preempted while "
     "runnable) before it ran, over the waits that ended during the tick; absent when none did."},
    {"bpf.runqlat.p99_us", "us", VG_METRIC_GAUGE,
     "99th percentile of the same waits (within 12.5%: a histogram with 8 buckets per power "
     "of two)."},
    {"bpf.runqlat.max_us", "us", VG_METRIC_GAUGE, "Longest of the same waits."},
    {"bpf.runqlat.count_ps", "waits/s", VG_METRIC_RATE,
     "Waits that ended (a task got a CPU after waiting for one)."},
    {"bpf.runqlat.cg.<cgroup>.p99_us", "us", VG_METRIC_GAUGE,
     "99th percentile wait of the tasks of one cgroup, for the 10 cgroups with the most waits in "
     "the tick. <cgroup> is the cgroup's path below the cgroup v2 root with '/' written '.', "
     "other characters outside [A-Za-z0-9_.:-] written '_', and the root cgroup written root."},
    {"bpf.runqlat.cg_evicted_ps", "evictions/s", VG_METRIC_RATE,
     "Cgroup histograms the kernel evicted from its full map: more cgroups that still exist had "
     "waits than the 1024 it is sized to hold (docs/ebpf.md, LRU map sizes). The histograms of "
     "removed cgroups are deleted by the agent and not counted. The map evicts first the "
     "histograms no wait added to lately, so an eviction loses only the waits its cgroup had "
     "since the previous tick, often none. Histograms created minus those present and those "
     "deleted; sent only where cgroups can be named."},
    MISSED("bpf.runqlat"),
};

static const struct vg_metric_desc biolat_metrics[] = {
    {"bpf.biolat.<dev>.p50_us", "us", VG_METRIC_GAUGE,
     "Median time block requests to the device took from issue to the driver until completion, "
     "over the requests completed during the tick; absent when none were."},
    {"bpf.biolat.<dev>.p99_us", "us", VG_METRIC_GAUGE, "99th percentile of the same times."},
    {"bpf.biolat.<dev>.count_ps", "requests/s", VG_METRIC_RATE,
     "Block requests completed (a device stays listed for 300 ticks after its last one: 5 "
     "minutes at the default interval; its name is read again every 10 ticks, since device "
     "numbers are reused). Devices that would take the message past its size limit are left "
     "out, the highest device numbers first (docs/wire-format.md)."},
    {"bpf.biolat.untimed_ps", "requests/s", VG_METRIC_RATE,
     "Block requests with data that completed without a recorded issue time, so they are in no "
     "device's count_ps or percentiles: more requests were in flight than the 16384 the kernel's "
     "map is sized to hold and theirs was evicted, they were issued before the collector "
     "started, or their issue was missed (bpf.biolat.missed_ps). Requests without data "
     "(flushes) are not counted."},
    {"bpf.biolat.dev_evicted_ps", "evictions/s", VG_METRIC_RATE,
     "Device histograms the kernel evicted from its full map: more devices had I/O than the 256 "
     "it is sized to hold. Each loses that device's requests since the previous tick."},
    MISSED("bpf.biolat"),
};

static const struct vg_metric_desc tcp_metrics[] = {
    {"bpf.tcp.connect_p50_us", "us", VG_METRIC_GAUGE,
     "Median time outgoing TCP connects took from SYN sent to established, over the connects "
     "established during the tick; absent when there were none."},
    {"bpf.tcp.connect_p99_us", "us", VG_METRIC_GAUGE, "99th percentile of the same times."},
    {"bpf.tcp.connects_ps", "connects/s", VG_METRIC_RATE,
     "Outgoing TCP connects established, timed or not (bpf.tcp.connect_untimed_ps)."},
    {"bpf.tcp.connect_untimed_ps", "connects/s", VG_METRIC_RATE,
     "Outgoing TCP connects established without a recorded SYN_SENT time, so they are missing "
     "from the percentiles: more connects were in progress than the 16384 the kernel's map is "
     "sized to hold and theirs was evicted, they began before the collector started, or that "
     "event was missed (bpf.tcp.missed_ps)."},
    {"bpf.tcp.connect_failures_ps", "connects/s", VG_METRIC_RATE,
     "Outgoing TCP connects that failed (SYN_SENT to CLOSE: refused, timed out, unreachable)."},
    {"bpf.tcp.retransmits_ps", "retransmits/s", VG_METRIC_RATE,
     "TCP retransmissions, counted per event of the tcp_retransmit_skb tracepoint: one per "
     "retransmitted packet, not per segment (a TSO packet holds several; tcp.retrans_segs_ps "
     "counts segments), and on kernels whose event carries an error (6.x) attempts that failed "
     "locally too (e.g. the packet still queued on the host)."},
    {"bpf.tcp.resets_sent_ps", "resets/s", VG_METRIC_RATE,
     "TCP resets sent, including those answering a SYN to a closed port (before kernel 6.10, "
     "only resets sent on behalf of a socket)."},
    {"bpf.tcp.resets_received_ps", "resets/s", VG_METRIC_RATE, "TCP resets received."},
    MISSED("bpf.tcp"),
};

static const struct vg_metric_desc syscall_errors_metrics[] = {
    {"bpf.syscall_errors.enoent_ps", "errors/s", VG_METRIC_RATE,
     "System calls that failed with ENOENT."},
    {"bpf.syscall_errors.eacces_ps", "errors/s", VG_METRIC_RATE,
     "System calls that failed with EACCES or EPERM."},
    {"bpf.syscall_errors.eagain_ps", "errors/s", VG_METRIC_RATE,
     "System calls that failed with EAGAIN (EWOULDBLOCK): mostly non-blocking I/O with nothing "
     "to do, so a high base rate is normal."},
    {"bpf.syscall_errors.eintr_ps", "errors/s", VG_METRIC_RATE,
     "System calls interrupted by a signal (EINTR, or restarted by the kernel)."},
    {"bpf.syscall_errors.other_ps", "errors/s", VG_METRIC_RATE,
     "System calls that failed with any other error."},
    {"bpf.syscall_errors.cg.<cgroup>_ps", "errors/s", VG_METRIC_RATE,
     "Failed system calls of one cgroup, all errors together, for the 10 cgroups with the most "
     "in the tick; <cgroup> as for bpf.runqlat.cg.<cgroup>.p99_us."},
    {"bpf.syscall_errors.cg_evicted_ps", "evictions/s", VG_METRIC_RATE,
     "Per-cgroup counts the kernel evicted from its full map: more cgroups that still exist had "
     "failing system calls than the 4096 it is sized to hold. The counts of removed cgroups are "
     "deleted by the agent and not counted. The map evicts first the counts no error added to "
     "lately, so an eviction loses only the errors its cgroup had since the previous tick, "
     "often none. Counts created minus those present and those deleted; sent only where "
     "cgroups can be named."},
    MISSED("bpf.syscall_errors"),
};

static const struct vg_metric_desc proc_events_metrics[] = {
    {"bpf.oom_kills", "kills", VG_METRIC_GAUGE,
     "Processes the OOM killer chose as victims during the tick (system-wide or in a cgroup)."},
    {"bpf.oom_kills_total", "kills", VG_METRIC_GAUGE,
     "Processes the OOM killer chose as victims since the agent started."},
    {"bpf.exec_ps", "execs/s", VG_METRIC_RATE, "Successful execve/execveat calls."},
    {"bpf.exit_ps", "processes/s", VG_METRIC_RATE, "Processes that exited (not threads)."},
    MISSED("bpf.proc_events"),
};

#ifdef VIGIL_HAVE_BPF

int vg_bpf_compiled_in(void)
{
    return 1;
}

#define CALLBACKS(x)                                                                               \
    .init = vg_bpf_##x##_init, .collect = vg_bpf_##x##_collect, .fini = vg_bpf_##x##_fini

#else

int vg_bpf_compiled_in(void)
{
    return 0;
}

#define STUB(x, label)                                                                             \
    static int stub_##x##_init(void **state, const struct vg_collector_cfg *cfg, char *err,        \
                               size_t errlen)                                                      \
    {                                                                                              \
        return vg_err(err, errlen, -ENOTSUP,                                                       \
                      "%s: this build has no eBPF support (VIGIL_BPF=OFF, or clang, bpftool or "   \
                      "kernel BTF were missing where it was built)",                               \
                      label);                                                                      \
    }                                                                                              \
    static int stub_##x##_collect(void *state, int64_t now_ms, struct vg_wire_msg *out, char *err, \
                                  size_t errlen)                                                   \
    {                                                                                              \
        return vg_err(err, errlen, -ENOTSUP, "%s: no eBPF support", label);                        \
    }                                                                                              \
    static void stub_##x##_fini(void *state)                                                       \
    {                                                                                              \
    }

STUB(runqlat, "bpf_runqlat")
STUB(biolat, "bpf_biolat")
STUB(tcp, "bpf_tcp")
STUB(syscall_errors, "bpf_syscall_errors")
STUB(proc_events, "bpf_proc_events")

#define CALLBACKS(x) .init = stub_##x##_init, .collect = stub_##x##_collect, .fini = stub_##x##_fini

#endif

const struct vg_collector vg_collector_bpf_runqlat = {
    .name = "bpf_runqlat",
    .help = "CPU run-queue latency (eBPF, raw tracepoints sched_wakeup, sched_wakeup_new, "
            "sched_switch): how long runnable tasks waited for a CPU, system-wide and for the "
            "busiest cgroups. Needs root or CAP_BPF+CAP_PERFMON; see docs/ebpf.md.",
    .metrics = runqlat_metrics,
    .n_metrics = VG_ARRAY_LEN(runqlat_metrics),
    CALLBACKS(runqlat),
};

const struct vg_collector vg_collector_bpf_biolat = {
    .name = "bpf_biolat",
    .help = "Block I/O latency per device (eBPF, tracepoints block/block_rq_issue and "
            "block/block_rq_complete). Needs root or CAP_BPF+CAP_PERFMON; see docs/ebpf.md.",
    .metrics = biolat_metrics,
    .n_metrics = VG_ARRAY_LEN(biolat_metrics),
    CALLBACKS(biolat),
    .keeps_within = 1,
};

const struct vg_collector vg_collector_bpf_tcp = {
    .name = "bpf_tcp",
    .help = "TCP connect latency and failures, retransmits and resets (eBPF, tracepoints "
            "sock/inet_sock_set_state, tcp/tcp_retransmit_skb, tcp/tcp_send_reset, "
            "tcp/tcp_receive_reset). Needs root or CAP_BPF+CAP_PERFMON; see docs/ebpf.md.",
    .metrics = tcp_metrics,
    .n_metrics = VG_ARRAY_LEN(tcp_metrics),
    CALLBACKS(tcp),
};

const struct vg_collector vg_collector_bpf_syscall_errors = {
    .name = "bpf_syscall_errors",
    .help = "Failed system calls by error and by cgroup (eBPF, raw tracepoint sys_exit). "
            "Needs root or CAP_BPF+CAP_PERFMON; see docs/ebpf.md.",
    .metrics = syscall_errors_metrics,
    .n_metrics = VG_ARRAY_LEN(syscall_errors_metrics),
    CALLBACKS(syscall_errors),
};

const struct vg_collector vg_collector_bpf_proc_events = {
    .name = "bpf_proc_events",
    .help = "OOM kills, execs and process exits (eBPF, tracepoints oom/mark_victim, "
            "sched/sched_process_exec, sched/sched_process_exit). Needs root or "
            "CAP_BPF+CAP_PERFMON; see docs/ebpf.md.",
    .metrics = proc_events_metrics,
    .n_metrics = VG_ARRAY_LEN(proc_events_metrics),
    CALLBACKS(proc_events),
};
