/* Minimal kernel BTF for CO-RE. libbpf relocates a program against the running kernel's types by
 * parsing all of /sys/kernel/btf/vmlinux (about 6 MB, 12+ MiB of memory while it works), once per
 * BPF object. That transient doubles the agent's peak memory. bpftool's `gen min_core_btf` writes
 * a BTF file holding only the types one object's relocations touch (a few KB), from the same
 * running kernel, so relocations come out identical. It runs once per kernel and object in a
 * child process, and its result is cached by a hash of the kernel's BTF and of the object.
 */
#ifndef VG_BPF_BTF_H
#define VG_BPF_BTF_H

#include <stddef.h>

struct vg_collector_cfg;

/* Puts in path[n] the minimal BTF for the BPF object elf[elf_size] of collector, generating and
 * caching it in cfg->bpf_btf_cache (created when missing) with cfg->bpf_bpftool. Returns 0, or a
 * negative errno when no minimal BTF can be had (minimising off, no bpftool, unwritable cache,
 * bpftool failed): then path is "" and the caller loads with the whole kernel BTF, which works
 * but costs memory; the first such failure is logged once with its reason. */
int vg_bpf_core_btf(const char *collector, const struct vg_collector_cfg *cfg, const void *elf,
                    size_t elf_size, char *path, size_t n);

/* Loading with the minimal BTF that vg_bpf_core_btf() gave (*custom_path, libbpf's
 * btf_custom_path) failed: returns 1 and sets *custom_path to NULL, so that the caller opens and
 * loads the object again with the whole kernel BTF; 0 when it was already NULL. A file that
 * libbpf parses can still be wrong for the object (damaged inside, or not what bpftool made), and
 * would otherwise turn the collector off at every start. */
int vg_bpf_core_btf_retry(const char **custom_path);

/* The load again with the whole kernel BTF worked where the minimal BTF at path gave load_rc:
 * the file is at fault, so it is removed, with one log line naming it, and made again at the
 * next start. */
void vg_bpf_core_btf_bad(const char *collector, const char *path, int load_rc);

/* A 64-bit FNV-1a hash of the file's bytes, continuing from h (start with 0); 0 on read error. */
unsigned long long vg_bpf_hash_file(const char *file, unsigned long long h);

#endif
