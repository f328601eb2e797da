#include "vg_bpf_util.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "vg_cgname.h"
#include "vg_log.h"
#include "vg_util.h"

#define BTF_PATH        "/sys/kernel/btf/vmlinux"
#define TRACEFS         "/sys/kernel/tracing"
#define DEBUGFS_TRACING "/sys/kernel/debug/tracing"
#define KERNEL_ENOTSUPP 524 /* the kernel's internal "not supported", seen by old bpf() calls */
#define LIBBPF_MSG_MAX  240

struct vg_bpf_pair {
    __u64 key;
    size_t idx;
};

/* The last warning libbpf printed, and the verifier's verdict from the last program log: the
 * detail worth adding to a failed open/load/attach. The collectors start on one thread, but
 * nothing stops a second one. */
static _Thread_local char last_libbpf_msg[LIBBPF_MSG_MAX];
static _Thread_local char verifier_verdict[LIBBPF_MSG_MAX];

static struct {
    const char *from_cat, *from_event, *to_cat, *to_event;
} tp_override;

static int is_insn_line(const char *line)
{
    const char *p = line;
    while (*p >= '0' && *p <= '9')
        p++;
    return p != line && *p == ':';
}

/* A verifier log ends with the instructions it walked, then the reason it stopped, then
 * statistics: the reason is the first line after the last instruction. */
static void keep_verdict(const char *log)
{
    const char *line = log, *after_insn = NULL;
    int take_next = 0;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (is_insn_line(line)) {
            take_next = 1;
        } else if (take_next && len > 0) {
            after_insn = line;
            take_next = 0;
        }
        line = end ? end + 1 : line + len;
    }
    if (after_insn) {
        size_t len = strcspn(after_insn, "\n");
        snprintf(verifier_verdict, sizeof verifier_verdict, "%.*s", (int)len, after_insn);
    }
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    char small[512], *buf = small;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n >= (int)sizeof small && (buf = malloc((size_t)n + 1)) != NULL)
        vsnprintf(buf, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (!buf)
        buf = small;
    if (n > 0) {
        if (strstr(buf, "-- END PROG LOAD LOG --"))
            keep_verdict(buf);
        size_t len = strlen(buf);
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
            buf[--len] = '\0';
        const char *last = strrchr(buf, '\n');
        last = last ? last + 1 : buf;
        if (strncmp(last, "libbpf: ", 8) == 0)
            last += 8;
        if (*last) {
            /* Kept for error messages; a long line is cut, which is fine there. */
            size_t n_last = strlen(last);
            if (n_last >= sizeof last_libbpf_msg)
                n_last = sizeof last_libbpf_msg - 1;
            memcpy(last_libbpf_msg, last, n_last);
            last_libbpf_msg[n_last] = '\0';
        }
        /* Whole, verifier logs included, for whoever runs with log_level=debug. */
        char q[4096];
        vg_debug("libbpf", "text=%s", vg_log_quote(q, sizeof q, buf));
    }
    if (buf != small)
        free(buf);
    return 0;
}

/* Whether path exists for this process. Not access(): it checks with the real uid and, for a
 * non-root one, without capabilities, so the packaged unit (User=vigil with
 * CAP_DAC_READ_SEARCH, tracefs mode 0700) would find no tracefs. stat() resolves the path as
 * every other open here does, with the effective ids and capabilities. */
static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Where tracefs' events are, mounting tracefs when it is nowhere; NULL when that failed, with the
 * reason in *why. /sys/kernel/tracing is tried first, then the debugfs path; either lists the
 * same events. */
static const char *tracefs_events(const char **why)
{
    static int tried;
    static int mount_errno;
    if (exists(TRACEFS "/events"))
        return TRACEFS "/events";
    if (exists(DEBUGFS_TRACING "/events"))
        return DEBUGFS_TRACING "/events";
    if (!tried) {
        tried = 1;
        if (mount("nodev", TRACEFS, "tracefs", 0, NULL) == 0) {
            vg_info("mounted tracefs", "path=%s reason=\"eBPF tracepoints are found through it\"",
                    TRACEFS);
        } else {
            mount_errno = errno;
        }
    }
    if (exists(TRACEFS "/events"))
        return TRACEFS "/events";
    *why = mount_errno ? strerror(mount_errno) : "no events directory after mounting";
    return NULL;
}

