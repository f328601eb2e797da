/* Parsers for the /proc files the collectors read, kept apart from file reading so that tests and
 * the fuzzer (tests/fuzz/fuzz_proc.c) can feed them any buffer.
 *
 * Every parser takes buf[0..len) holding arbitrary bytes (no terminator needed) and src, the path
 * used to start error messages ("/proc/stat:3: ..."). They never allocate. Returns 0, or -EINVAL
 * with err set when the content cannot be understood.
 */
#ifndef VG_PROC_PARSE_H
#define VG_PROC_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* Longest device or interface name accepted (the kernel's own limits are 32 and 15). */
#define VG_DEV_NAME_MAX 64

/* /proc/stat. Jiffy columns of the aggregate "cpu" line, in kernel order. guest and guest_nice are
 * parsed for completeness but are already included in user and nice. */
enum {
    VG_CPU_USER,
    VG_CPU_NICE,
    VG_CPU_SYSTEM,
    VG_CPU_IDLE,
    VG_CPU_IOWAIT,     /* 2.5.41+ */
    VG_CPU_IRQ,        /* 2.6.0+ */
    VG_CPU_SOFTIRQ,    /* 2.6.0+ */
    VG_CPU_STEAL,      /* 2.6.11+ */
    VG_CPU_GUEST,      /* 2.6.24+ */
    VG_CPU_GUEST_NICE, /* 2.6.33+ */
    VG_CPU_NCOLS
};

enum {
    VG_STAT_HAVE_CTXT = 1u << 0,
    VG_STAT_HAVE_INTR = 1u << 1,
    VG_STAT_HAVE_FORKS = 1u << 2,
    VG_STAT_HAVE_RUNNING = 1u << 3,
    VG_STAT_HAVE_BLOCKED = 1u << 4,
};

struct vg_stat_sample {
    uint64_t cpu[VG_CPU_NCOLS]; /* columns the kernel did not print are 0 */
    int n_cpu_cols;             /* how many it printed, 4..VG_CPU_NCOLS */
    uint64_t ctxt, intr, forks, procs_running, procs_blocked;
    unsigned have; /* VG_STAT_HAVE_* for the optional lines present */
};

/* Needs the aggregate "cpu" line with at least 4 columns; the other lines are optional. */
int vg_parse_stat(const char *buf, size_t len, const char *src, struct vg_stat_sample *out,
                  char *err, size_t errlen);

/* /proc/meminfo, values in bytes. */
enum {
    VG_MEM_TOTAL,
    VG_MEM_FREE,
    VG_MEM_AVAILABLE, /* 3.14+ */
    VG_MEM_BUFFERS,
    VG_MEM_CACHED,
    VG_MEM_SWAP_TOTAL,
    VG_MEM_SWAP_FREE,
    VG_MEM_DIRTY,
    VG_MEM_NFIELDS
};

struct vg_meminfo_sample {
    uint64_t bytes[VG_MEM_NFIELDS];
    unsigned have; /* bit i set when field i was present */
};

/* Needs MemTotal (non-zero) and MemFree. */
int vg_parse_meminfo(const char *buf, size_t len, const char *src, struct vg_meminfo_sample *out,
                     char *err, size_t errlen);

/* /proc/loadavg: "0.42 0.30 0.25 2/345 12345". */
struct vg_loadavg_sample {
    double avg[3];
    uint64_t runnable; /* includes the reading process itself */
    uint64_t threads;
};

int vg_parse_loadavg(const char *buf, size_t len, const char *src, struct vg_loadavg_sample *out,
                     char *err, size_t errlen);

/* /proc/diskstats. Counters after the name, in kernel order; kernels print 11 (up to 4.17), 15
 * (4.18+, discards) or 17 (5.5+, flushes) of them, and early 2.6 kernels printed partitions with
 * only 4 (reads, sectors read, writes, sectors written), which are passed on with n_counters 4
 * and the rest of counters zero. */
enum {
    VG_DISK_READS,
    VG_DISK_READS_MERGED,
    VG_DISK_READ_SECTORS,
    VG_DISK_READ_MS,
    VG_DISK_WRITES,
    VG_DISK_WRITES_MERGED,
    VG_DISK_WRITE_SECTORS,
    VG_DISK_WRITE_MS,
    VG_DISK_IN_FLIGHT,
    VG_DISK_IO_MS,
    VG_DISK_WEIGHTED_MS,
    VG_DISK_NCOUNTERS
};

struct vg_disk_line {
    const char *name; /* not NUL-terminated; any bytes but blanks and '\n' */
    size_t name_len;  /* 1..VG_DEV_NAME_MAX */
    int n_counters;
    uint64_t c[VG_DISK_NCOUNTERS];
};

/* /proc/net/dev. */
enum {
    VG_NET_RX_BYTES,
    VG_NET_RX_PACKETS,
    VG_NET_RX_ERRS,
    VG_NET_RX_DROP,
    VG_NET_RX_FIFO,
    VG_NET_RX_FRAME,
    VG_NET_RX_COMPRESSED,
    VG_NET_RX_MULTICAST,
    VG_NET_TX_BYTES,
    VG_NET_TX_PACKETS,
    VG_NET_TX_ERRS,
    VG_NET_TX_DROP,
    VG_NET_TX_FIFO,
    VG_NET_TX_COLLS,
    VG_NET_TX_CARRIER,
    VG_NET_TX_COMPRESSED,
    VG_NET_NCOUNTERS
};

struct vg_net_line {
    const char *name; /* not NUL-terminated; any bytes but ':', blanks and '\n' */
    size_t name_len;  /* 1..VG_DEV_NAME_MAX */
    uint64_t c[VG_NET_NCOUNTERS];
};

/* Called once per well-formed device line; a non-zero return stops the parse and is returned. */
typedef int (*vg_disk_line_fn)(void *ctx, const struct vg_disk_line *d);
typedef int (*vg_net_line_fn)(void *ctx, const struct vg_net_line *n);

/* Both hand every well-formed line to fn and skip malformed ones, so that one odd line does not
 * hide every other device; the return value and err then describe the first malformed line.
 * An empty file is valid (no block devices, or no interfaces in a namespace). */
int vg_parse_diskstats(const char *buf, size_t len, const char *src, vg_disk_line_fn fn, void *ctx,
                       char *err, size_t errlen);
int vg_parse_netdev(const char *buf, size_t len, const char *src, vg_net_line_fn fn, void *ctx,
                    char *err, size_t errlen);

#endif
