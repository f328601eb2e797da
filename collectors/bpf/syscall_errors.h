/* bpf_syscall_errors: structures shared by syscall_errors.bpf.c and syscall_errors.c. */
#ifndef VG_SYSCALL_ERRORS_H
#define VG_SYSCALL_ERRORS_H

#define SYSERR_MAX_CGROUPS 4096 /* cgroups counted (least recently used go first) */

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