int vg_bpf_prepare(const char *collector, char *err, size_t errlen)
{
    static int print_set;
    if (access(BTF_PATH, R_OK) != 0)
        return vg_err(err, errlen, -ENOENT,
                      "%s: kernel has no BTF at %s (needs CONFIG_DEBUG_INFO_BTF=y): %s", collector,
                      BTF_PATH, strerror(errno));
    if (!print_set) {
        libbpf_set_print(libbpf_print);
        print_set = 1;
    }
    last_libbpf_msg[0] = verifier_verdict[0] = '\0';
    return 0;
}

void vg_bpf_tp_override(const char *from_cat, const char *from_event, const char *to_cat,
                        const char *to_event)
{
    tp_override.from_cat = from_cat;
    tp_override.from_event = from_event;
    tp_override.to_cat = to_cat;
    tp_override.to_event = to_event;
}

static void resolve_tp(const char **cat, const char **event)
{
    if (tp_override.from_cat && strcmp(*cat, tp_override.from_cat) == 0 &&
        strcmp(*event, tp_override.from_event) == 0) {
        *cat = tp_override.to_cat;
        *event = tp_override.to_event;
    }
}

static int tp_exists_resolved(const char *category, const char *event, const char **why)
{
    const char *events = tracefs_events(why);
    if (!events)
        return -ENOENT;
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/%s", events, category, event);
    if (stat(path, &st) == 0)
        return 1;
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
    int rc = -errno;
    *why = strerror(errno);
    return rc;
}

int vg_bpf_tp_exists(const char *category, const char *event)
{
    const char *why = NULL;
    resolve_tp(&category, &event);
    return tp_exists_resolved(category, event, &why);
}

int vg_bpf_select(struct bpf_object *obj, const char *collector, const struct vg_bpf_tp *tps,
                  size_t n, unsigned *present, char *err, size_t errlen)
{
    *present = 0;
    if (n > VG_BPF_MAX_TPS)
        return vg_err(err, errlen, -EINVAL, "%s: more than %d programs", collector, VG_BPF_MAX_TPS);
    for (size_t i = 0; i < n; i++) {
        const char *cat = tps[i].category, *ev = tps[i].event, *why = NULL;
        resolve_tp(&cat, &ev);
        struct bpf_program *prog = bpf_object__find_program_by_name(obj, tps[i].prog);
        if (!prog)
            return vg_err(err, errlen, -EINVAL, "%s: no program %s in the BPF object", collector,
                          tps[i].prog);
        int ex = tp_exists_resolved(cat, ev, &why);
        /* A raw tracepoint attaches by name, so without tracefs the attach itself will tell
         * (vg_bpf_attach leaves a missing optional one out). Said once per process. */
        if (ex < 0) {
            static int said;
            if (!said++)
                vg_info("tracepoint lookup skipped",
                        "collector=%s reason=\"tracefs: %s\" effect=\"a missing optional "
                        "tracepoint is found when attaching\"",
                        collector, why ? why : "unavailable");
            ex = 1;
        }
        if (ex == 0) {
            if (tps[i].required)
                return vg_err(err, errlen, -ENOENT,
                              "%s: tracepoint %s/%s missing (kernel too old or built without it)",
                              collector, cat, ev);
            vg_info("tracepoint missing", "collector=%s tracepoint=%s/%s not_reported=\"%s\"",
                    collector, cat, ev, tps[i].loses ? tps[i].loses : "");
            bpf_program__set_autoload(prog, false);
            continue;
        }
        *present |= 1u << i;
    }
    return 0;
}

int vg_bpf_load_failed(const char *collector, const char *what, int rc, char *err, size_t errlen)
{
    if (rc >= 0)
        rc = -EINVAL;
    if (rc == -EPERM)
        return vg_err(err, errlen, rc,
                      "%s: %s refused (EPERM): needs root or CAP_BPF+CAP_PERFMON "
                      "(+CAP_SYS_RESOURCE on kernels before 5.11)",
                      collector, what);
    if (verifier_verdict[0])
        return vg_err(err, errlen, rc,
                      "%s: %s failed: the kernel's verifier rejected a program: %s", collector,
                      what, verifier_verdict);
    if (last_libbpf_msg[0])
        return vg_err(err, errlen, rc, "%s: %s failed: %s (libbpf: %s)", collector, what,
                      strerror(-rc), last_libbpf_msg);
    return vg_err(err, errlen, rc, "%s: %s failed: %s", collector, what, strerror(-rc));
}

