/* Receiver URLs that carry a credential (a Slack URL's path, user:password@, ?token=), kept out of
 * the world-readable config: each such key has a `_file` form naming a file that holds the URL
 * (the analyzer's slack.url_file, webhook.url_file, ...; the agent's local.webhook.url_file).
 * One implementation for both daemons and vigilctl, so that the file is read, checked, scrubbed
 * from logs and named in errors alike (docs/security.md). */
#ifndef VG_URLFILE_H
#define VG_URLFILE_H

#include <stddef.h>

/* Sets *url to the URL in path, the value of file_key: one line, surrounding spaces trimmed, read
 * as a secret file (vg_secret_read: mode checked, content never in a message), and registers the
 * parts of it that may be a credential for log scrubbing (vg_urlfile_register). A non-empty *url on
 * entry is the inline key (key) set too: -EINVAL, keep one. path NULL or "": 0, *url untouched. On
 * success the old *url is freed and *url is the caller's, malloc'd (vg_config_free wipes it). 0 or
 * negative errno, err naming file_key and the path. */
int vg_urlfile_read(const char *key, const char *file_key, const char *path, char **url, char *err,
                    size_t errlen);

/* Registers for log scrubbing (vg_secret_register) the parts of url that may be its credential,
 * not the whole URL, whose host logs must still show: its user:password; each path segment, query
 * value and fragment of 8 bytes or more holding a digit, an upper-case letter or a byte other
 * than [a-z._-], or of 24 bytes or more; every value of a query parameter named as in
 * vg_url_has_credential; and, when any of those is there, the whole path?query#fragment too.
 * Ordinary words in a path ("vigil", "hooks") are not registered: they would be masked wherever
 * logs show them (topic names, directories). vg_urlfile_read does it; a module with a registry
 * of its own (the agent's webhook module) does it too. 0 or negative errno. */
int vg_urlfile_register(const char *url);

/* Whether url names a credential outside its path: user:password@ in the authority, or a query
 * parameter whose whole name is one of token, access_token, auth_token, key, api_key, apikey,
 * secret, client_secret, password, passwd, pass, sig, signature, auth (any case). The fragment is
 * not looked at. A credential in the path (a generic webhook's /hooks/ID/TOKEN) is not seen. */
int vg_url_has_credential(const char *url);

/* Whether a segment of url's path may be a credential, by vg_urlfile_register's rule (8 bytes or
 * more with a digit, an upper-case letter or a byte other than [a-z._-], or 24 bytes or more):
 * a generic webhook's /hooks/ID123/SECRETTOKEN, not /api/v2/alerts. vg_config_dump hides such a
 * path. */
int vg_url_path_has_credential(const char *url);

/* Warns (vg_warn) when key's URL, written in a config file others may read, carries a credential
 * (secret_path: its path is one, as Slack's is: always), naming key and file_key, and saying to
 * let only the group of user (the daemon's `user`, vg_runas_group_of) read the config. Nothing
 * for a URL set from the environment or --set, or read from file (set). Returns 1 when it
 * warned. */
int vg_urlfile_warn_inline(const char *key, const char *file_key, const char *url, const char *file,
                           int secret_path, const char *user);

/* The name errors give the URL by: key when file is unset, else "FILE_KEY (FILE)", so that a
 * refused URL read from a file sends the operator to the file rather than to an inline key that
 * is not set (vg_config_locate still places it: the name starts with file_key). Short, as errors
 * are VG_ERRLEN bytes. Into buf; returns buf, or key itself when file is unset. */
const char *vg_urlfile_key(const char *key, const char *file_key, const char *file, char *buf,
                           size_t n);

#endif
