/* bpf_tcp: structures shared by tcpstat.bpf.c and tcpstat.c. */
#ifndef VG_TCPSTAT_H
#define VG_TCPSTAT_H

/* connects in progress, tracked at once; the LRU map is made larger at load, by a batch of free
 * entries per CPU (vg_bpf_lru_size), so that it holds this many */
#define TCPSTAT_MAX_CONNECTING 16384

enum tcpstat_counter {
    TCPSTAT_RETRANSMITS,
    TCPSTAT_RESETS_SENT,
    TCPSTAT_RESETS_RECEIVED,
    TCPSTAT_CONNECTS,         /* SYN_SENT -> ESTABLISHED, timed or not */
    TCPSTAT_CONNECT_FAILURES, /* SYN_SENT -> CLOSE */
    TCPSTAT_CONNECTS_UNTIMED, /* SYN_SENT -> ESTABLISHED without the time SYN_SENT began */
    TCPSTAT_NCOUNTERS,
};

struct tcpstat_counters {
    __u64 c[TCPSTAT_NCOUNTERS];
};

#endif