int vg_bpf_attach(struct bpf_object *obj, const char *collector, const struct vg_bpf_tp *tps,
                  size_t n, unsigned present, struct vg_bpf_links *links, char *err, size_t errlen)
{
    memset(links, 0, sizeof *links);
    for (size_t i = 0; i < n && i < VG_BPF_MAX_TPS; i++) {
        if (!(present & (1u << i)))
            continue;
        const char *cat = tps[i].category, *ev = tps[i].event;
        resolve_tp(&cat, &ev);
        struct bpf_program *prog = bpf_object__find_program_by_name(obj, tps[i].prog);
        struct bpf_link *l = NULL;
        last_libbpf_msg[0] = '\0';
        if (prog)
            l = bpf_program__attach_raw_tracepoint(prog, ev);
        long lerr = prog ? libbpf_get_error(l) : -EINVAL;
        if (tps[i].older_form && i + 1 < n) {
            if (!l && lerr == -EINVAL)
                continue;
            if (l && !lerr)
                present &= ~(1u << (i + 1));
        }
        /* The lookup in vg_bpf_select could not be made (no tracefs in reach): a missing
         * optional event shows here, and is left out as the lookup would have. */
        if ((!l || lerr) && lerr == -ENOENT && !tps[i].required) {
            vg_info("tracepoint missing",
                    "collector=%s tracepoint=%s/%s not_reported=\"%s\" found=at_attach", collector,
                    cat, ev, tps[i].loses ? tps[i].loses : "");
            if (tps[i].older_form && i + 1 < n)
                present &= ~(1u << (i + 1)); /* the same event: missing too */
            continue;
        }
        if (!l || lerr) {
            char what[160];
            snprintf(what, sizeof what, "attaching to raw tracepoint %s/%s", cat, ev);
            vg_bpf_detach(links);
            return vg_bpf_load_failed(collector, what, lerr ? (int)lerr : -EINVAL, err, errlen);
        }
        links->link[i] = l;
        links->prog_fd[i] = bpf_program__fd(prog);
        links->present |= 1u << i;
    }
    if (!links->present)
        return vg_err(err, errlen, -ENOENT, "%s: none of its tracepoints exist on this kernel",
                      collector);
    return 0;
}

void vg_bpf_detach(struct vg_bpf_links *links)
{
    for (size_t i = 0; i < VG_BPF_MAX_TPS; i++) {
        if (links->link[i])
            bpf_link__destroy(links->link[i]);
        links->link[i] = NULL;
    }
    links->present = 0;
}

int vg_bpf_prog_misses(int prog_fd, __u64 *misses)
{
    struct bpf_prog_info info;
    __u32 len = sizeof info;
    memset(&info, 0, sizeof info);
    if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0)
        return -errno;
    /* The kernel writes back how much of the struct it knows. */
    if (len < offsetof(struct bpf_prog_info, recursion_misses) + sizeof info.recursion_misses)
        return -EOPNOTSUPP;
    *misses = info.recursion_misses;
    return 0;
}

/* A minute between warnings: enough to show that losses go on, few enough lines for a host
 * that loses events all day. */
#define MISSES_LOG_MS 60000

