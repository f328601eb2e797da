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

/* Highest CPU number accepted on a "cpuN" line, one below the largest NR_CPUS any kernel
 * configuration allows. */
#define VG_CPU_MAX 8191

/* One "cpuN" line of /proc/stat; columns as for the aggregate line. */
struct vg_cpu_line {
    unsigned cpu; /* 0..VG_CPU_MAX */
    int n_cols;   /* 4..VG_CPU_NCOLS */
    uint64_t c[VG_CPU_NCOLS];
};

typedef int (*vg_cpu_line_fn)(void *ctx, const struct vg_cpu_line *l);

/* vg_parse_stat that also hands every "cpuN" line to fn, in file order (offline CPUs have no
 * line). A malformed cpuN line is an error like a malformed aggregate one; fn is not called for
 * any line after an error, and a non-zero return from fn stops the parse and is returned. With fn
 * NULL, cpuN lines are skipped unread, exactly as vg_parse_stat does. */
int vg_parse_stat_cpus(const char *buf, size_t len, const char *src, struct vg_stat_sample *out,
                       vg_cpu_line_fn fn, void *ctx, char *err, size_t errlen);

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

/* Files of "key value" lines: /proc/vmstat, and cgroup v2's cpu.stat and memory.events. Stores
 * the value of each keys[i] (n_keys <= 64) found in vals[i] and sets bit i of *have; vals[i] of
 * a key not found is left as it was. Lines with other keys are skipped unread, so kernels that
 * print more or fewer lines parse alike; a known key without exactly one number after it is an
 * error. When a key appears twice the first wins. */
int vg_parse_keyed(const char *buf, size_t len, const char *src, const char *const *keys,
                   size_t n_keys, uint64_t *vals, uint64_t *have, char *err, size_t errlen);

/* /proc/vmstat: the event counters the vmstat collector reports. */
enum {
    VG_VM_PGPGIN, /* KiB, despite the name */
    VG_VM_PGPGOUT,
    VG_VM_PSWPIN, /* pages */
    VG_VM_PSWPOUT,
    VG_VM_PGFAULT,
    VG_VM_PGMAJFAULT,
    VG_VM_OOM_KILL, /* 4.13+ */
    VG_VM_NFIELDS
};

struct vg_vmstat_sample {
    uint64_t v[VG_VM_NFIELDS];
    uint64_t have; /* bit i set when field i was present */
};

/* Needs at least one of the fields: kernels built without CONFIG_VM_EVENT_COUNTERS print only
 * the nr_* levels, and none of them is reported. */
int vg_parse_vmstat(const char *buf, size_t len, const char *src, struct vg_vmstat_sample *out,
                    char *err, size_t errlen);

/* A pressure file: /proc/pressure/{cpu,memory,io} or a cgroup's {cpu,memory,io}.pressure:
 *   some avg10=0.12 avg60=0.05 avg300=0.01 total=123456
 *   full avg10=0.00 avg60=0.00 avg300=0.00 total=0
 * The "full" line is absent from cpu before 5.13. */
enum { VG_PSI_SOME, VG_PSI_FULL, VG_PSI_NLINES };

struct vg_psi_sample {
    double avg10[VG_PSI_NLINES]; /* % of the last 10 s */
    uint64_t total_us[VG_PSI_NLINES];
    unsigned have; /* bit VG_PSI_SOME / VG_PSI_FULL */
};

/* Needs a "some" line; every line it reads needs avg10 and total, and every word after the first
 * must be key=value. Other lines (a kind a future kernel adds) are skipped. */
int vg_parse_psi(const char *buf, size_t len, const char *src, struct vg_psi_sample *out, char *err,
                 size_t errlen);

/* /proc/net/snmp and /proc/net/netstat: pairs of lines, column names then values, both starting
 * with the same "Group:" prefix. Columns are found by name, so kernels that print more or fewer
 * columns parse alike. */
