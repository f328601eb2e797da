/* Which of a host's metrics the mv model takes as its group's columns (model.metrics).
 *
 * A group's columns are fixed by the first host that reports into it, at most model.max_metrics
 * of them. Taking the first names in byte order let whole families that sort early crowd out the
 * host-level series: a host with 30 systemd services sends some 360 `cgroup.*` metrics, which
 * sort before `cpu.*`, and the model then saw no CPU, memory, disk or network at all. So the
 * choice is an ordered list of shell globs: a metric's rank is the first pattern it matches, the
 * columns are the matching metrics by rank and then by name, and a pattern written `!glob` keeps
 * whatever it matches out (volatile top-N series, the collectors' own loss counters).
 */
#ifndef VG_COLSEL_H
#define VG_COLSEL_H

#include <stddef.h>

#define VG_COLSEL_MAX_PATTERNS 64
#define VG_COLSEL_MAX_PATTERN  200 /* bytes of one pattern */

/* The analyzer's default: host-level families first, then the cgroups, then anything else (per-CPU
 * shares, names of other producers); never the eBPF collectors' top-10-cgroup series (their
 * cgroups change from tick to tick, so such a column would be missing most of the time) nor their
 * loss counters. */
#define VG_COLSEL_DEFAULT                                                                          \
    "!*.missed_ps,!*_evicted_ps,!*untimed_ps,!bpf.*.cg.*,cpu.[a-z]*,load.*,mem.*,psi.*,vmstat.*,"  \
    "disk.*,net.*,tcp.*,udp.*,fd.*,procs.*,bpf.*,cgroup.*,*"

struct vg_colsel;

/* Parses patterns: comma-separated globs (fnmatch(3), '*' also matching '.'), spaces around each
 * ignored. NULL or "" selects every metric, by name. On success *out is malloc'd and owned by the
 * caller (vg_colsel_free). -EINVAL with err naming the pattern at fault (empty, too long, a lone
 * '!', too many, no positive pattern); -ENOMEM. */
int vg_colsel_new(struct vg_colsel **out, const char *patterns, char *err, size_t errlen);
void vg_colsel_free(struct vg_colsel *s);

/* Reorders names[0..n) (borrowed strings) in place so that the selected ones come first, ranked
 * as the header says, duplicates removed, and sets *picked to how many, at most max; a reserved
 * name (vg_wire_name_reserved: "host:...") is never selected, whatever the patterns. 0 or
 * -ENOMEM. */
int vg_colsel_pick(const struct vg_colsel *s, const char **names, size_t n, size_t max,
                   size_t *picked);

#endif