int vg_bpf_emit_misses(struct vg_bpf_links *links, const char *collector, const char *metric,
                       int64_t now_ms, struct vg_wire_msg *out, char *err, size_t errlen)
{
    struct vg_bpf_misses *m = &links->misses;
    if (m->unsupported)
        return 0;
    __u64 total = 0;
    for (size_t i = 0; i < VG_BPF_MAX_TPS; i++) {
        if (!links->link[i])
            continue;
        __u64 one;
        int rc = vg_bpf_prog_misses(links->prog_fd[i], &one);
        /* The collector's own metrics do not depend on this count: without it only this
         * metric is left out, said once. */
        if (rc == -EOPNOTSUPP) {
            m->unsupported = 1;
            vg_info("kernel does not count skipped BPF runs", "collector=%s not_reported=%s",
                    collector, metric);
            return 0;
        }
        if (rc < 0) {
            m->unsupported = 1;
            vg_warn("cannot read a BPF program's counts",
                    "collector=%s not_reported=%s reason=\"%s\"", collector, metric, strerror(-rc));
            return 0;
        }
        total += one;
    }
    double r;
    int rc = 0;
    if (vg_rate_update(&m->rate, total, now_ms, 64, &r) == 0)
        rc = vg_bpf_emit(out, r, err, errlen, "%s", metric);
    if (total > m->logged && (!m->logged_ms || now_ms - m->logged_ms >= MISSES_LOG_MS)) {
        vg_warn("kernel skipped BPF program runs: events missing from the metrics",
                "collector=%s skipped=%llu total=%llu metric=%s", collector,
                (unsigned long long)(total - m->logged), (unsigned long long)total, metric);
        m->logged = total;
        m->logged_ms = now_ms;
    }
    return rc;
}

int vg_bpf_emit_loss(struct vg_bpf_loss *l, __u64 total, const char *collector, const char *what,
                     const char *metric, int64_t now_ms, struct vg_wire_msg *out, char *err,
                     size_t errlen)
{
    double r;
    int rc = 0;
    if (!l->primed) {
        l->logged = total;
        l->primed = 1;
    }
    if (vg_rate_update(&l->rate, total, now_ms, 64, &r) == 0)
        rc = vg_bpf_emit(out, r, err, errlen, "%s", metric);
    if (total > l->logged && (!l->logged_ms || now_ms - l->logged_ms >= MISSES_LOG_MS)) {
        vg_warn("eBPF collector lost events: missing from the metrics",
                "collector=%s lost=\"%s\" count=%llu total=%llu metric=%s", collector, what,
                (unsigned long long)(total - l->logged), (unsigned long long)total, metric);
        l->logged = total;
        l->logged_ms = now_ms;
    }
    return rc;
}

int vg_bpf_ncpus(void)
{
    static int n;
    if (n <= 0)
        n = libbpf_num_possible_cpus();
    return n;
}

int vg_bpf_read_percpu(int map_fd, __u32 key, size_t n, __u64 *scratch, __u64 *out, char *err,
                       size_t errlen)
{
    int ncpus = vg_bpf_ncpus();
    if (ncpus <= 0)
        return vg_err(err, errlen, ncpus < 0 ? ncpus : -EINVAL,
                      "cannot tell the number of possible CPUs");
    if (bpf_map_lookup_elem(map_fd, &key, scratch) != 0)
        return vg_err(err, errlen, -errno, "reading a per-CPU BPF map: %s", strerror(errno));
    memset(out, 0, n * sizeof *out);
    for (int c = 0; c < ncpus; c++) {
        const __u64 *v = scratch + (size_t)c * n;
        for (size_t i = 0; i < n; i++)
            out[i] += v[i];
    }
    return 0;
}

static __u32 lru_live_override;

void vg_bpf_lru_live_override(__u32 live)
{
    lru_live_override = live;
}

static __u64 round8(__u64 n)
{
    return (n + 7) & ~(__u64)7;
}

__u64 vg_bpf_lru_bytes(__u32 entries, __u32 key_size, __u32 value_size)
{
    return (__u64)entries * (round8(key_size) + round8(value_size) + VG_BPF_LRU_ENTRY_OVERHEAD);
}

__u32 vg_bpf_lru_entries(__u32 live, unsigned ncpus, __u32 key_size, __u32 value_size)
{
    __u64 want = (__u64)live + (__u64)VG_BPF_LRU_CPU_BATCH * (ncpus ? ncpus : 1);
    __u64 cap = VG_BPF_LRU_MAX_BYTES / vg_bpf_lru_bytes(1, key_size, value_size);
    if (cap < 2 * (__u64)live)
        cap = 2 * (__u64)live;
    if (want > cap)
        want = cap;
    return want > UINT32_MAX ? UINT32_MAX : (__u32)want;
}

