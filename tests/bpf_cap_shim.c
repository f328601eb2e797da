/* LD_PRELOAD shim for test_security: makes bpf() behave as on a kernel before 6.5 with
 * kernel.unprivileged_bpf_disabled set, where every bpf() command fails with EPERM unless the
 * calling thread has CAP_BPF or CAP_SYS_ADMIN in its effective set. This kernel (6.5+) checks
 * capabilities per command and lets a process read maps it holds descriptors for with none, so
 * the agent's privilege drop never takes its keep-CAP_BPF branch here; with the shim it must,
 * and its eBPF maps must still be readable afterwards.
 *
 * It interposes libc's syscall(), which both the agent's probe and libbpf's sys_bpf() call;
 * everything that is not bpf() passes through untouched. */
#include <dlfcn.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);

static syscall_fn real_syscall(void)
{
    static syscall_fn fn;
    if (!fn)
        fn = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
    return fn;
}

static int bpf_capable(syscall_fn sc)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {{0}};
    if (sc(SYS_capget, &h, d) != 0)
        return 0;
    unsigned long long eff = (unsigned long long)d[0].effective | (unsigned long long)d[1].effective
                                                                      << 32;
    return (eff >> CAP_BPF & 1) || (eff >> CAP_SYS_ADMIN & 1);
}

long syscall(long number, ...)
{
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    syscall_fn sc = real_syscall();
    if (!sc) {
        errno = ENOSYS;
        return -1;
    }
    if (number == SYS_bpf && !bpf_capable(sc)) {
        errno = EPERM;
        return -1;
    }
    return sc(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
