/* Secrets read from files (HMAC keys, routing keys, Kafka passwords), and the process-wide list
 * of secret values that log lines are scrubbed of.
 *
 * A secret never goes into a config file the operator may paste into a ticket: the config names a
 * file, and only the file's path ever appears in a message. */
#ifndef VG_SECRET_H
#define VG_SECRET_H

#include <stddef.h>
#include <sys/types.h>

#define VG_SECRET_MAX 4096 /* bytes a secret file may hold */

enum vg_secret_trim {
    /* Surrounding spaces, tabs, CRs and newlines are removed: keys and tokens never hold them. */
    VG_SECRET_TRIM_SPACE,
    /* Only one trailing "\n" or "\r\n" is removed: a password may begin or end with a space. */
    VG_SECRET_TRIM_NEWLINE,
};

/* Reads the secret in path: one line (no inner newline or NUL), not empty after trimming, at most
 * VG_SECRET_MAX bytes, a regular file. A file others may read, write or execute, or its group may
 * write, is accepted with one warning naming `what` and the path; so is one its group may read
 * when that group is not the daemon's (vg_secret_set_group, else this process's egid), the
 * warning naming the group: root:vigil 0640 is the packages' setup (docs/install.md), root:adm
 * 0640 lets adm read it. On success *out is malloc'd,
 * NUL-terminated, *len bytes; free it with vg_secret_free(). Errors start with `what` and name the
 * path, never the content. */
int vg_secret_read(const char *path, const char *what, enum vg_secret_trim trim, char **out,
                   size_t *len, char *err, size_t errlen);

/* vg_secret_read, and path may also be a pipe or a character device, read up to its end: a
 * command's secret given as -t <(pass show ...) or /dev/stdin. More than VG_SECRET_MAX bytes are
 * refused as from a file. The daemons' secret files stay regular files (vg_secret_read): a pipe
 * could be read once only, and a reload would find it empty. */
int vg_secret_read_stream(const char *path, const char *what, enum vg_secret_trim trim, char **out,
                          size_t *len, char *err, size_t errlen);

/* The group the daemon runs as, for vg_secret_read's warning, where it is not this process's
 * egid yet: a daemon started as root that becomes a service user, or a --check-config run as
 * root for a unit with User=. Call it before any thread reads a secret. */
void vg_secret_set_group(gid_t gid);

/* Overwrites and frees a secret; NULL is fine. */
void vg_secret_free(char *s, size_t len);

/* Adds a copy of value to the process-wide list that vg_secret_scrub() removes from text. Values
 * shorter than 4 bytes are not added (they would garble every line). 0, or -ENOMEM/-ENOSPC
 * (more than 64 distinct secrets). Thread-safe. */
int vg_secret_register(const char *value);

/* Where the list ends now, for vg_secret_forget_since. */
size_t vg_secret_mark(void);

/* Removes (overwritten, freed) what was registered after mark: the secrets of a config that was
 * only checked (a daemon's reload that applies none of them), which would otherwise stay in
 * memory and, rotated from reload to reload, fill the list until every reload failed. A value
 * registered before mark stays. Only for a process that registers from one thread. */
void vg_secret_forget_since(size_t mark);

/* Replaces every registered secret in buf (NUL-terminated, in place) with "***". Returns the
 * number of replacements. Thread-safe. */
int vg_secret_scrub(char *buf);

#endif