int vg_bpf_lru_size(struct bpf_map *map, __u32 live, const char *collector, char *err,
                    size_t errlen)
{
    int ncpus = vg_bpf_ncpus();
    if (ncpus <= 0)
        return vg_err(err, errlen, ncpus < 0 ? ncpus : -EINVAL,
                      "%s: cannot tell the number of possible CPUs", collector);
    if (lru_live_override)
        live = lru_live_override;
    __u32 n =
        vg_bpf_lru_entries(live, (unsigned)ncpus, bpf_map__key_size(map), bpf_map__value_size(map));
    int rc = bpf_map__set_max_entries(map, n);
    if (rc < 0)
        return vg_err(err, errlen, rc, "%s: sizing BPF map %s to %u entries: %s", collector,
                      bpf_map__name(map), n, strerror(-rc));
    return 0;
}

__u64 vg_bpf_lru_evicted(__u64 prev, __u64 created, __u64 live, __u64 deleted)
{
    __u64 gone = live + deleted;
    __u64 now = created > gone ? created - gone : 0;
    return now > prev ? now : prev;
}

void vg_bpf_cgsweep_init(struct vg_bpf_cgsweep *s, const struct vg_cgnames *names)
{
    s->gen = names ? names->walks : 0;
    s->deleted = 0;
    s->no_lookup_and_delete = 0;
}

/* Entry i of cur may belong to a cgroup that is gone: it did not change since prev was read, and
 * the last walk did not find its cgroup. */
static int maybe_gone(const struct vg_cgnames *names, const struct vg_bpf_snap *cur,
                      const struct vg_bpf_snap *prev, size_t i)
{
    const __u64 *p = vg_bpf_snap_find(prev, cur->keys[i]);
    return p && memcmp(p, cur->vals + i * cur->width, cur->width * sizeof *p) == 0 &&
           !vg_cgnames_known(names, cur->keys[i]);
}

/* Whether entry i of cur holds something else in the map now than when cur was read. The programs
 * update entries in place, so one that changed (a task still in a cgroup the walk missed, or one
 * outside this cgroup namespace) belongs to a cgroup still in use: it is kept, to be read next
 * tick, rather than deleted only for the programs to create it again. cur->row is scratch once
 * cur is read. */
static int changed_since_read(int map_fd, struct vg_bpf_snap *cur, size_t i)
{
    __u64 id = cur->keys[i];
    return bpf_map_lookup_elem(map_fd, &id, cur->row) == 0 &&
           memcmp(cur->row, cur->vals + i * cur->width, cur->width * sizeof *cur->vals) != 0;
}

/* Deletes entry i of cur from the map and leaves in cur what it held when deleted. An update
 * landing between changed_since_read's lookup and the delete would otherwise be lost, uncounted;
 * BPF_MAP_LOOKUP_AND_DELETE_ELEM takes the value and unlinks the entry under the bucket lock, so
 * what it returns is the last update the map saw. The value buffer is width __u64: the maps are
 * LRU hashes of plain values (a per-CPU map would need a value, rounded up to 8 bytes, per possible
 * CPU, and vg_bpf_snap_read does not read those either). Kernels before 5.14 do it for queues and
 * stacks only (ENOTSUPP for hash maps, EINVAL before 4.20): the first such answer switches this
 * sweep to a plain delete for good, and that update is lost again there. What is still lost
 * everywhere is a program's update that found the entry before the delete and writes after it,
 * within one run of that program: the entry goes back to the map's free list under it. Returns 1
 * when the map held something newer than cur, 0 when not, -ENOENT when the entry is no longer there
 * (evicted since the read, and counted so), or another negative errno. */
static int take_final(struct vg_bpf_cgsweep *s, int map_fd, struct vg_bpf_snap *cur, size_t i)
{
    __u64 id = cur->keys[i];
    __u64 *row = cur->vals + i * cur->width;
    if (!s->no_lookup_and_delete) {
        if (bpf_map_lookup_and_delete_elem(map_fd, &id, cur->row) == 0) {
            if (memcmp(cur->row, row, cur->width * sizeof *row) == 0)
                return 0;
            memcpy(row, cur->row, cur->width * sizeof *row);
            return 1;
        }
        if (errno != EINVAL && errno != KERNEL_ENOTSUPP && errno != EOPNOTSUPP)
            return -errno;
        s->no_lookup_and_delete = 1;
        vg_debug("BPF map entries deleted without taking their last value",
                 "reason=\"kernel cannot look up and delete in one call (before 5.14)\"");
    }
    return bpf_map_delete_elem(map_fd, &id) == 0 ? 0 : -errno;
}

