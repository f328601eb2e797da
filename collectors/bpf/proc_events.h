/* bpf_proc_events: structures shared by proc_events.bpf.c and proc_events.c. */
#ifndef VG_PROC_EVENTS_H
#define VG_PROC_EVENTS_H

enum procev_counter {
    PROCEV_OOM_KILLS,
    PROCEV_EXECS,
    PROCEV_EXITS, /* processes, not threads */
    PROCEV_NCOUNTERS,
};

struct procev_counters {
    __u64 c[PROCEV_NCOUNTERS];
};

#endif
