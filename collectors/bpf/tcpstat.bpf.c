/* bpf_tcp, kernel side: retransmits and resets counted, active connects timed from SYN_SENT to
 * ESTABLISHED (or counted as failed on SYN_SENT -> CLOSE). Only counts leave the kernel.
 *
 * raw_tp rather than tp, as in biolat.bpf.c: these events fire in softirqs, and a tp/ program
 * is skipped whenever one interrupts a bpf() map syscall on that CPU. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "tcpstat.h"
#include "vg_bpf_common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct tcpstat_counters);
} counters SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct vg_hist);
} connect_hist SEC(".maps");

/* Keyed by the socket's address, which is unique while the socket lives. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, TCPSTAT_MAX_CONNECTING);
    __type(key, __u64);
    __type(value, __u64);
} connecting SEC(".maps");

static __always_inline void count(enum tcpstat_counter which)
{
    __u32 zero = 0;
    struct tcpstat_counters *c = bpf_map_lookup_elem(&counters, &zero);
    if (c && which < TCPSTAT_NCOUNTERS)
        c->c[which]++;
}

SEC("raw_tp/tcp_retransmit_skb")
int tcp_retransmit(void *ctx)
{
    count(TCPSTAT_RETRANSMITS);
    return 0;
}

SEC("raw_tp/tcp_send_reset")
int tcp_send_reset(void *ctx)
{
    count(TCPSTAT_RESETS_SENT);
    return 0;
}

SEC("raw_tp/tcp_receive_reset")
int tcp_receive_reset(void *ctx)
{
    count(TCPSTAT_RESETS_RECEIVED);
    return 0;
}

/* inet_sock_set_state(sk, oldstate, newstate) */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(tcp_set_state, struct sock *sock, int oldstate, int newstate)
{
    /* sk_protocol was a bitfield before 5.6; the probed read takes either form. */
    if (BPF_CORE_READ_BITFIELD_PROBED(sock, sk_protocol) != IPPROTO_TCP)
        return 0;
    __u64 sk = (__u64)sock;
    if (newstate == TCP_SYN_SENT) {
        __u64 ts = bpf_ktime_get_ns();
        bpf_map_update_elem(&connecting, &sk, &ts, BPF_ANY);
        return 0;
    }
    if (oldstate != TCP_SYN_SENT)
        return 0;
    __u64 *tsp = bpf_map_lookup_elem(&connecting, &sk);
    __u64 start = tsp ? *tsp : 0;
    if (tsp)
        bpf_map_delete_elem(&connecting, &sk);
    if (newstate == TCP_CLOSE) {
        count(TCPSTAT_CONNECT_FAILURES);
        return 0;
    }
    if (newstate != TCP_ESTABLISHED)
        return 0;
    count(TCPSTAT_CONNECTS);
    /* Its entry was evicted, or it began before the programs were attached, or that run was
     * skipped: established all the same, but missing from the percentiles. */
    if (!start) {
        count(TCPSTAT_CONNECTS_UNTIMED);
        return 0;
    }
    __s64 delta = (__s64)(bpf_ktime_get_ns() - start);
    if (delta < 0)
        return 0;
    __u32 zero = 0;
    struct vg_hist *h = bpf_map_lookup_elem(&connect_hist, &zero);
    if (h)
        vg_hist_add(h, delta);
    return 0;
}