/* Drops the entries that the previous sweep deleted, after taking what they had gained: that
 * gain was reported, and an entry with the same key now is new, all of it. */
static void drop_swept(struct vg_bpf_snap *prev)
{
    size_t kept = 0;
    for (size_t i = 0; i < prev->n; i++) {
        if (prev->swept[i])
            continue;
        if (kept != i) {
            prev->keys[kept] = prev->keys[i];
            memmove(prev->vals + kept * prev->width, prev->vals + i * prev->width,
                    prev->width * sizeof *prev->vals);
        }
        prev->swept[kept++] = 0;
    }
    prev->n = kept;
}

int vg_bpf_cgsweep(struct vg_bpf_cgsweep *s, struct vg_cgnames *names, int map_fd,
                   struct vg_bpf_snap *cur, struct vg_bpf_snap *prev, int64_t now_ms, char *err,
                   size_t errlen)
{
    if (cur->key_size != 8)
        return vg_err(err, errlen, -EINVAL, "cgroup map keys must be 8 bytes");
    drop_swept(prev);
    /* Nothing walked since cur was read: walks from here on began after it. */
    uint64_t gen = names->walks;
    size_t maybe = 0;
    for (size_t i = 0; i < cur->n; i++)
        maybe += maybe_gone(names, cur, prev, i);
    /* A walk since prev was read tells already; a failed one leaves everything in place. */
    if (maybe && names->walks == s->gen)
        vg_cgnames_sweep(names, now_ms);
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < cur->n; i++) {
        __u64 id = cur->keys[i];
        int swept = 0;
        if (rc == 0 && maybe && maybe_gone(names, cur, prev, i) &&
            vg_cgnames_gone(names, id, s->gen) && !changed_since_read(map_fd, cur, i)) {
            int got = take_final(s, map_fd, cur, i);
            if (got == 0) {
                s->deleted++;
                continue;
            }
            /* Deleted with an update cur had not read: kept for this tick, so that the caller's
             * difference holds its gain, and dropped from the next tick's prev. */
            if (got == 1) {
                s->deleted++;
                swept = 1;
            } else if (got == -ENOENT) {
                continue;
            } else {
                rc = vg_err(err, errlen, got, "deleting a BPF map entry: %s", strerror(-got));
            }
        }
        if (kept != i) {
            cur->keys[kept] = id;
            memmove(cur->vals + kept * cur->width, cur->vals + i * cur->width,
                    cur->width * sizeof *cur->vals);
        }
        cur->swept[kept++] = (unsigned char)swept;
    }
    cur->n = kept;
    s->gen = gen;
    return rc;
}

/* What vg_bpf_lazy_calloc() keeps before the memory it returns: the mapping's length. */
#define LAZY_HEAD 16

void *vg_bpf_lazy_calloc(size_t n, size_t size)
{
    if (size && n > (SIZE_MAX - LAZY_HEAD) / size)
        return NULL;
    size_t len = LAZY_HEAD + n * size;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memcpy(p, &len, sizeof len);
    return p + LAZY_HEAD;
}

void vg_bpf_lazy_free(void *p)
{
    if (!p)
        return;
    size_t len;
    unsigned char *base = (unsigned char *)p - LAZY_HEAD;
    memcpy(&len, base, sizeof len);
    munmap(base, len);
}

/* Bytes of an array of n elements of size each, rounded up to 16 so that the next one is
 * aligned for any of them. */
static size_t snap_span(size_t n, size_t size)
{
    return (n * size + 15) / 16 * 16;
}