enum {
    VG_SNMP_TCP_ACTIVE_OPENS,
    VG_SNMP_TCP_PASSIVE_OPENS,
    VG_SNMP_TCP_ATTEMPT_FAILS,
    VG_SNMP_TCP_ESTAB_RESETS,
    VG_SNMP_TCP_CURR_ESTAB,
    VG_SNMP_TCP_RETRANS_SEGS,
    VG_SNMP_TCP_OUT_RSTS,
    VG_SNMP_UDP_IN_ERRORS,
    VG_SNMP_UDP_NO_PORTS,
    VG_SNMP_UDP_RCVBUF_ERRORS, /* 2.6.18+ */
    VG_SNMP_TCPEXT_LISTEN_OVERFLOWS,
    VG_SNMP_TCPEXT_LISTEN_DROPS,
    VG_SNMP_NFIELDS
};

struct vg_snmp_sample {
    uint64_t v[VG_SNMP_NFIELDS];
    uint64_t have;   /* bit i set when field i was present */
    unsigned groups; /* VG_SNMP_HAVE_*: the groups whose line pair was present */
};

enum { VG_SNMP_HAVE_TCP = 1u << 0, VG_SNMP_HAVE_UDP = 1u << 1, VG_SNMP_HAVE_TCPEXT = 1u << 2 };

/* Every line must start with a "Group:" word and be paired with the next line of the same group.
 * In the groups parsed (Tcp, Udp, TcpExt) the two lines must have as many words, and every value
 * must be an integer (Tcp MaxConn is -1); the columns reported must be unsigned. Other groups are
 * only checked for pairing. Needs no particular group: the caller decides what it requires. */
int vg_parse_snmp(const char *buf, size_t len, const char *src, struct vg_snmp_sample *out,
                  char *err, size_t errlen);

/* /proc/net/sockstat: "TCP: inuse 13 orphan 0 tw 2 alloc 15 mem 3". Needs the TCP line with tw;
 * its words after "TCP:" must be name/number pairs. Other lines are skipped. */
struct vg_sockstat_sample {
    uint64_t tcp_tw;
};

int vg_parse_sockstat(const char *buf, size_t len, const char *src, struct vg_sockstat_sample *out,
                      char *err, size_t errlen);

/* /proc/sys/fs/file-nr: "allocated free max" (free is always 0 since 2.6). */
struct vg_file_nr_sample {
    uint64_t allocated, free, max;
};

int vg_parse_file_nr(const char *buf, size_t len, const char *src, struct vg_file_nr_sample *out,
                     char *err, size_t errlen);

/* A cgroup v2 file holding one number, or "max" for no limit (memory.current, memory.max).
 * Sets *v and *is_max (1 for "max", *v then UINT64_MAX). */
int vg_parse_cg_value(const char *buf, size_t len, const char *src, uint64_t *v, int *is_max,
                      char *err, size_t errlen);

/* One device's line of a cgroup v2 io.stat. */
struct vg_cg_iodev {
    uint32_t major, minor;
    uint64_t rbytes, wbytes; /* 0 when the line has no such field */
};

/* Called once per device, in file order; a non-zero return stops the parse and is returned. */
typedef int (*vg_cg_iodev_fn)(void *ctx, const struct vg_cg_iodev *d);

/* A cgroup v2 io.stat: one line per device, "8:0 rbytes=1 wbytes=2 rios=3 ...". Hands each
 * device's number and rbytes and wbytes to fn, in file order; other keys, whose values need not be
 * integers (iocost's cost.* fields), are skipped. A device number within a line starts another
 * device (5.15 kernels run a device without stats into the next: "7:1 8:0 rbytes=..."). A device
 * "(unknown)" (a disk without a registered bdi) is checked like the others but not handed to fn.
 * An empty file (no I/O yet) is valid. A line that starts with neither MAJ:MIN nor "(unknown)", a
 * later word that is neither key=value nor a device, or an rbytes or wbytes that is not a number
 * ends the parse with -EINVAL, the devices before it having been handed to fn. */
int vg_parse_cg_iostat_devs(const char *buf, size_t len, const char *src, vg_cg_iodev_fn fn,
                            void *ctx, char *err, size_t errlen);

/* Sums rbytes and wbytes over every device of an io.stat (saturating), as
 * vg_parse_cg_iostat_devs reads them; an empty file gives 0. */
int vg_parse_cg_iostat(const char *buf, size_t len, const char *src, uint64_t *rbytes,
                       uint64_t *wbytes, char *err, size_t errlen);

#endif
