/* Table-driven configuration.
 *
 * Each daemon declares its keys once in a table (name, type, default, offset into its config
 * struct, help, and for a string the values it may take). From that one table come: defaults,
 * YAML parsing with file:line:column errors, validation of ranges and choices, unknown-key and
 * unknown-choice errors with a "did you mean", --set overrides, environment overrides, the
 * --help key listing, and docs/configuration.md.
 *
 * YAML nesting maps to dotted names: `webhook: {url: x}` sets "webhook.url". A key of type
 * VG_CFG_MAP takes everything below it as free-form string pairs (librdkafka properties, host
 * labels), nested maps joined with dots: `kafka: {security: {protocol: SSL}}` gives
 * "security.protocol" = "SSL".
 */
#ifndef VG_CONFIG_H
#define VG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum vg_cfg_type {
    VG_CFG_STRING,   /* char * (malloc'd, freed by vg_config_free) */
    VG_CFG_INT,      /* int64_t */
    VG_CFG_DOUBLE,   /* double */
    VG_CFG_BOOL,     /* int: true/false/yes/no/on/off */
    VG_CFG_DURATION, /* int64_t milliseconds; written "250ms", "5s", "2m", "1h" */
    VG_CFG_SIZE,     /* int64_t bytes; written "512", "64KiB", "1MiB", "1GiB" */
    VG_CFG_MAP,      /* struct vg_kvlist */
};

struct vg_kv {
    char *key;
    char *value;
};

struct vg_kvlist {
    struct vg_kv *items;
    size_t n;
};

struct vg_cfg_key {
    const char *name;
    enum vg_cfg_type type;
    const char *def; /* default in the same text form as the file; NULL = unset */
    size_t offset;   /* offsetof(daemon config struct, field) */
    double min, max; /* inclusive bounds for numbers; min > max means unbounded */
    const char *env; /* environment variable that overrides the file, or NULL */
    const char *help;
    /* VG_CFG_STRING only: "a|b|c", the only values accepted (compared exactly), checked when the
     * value is set, so a bad one is reported where it was written; NULL = free text. Last, so
     * that the keys without it leave it out (see VG_CFG_KEYS_BEGIN). */
    const char *choices;
    /* VG_CFG_F_* bits. After `choices`: a key with flags writes its choices (NULL for none)
     * first, and the others leave both out. */
    unsigned flags;
};

/* A URL key whose path is itself the credential (a Slack incoming webhook): vg_config_dump shows
 * scheme://host[:port]/... only, as the delivery log does. Implies VG_CFG_F_URL_CREDS. */
#define VG_CFG_F_SECRET_PATH 0x1u
/* A receiver's URL, which may carry credentials in its user:password or query: vg_config_dump
 * shows it as the delivery log does (vg_url_redact). Opt-in, not by name: a URL-named key may
 * hold no credential, and one that is a template (alertmanager.generator_url, with {host}) is
 * what the operator needs to see whole. */
#define VG_CFG_F_URL_CREDS 0x2u
/* A string key naming a file or directory the daemon reads or keeps state in (spool.dir,
 * outbox.dir, rules.dir, every *_file): a value must be an absolute path ("" stays "none", and a
 * default that is a word, cgroup.root's auto, may be written), refused where it was written
 * otherwise. The units run from /, so a relative one named another place than the one
 * --check-config, run from the operator's directory, had judged. The type reads "absolute path"
 * in --help and the docs. */
#define VG_CFG_F_ABS_PATH 0x4u

/* Around a table of keys: entries are positional and most leave the trailing `choices` out,
 * which -Wextra (-Wmissing-field-initializers) would otherwise refuse in every entry. */
#define VG_CFG_KEYS_BEGIN                                                                          \
    _Pragma("GCC diagnostic push")                                                                 \
        _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")
#define VG_CFG_KEYS_END _Pragma("GCC diagnostic pop")

struct vg_config_table {
    const struct vg_cfg_key *keys;
    size_t n;
};

/* Where key's value came from in the last vg_config_load_all (or the loads after it):
 * "FILE:LINE:COLUMN", "environment VAR" or "--set"; NULL for a default. A map (labels, kafka)
 * is placed where it was written, and each entry as MAP.ENTRY ("kafka.acks"). */
const char *vg_config_where(const char *key);

/* Like vg_config_where, but for a map entry read from a file, where its key was written
 * ("labels.bad-key" at the "bad-key" of `  bad-key: x`), for a message about the entry's name
 * rather than its value. Anything else: as vg_config_where. */
const char *vg_config_where_key(const char *key);