int vg_bpf_snap_init(struct vg_bpf_snap *s, size_t key_size, size_t width, size_t cap)
{
    memset(s, 0, sizeof *s);
    if ((key_size != 4 && key_size != 8) || width == 0 || cap == 0 ||
        cap > SIZE_MAX / 4 / width / sizeof *s->vals)
        return -EINVAL;
    /* All the arrays in one lazily backed block: a tick writes only the first n entries of
     * each, so the pages past them never become resident. */
    size_t keys = snap_span(cap, sizeof *s->keys), vals = snap_span(cap * width, sizeof *s->vals);
    size_t rawk = snap_span(cap, key_size), order = snap_span(cap, sizeof *s->order);
    unsigned char *p =
        vg_bpf_lazy_calloc(1, keys + vals + rawk + order + width * sizeof *s->row + cap);
    if (!p)
        return -ENOMEM;
    s->key_size = key_size;
    s->width = width;
    s->cap = cap;
    s->keys = (__u64 *)p;
    s->vals = (__u64 *)(p + keys);
    s->rawk = p + keys + vals;
    s->order = (struct vg_bpf_pair *)(p + keys + vals + rawk);
    s->row = (__u64 *)(p + keys + vals + rawk + order);
    s->swept = (unsigned char *)s->row + width * sizeof *s->row;
    return 0;
}

void vg_bpf_snap_free(struct vg_bpf_snap *s)
{
    vg_bpf_lazy_free(s->keys); /* the start of the block that holds the others */
    memset(s, 0, sizeof *s);
}

void vg_bpf_snap_swap(struct vg_bpf_snap *a, struct vg_bpf_snap *b)
{
    struct vg_bpf_snap t = *a;
    *a = *b;
    *b = t;
}

static int pair_cmp(const void *a, const void *b)
{
    const struct vg_bpf_pair *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

static __u64 raw_key(const struct vg_bpf_snap *s, size_t i)
{
    if (s->key_size == 4) {
        __u32 k;
        memcpy(&k, s->rawk + i * 4, 4);
        return k;
    }
    __u64 k;
    memcpy(&k, s->rawk + i * 8, 8);
    return k;
}

/* Puts the n entries read in map order (keys in rawk, values in vals) in key order. The values are
 * moved in place, each row once, along the cycles of the permutation through one row of scratch:
 * a second array to copy them from would double what a full map costs (bpf_runqlat's 1,280 cgroup
 * histograms of 2,240 bytes are 2.9 MB a copy, resident once the map is full). */
static void sort_rows(struct vg_bpf_snap *s, size_t n)
{
    size_t w = s->width, bytes = s->width * sizeof *s->vals;
    for (size_t i = 0; i < n; i++)
        s->order[i] = (struct vg_bpf_pair){raw_key(s, i), i};
    qsort(s->order, n, sizeof *s->order, pair_cmp);
    for (size_t i = 0; i < n; i++) {
        s->keys[i] = s->order[i].key;
        if (s->order[i].idx == i) /* in place, or placed by an earlier cycle */
            continue;
        /* Row j takes row order[j].idx; idx = j marks it placed. The cycle ends at the row that
         * takes row i, saved before it was overwritten. */
        memcpy(s->row, s->vals + i * w, bytes);
        for (size_t j = i;;) {
            size_t from = s->order[j].idx;
            s->order[j].idx = j;
            if (from == i) {
                memcpy(s->vals + j * w, s->row, bytes);
                break;
            }
            memcpy(s->vals + j * w, s->vals + from * w, bytes);
            j = from;
        }
    }
}

/* For kernels before 5.6, which have no batched lookups: one key at a time. Entries may come
 * and go meanwhile; each is still read whole, which is all a tick needs. */
static int read_by_key(struct vg_bpf_snap *s, int fd, size_t *n)
{
    unsigned char key[8], next[8];
    void *prev = NULL;
    *n = 0;
    /* A key deleted under us restarts the walk from the first key: bounded, not endless. */
    for (size_t steps = 0; steps < 2 * s->cap && *n < s->cap; steps++) {
        if (bpf_map_get_next_key(fd, prev, next) != 0)
            break;
        memcpy(key, next, s->key_size);
        prev = key;
        if (bpf_map_lookup_elem(fd, key, s->vals + *n * s->width) != 0) {
            if (errno == ENOENT)
                continue;
            return -errno;
        }
        memcpy(s->rawk + *n * s->key_size, key, s->key_size);
        (*n)++;
    }
    return 0;
}

int vg_bpf_snap_read(struct vg_bpf_snap *s, int fd, char *err, size_t errlen)
{
    size_t n = 0;
    __u64 in_batch = 0, out_batch = 0;
    int first = 1, rc = 0;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);

    while (n < s->cap) {
        __u32 count = (__u32)(s->cap - n);
        rc = bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch,
                                  s->rawk + n * s->key_size, s->vals + n * s->width, &count, &opts);
        if (rc < 0 && first && (rc == -EINVAL || rc == -ENOTSUP || rc == -KERNEL_ENOTSUPP)) {
            rc = read_by_key(s, fd, &n);
            break;
        }
        n += count;
        if (rc < 0) {
            /* ENOENT ends the walk; ENOSPC cannot happen with room for every entry. */
            if (rc == -ENOENT)
                rc = 0;
            break;
        }
        in_batch = out_batch;
        first = 0;
    }
    if (rc < 0) {
        s->n = 0; /* vals holds part of a reading */
        return vg_err(err, errlen, rc, "reading a BPF hash map: %s", strerror(-rc));
    }
    sort_rows(s, n);
    memset(s->swept, 0, n);
    s->n = n;
    return 0;
}

