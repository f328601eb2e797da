/* vigilctl: the operator's tool. Each subcommand lives in its own ctl_<name>.c and is one row of
 * the table in main.c; a subcommand gets argv with argv[0] its name as getopt's messages should
 * say it ("vigilctl eval"), and returns the process exit status: 0 success, 1 the check found
 * problems, 2 usage error. */
#ifndef VG_VIGILCTL_H
#define VG_VIGILCTL_H

#include <stdio.h>

struct vg_ctl_cmd {
    const char *name;
    const char *args;    /* synopsis after the name, for --help */
    const char *summary; /* one line */
    int (*run)(int argc, char **argv);
};

/* The installed analyzer's config: fire-test reads it unless -c says otherwise; replay, report
 * --input and rules check do not (built-in defaults unless -c), as they always did. */
#define VG_CTL_ANALYZER_CONFIG "/etc/vigil/analyzer.yaml"

/* The most -s KEY=VALUE options a command takes. */
#define VG_CTL_MAX_SETS 64

/* The table in main.c, NULL-name terminated. */
extern const struct vg_ctl_cmd vg_ctl_cmds[];

/* Prints "vigilctl NAME ARGS: SUMMARY" style usage of one command to f. */
void vg_ctl_usage(FILE *f, const char *name);

/* Appends a -s KEY=VALUE argument to sets[0..*n) (at most VG_CTL_MAX_SETS); beyond that says
 * "vigilctl CMD: too many --set options" on stderr and returns -1, for a usage error. */
int vg_ctl_add_set(const char *cmd, char **sets, size_t *n, char *arg);

/* Says on stderr which config an offline command scores with ("vigilctl replay: config PATH",
 * or the built-in defaults, naming VG_CTL_ANALYZER_CONFIG where it exists): without -c they
 * do not read the analyzer's, unlike fire-test, and a replay that alerts unlike the analyzer
 * should say why. */
void vg_ctl_say_config(const char *cmd, const char *path, size_t n_sets);

/* Subcommands (one file each). */
int vg_ctl_version(int argc, char **argv);
int vg_ctl_eval(int argc, char **argv);
int vg_ctl_status(int argc, char **argv);    /* ctl_status.c */
int vg_ctl_top(int argc, char **argv);       /* ctl_top.c */
int vg_ctl_alerts(int argc, char **argv);    /* ctl_alerts.c */
int vg_ctl_silence(int argc, char **argv);   /* ctl_silence.c */
int vg_ctl_replay(int argc, char **argv);    /* ctl_replay.c */
int vg_ctl_fire_test(int argc, char **argv); /* ctl_fire_test.c */
int vg_ctl_report(int argc, char **argv);    /* ctl_report.c */
int vg_ctl_rules(int argc, char **argv);     /* ctl_rules.c */
int vg_ctl_config(int argc, char **argv);    /* ctl_config.c */

#endif