/* For a message about a value checked after loading, which starts with the key's name
 * ("log.level: ...", or "kafka property 'acks': ..." for a map entry): prefixes it with
 * vg_config_where(key), as load errors are, or with vg_config_where_key(key) for a property
 * librdkafka does not know ("kafka property 'acks': No such configuration property ...": the
 * key is what is wrong); unchanged when the key is unknown or was not set. */
void vg_config_locate(char *err, size_t errlen);

/* What an unknown key's error (with no close key to suggest) says after it, in parentheses: by
 * default "see --help for the list of keys", true of the daemons that own the table. A program
 * that reads another's table (vigilctl reads the analyzer's, and its --help lists no keys) names
 * where they are listed instead. NULL restores the default. Process-wide; hint is not copied. */
void vg_config_set_keys_hint(const char *hint);

/* Sets every key to its default. Returns 0 or -EINVAL (a bad default, one outside the key's
 * choices, or choices on a key that is not a string: a programming error). */
int vg_config_defaults(const struct vg_config_table *t, void *cfg, char *err, size_t errlen);

/* Reads a YAML file over the current values. Errors read "PATH:LINE:COL: message". */
int vg_config_load_file(const struct vg_config_table *t, void *cfg, const char *path, char *err,
                        size_t errlen);

/* Same, from a buffer; `origin` names it in errors. */
int vg_config_load_buffer(const struct vg_config_table *t, void *cfg, const char *origin,
                          const char *buf, size_t len, char *err, size_t errlen);

/* Applies "key=value" (command line --set). For map keys: "kafka.bootstrap.servers=host:9092". */
int vg_config_set_arg(const struct vg_config_table *t, void *cfg, const char *arg, char *err,
                      size_t errlen);

/* Applies the env overrides declared in the table. */
int vg_config_apply_env(const struct vg_config_table *t, void *cfg, char *err, size_t errlen);

/* Frees strings and maps held in cfg. */
void vg_config_free(const struct vg_config_table *t, void *cfg);

/* Prints the keys for --help: name, type, default, help, and the choices of a key with them. */
void vg_config_print_help(const struct vg_config_table *t, FILE *f);

/* Writes a Markdown table of the keys (docs/configuration.md). */
void vg_config_write_markdown(const struct vg_config_table *t, const char *title, FILE *f);

/* Prints the effective configuration as YAML-ish "key: value" lines (for --check-config). An
 * empty string is written "" (an unset one "(unset)"). Values of keys whose name contains
 * "password", "secret", "token", "ssl.key.pem" or "oauthbearer.config" are masked; keys ending
 * in "_file" hold paths and are shown. A key flagged VG_CFG_F_URL_CREDS, or a map entry whose
 * name ends in "url" (".url", "_url"), holds a URL, shown as the delivery log shows it
 * (vg_url_redact): no user:password, a query as "?...", and no path with VG_CFG_F_SECRET_PATH,
 * when the value was read from the key's "<name>_file" (set in the same table), or when a path
 * segment looks like a credential (vg_url_path_has_credential); a value that does not read as a
 * URL is masked. */
void vg_config_dump(const struct vg_config_table *t, const void *cfg, FILE *f);

/* Names the keys whose values differ between two configs loaded from table t: writes them to
 * out, comma-separated in table order, a map's entries as MAP.ENTRY ("kafka.sasl.password" for
 * one added, removed or changed), and returns how many there are. Keys named in skip
 * (NULL-terminated, may be NULL) are left out, their entries too. Values are compared, never
 * written, so a changed secret shows as its name only. When out is too short the list ends in
 * "..." and the count still covers every key. For a reload that applies some keys and must say
 * which of the others changed. */
size_t vg_config_diff(const struct vg_config_table *t, const void *a, const void *b,
                      const char *const *skip, char *out, size_t outlen);

/* Looks a key up in a map; returns the value or NULL. */
const char *vg_kvlist_get(const struct vg_kvlist *l, const char *key);

/* Sets key=value in a map (replacing an existing key); both are copied. 0 or -ENOMEM. */
int vg_kvlist_set(struct vg_kvlist *l, const char *key, const char *value);

void vg_kvlist_free(struct vg_kvlist *l);

/* Parse helpers shared with other modules; each returns 0 or -EINVAL. */
int vg_parse_duration_ms(const char *s, int64_t *out);
int vg_parse_size(const char *s, int64_t *out);

/* The daemons' load order, later wins: defaults, the YAML file (if path != NULL), the
 * environment, then each "key=value" of sets[0..n_sets). */
int vg_config_load_all(const struct vg_config_table *t, void *cfg, const char *path,
                       char *const *sets, size_t n_sets, char *err, size_t errlen);
#endif