const __u64 *vg_bpf_snap_find(const struct vg_bpf_snap *s, __u64 key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->keys[mid] < key)
            lo = mid + 1;
        else if (s->keys[mid] > key)
            hi = mid;
        else
            return s->vals + mid * s->width;
    }
    return NULL;
}

__u64 vg_bpf_delta(const __u64 *cur, const __u64 *prev, size_t n, __u64 *delta)
{
    __u64 sum = 0;
    int reset = !prev;
    for (size_t i = 0; i < n && !reset; i++)
        reset = cur[i] < prev[i];
    for (size_t i = 0; i < n; i++) {
        delta[i] = reset ? cur[i] : cur[i] - prev[i];
        sum += delta[i];
    }
    return sum;
}

__u64 vg_hist_lower(__u32 i)
{
    if (i < VG_HIST_SUB)
        return i;
    __u32 e = i / VG_HIST_SUB + VG_HIST_SUB_BITS - 1, sub = i % VG_HIST_SUB;
    return (__u64)(VG_HIST_SUB + sub) << (e - VG_HIST_SUB_BITS);
}

__u64 vg_hist_upper(__u32 i)
{
    if (i < VG_HIST_SUB)
        return (__u64)i + 1;
    __u32 e = i / VG_HIST_SUB + VG_HIST_SUB_BITS - 1;
    return vg_hist_lower(i) + ((__u64)1 << (e - VG_HIST_SUB_BITS));
}

double vg_hist_quantile(const __u64 *slots, __u64 total, double q)
{
    if (total == 0)
        return 0;
    /* The sample of rank ceil(q * total), 1-based, placed within its bucket as if the bucket's
     * samples were spread evenly over it. */
    double rank = q * (double)total;
    if (rank < 1)
        rank = 1;
    __u64 cum = 0;
    for (__u32 i = 0; i < VG_HIST_BUCKETS; i++) {
        if (!slots[i])
            continue;
        if ((double)(cum + slots[i]) >= rank) {
            double lo = (double)vg_hist_lower(i), hi = (double)vg_hist_upper(i);
            double frac = (rank - (double)cum) / (double)slots[i];
            return lo + frac * (hi - lo);
        }
        cum += slots[i];
    }
    return (double)vg_hist_lower(VG_HIST_BUCKETS - 1);
}

size_t vg_bpf_top(const __u64 *counts, size_t n, size_t *idx, size_t k)
{
    size_t got = 0;
    if (k == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!counts[i])
            continue;
        if (got == k && counts[i] <= counts[idx[k - 1]])
            continue;
        size_t j = got < k ? got++ : k - 1;
        while (j > 0 && counts[idx[j - 1]] < counts[i]) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    return got;
}

int vg_bpf_emit(struct vg_wire_msg *out, double value, char *err, size_t errlen, const char *fmt,
                ...)
{
    char name[VG_WIRE_NAME_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof name)
        return vg_err(err, errlen, -EINVAL, "metric name longer than %d bytes", VG_WIRE_NAME_MAX);
    return vg_wire_msg_add_metric(out, name, value, err, errlen);
}
