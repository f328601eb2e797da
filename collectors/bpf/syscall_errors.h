/* bpf_syscall_errors: structures shared by syscall_errors.bpf.c and syscall_errors.c. */
#ifndef VG_SYSCALL_ERRORS_H
#define VG_SYSCALL_ERRORS_H

/* cgroups counted (least recently used go first); the LRU map is made larger at load, by a batch
 * of free entries per CPU (vg_bpf_lru_size), so that it holds this many */
#define SYSERR_MAX_CGROUPS 4096

enum syserr_class {
    SYSERR_ENOENT,
    SYSERR_EACCES, /* EACCES and EPERM */
    SYSERR_EAGAIN, /* EAGAIN (== EWOULDBLOCK) */
    SYSERR_EINTR,  /* EINTR and the kernel's restart codes, seen before the restart */
    SYSERR_OTHER,
    SYSERR_NCLASSES,
};

struct syserr_counters {
    __u64 c[SYSERR_NCLASSES];
};

#endif
