/* The fsspace collector: which mounts of a mountinfo fixture (tests/data/proc/mounts) it chooses,
 * that network and FUSE mounts are never statfs'ed, what it computes from statfs(), what it says
 * when it leaves mounts out, and the real statfs() of this host's root.
 *
 * The fixture tests replace statfs() (vg_fsspace_statfs) with one that records the paths asked
 * and answers made-up numbers, so they do not depend on this host's mounts.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_collector.h"
#include "vg_fsspace.h"
#include "vg_util.h"
#include "vg_wire.h"

#define MOUNTINFO VG_TEST_DATA "/proc/mounts/self/mountinfo"

/* ---- a statfs() that records ---- */

#define MAX_ASKED 1024
static char g_asked[MAX_ASKED][256];
static size_t g_n_asked;
static const char *g_fail_path; /* statfs of this path fails with EACCES */

static int fake_statfs(const char *path, struct statfs *sb)
{
    if (g_n_asked < MAX_ASKED)
        snprintf(g_asked[g_n_asked++], sizeof g_asked[0], "%s", path);
    if (g_fail_path && strcmp(path, g_fail_path) == 0) {
        errno = EACCES;
        return -1;
    }
    memset(sb, 0, sizeof *sb);
    sb->f_bsize = 4096;
    sb->f_frsize = 4096;
    sb->f_blocks = 1000;
    sb->f_bfree = 300;
    sb->f_bavail = 250;
    /* btrfs has no inode count. */
    sb->f_files = strcmp(path, "/btr") == 0 ? 0 : 100;
    sb->f_ffree = strcmp(path, "/btr") == 0 ? 0 : 40;
    return 0;
}

static size_t times_asked(const char *path)
{
    size_t n = 0;
    for (size_t i = 0; i < g_n_asked; i++)
        n += strcmp(g_asked[i], path) == 0;
    return n;
}

/* ---- a collector over a scratch proc root ---- */

struct run {
    char root[64];
    struct vg_collector_cfg cfg;
    const struct vg_collector *c;
    void *state;
    struct vg_wire_msg msg;
    char err[VG_ERRLEN];
};

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    *len = fread(buf, 1, sizeof buf - 1, f);
    assert_true(feof(f));
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

static void put_mountinfo(struct run *r, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/self/mountinfo", r->root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void run_setup(struct run *r, const char *mountinfo)
{
    memset(r, 0, sizeof *r);
    snprintf(r->root, sizeof r->root, "/tmp/vg-fsspace-XXXXXX");
    assert_non_null(mkdtemp(r->root));
    char self[96];
    snprintf(self, sizeof self, "%s/self", r->root);
    assert_int_equal(mkdir(self, 0755), 0);
    put_mountinfo(r, mountinfo);
    r->cfg.proc_root = r->root;
    r->c = vg_collector_find("fsspace");
    assert_non_null(r->c);
    vg_wire_msg_init(&r->msg);
    g_n_asked = 0;
    g_fail_path = NULL;
    vg_fsspace_statfs = fake_statfs;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void run_teardown(struct run *r)
{
    if (r->state)
        r->c->fini(r->state);
    vg_wire_msg_free(&r->msg);
    nftw(r->root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    vg_fsspace_statfs = statfs;
}

static int run_init(struct run *r)
{
    r->err[0] = '\0';
    return r->c->init(&r->state, &r->cfg, r->err, sizeof r->err);
}

static int run_tick(struct run *r)
{
    vg_wire_msg_reset(&r->msg);
    r->err[0] = '\0';
    return r->c->collect(r->state, vg_mono_ms(), &r->msg, r->err, sizeof r->err);
}

static const struct vg_metric *find(const struct vg_wire_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_metrics; i++)
        if (strcmp(m->metrics[i].name, name) == 0)
            return &m->metrics[i];
    return NULL;
}

static double value(const struct vg_wire_msg *m, const char *name)
{
    const struct vg_metric *v = find(m, name);
    if (!v)
        fail_msg("%s missing", name);
    return v->value;
}

static char *fixture(void)
{
    size_t len;
    return slurp(MOUNTINFO, &len);
}

/* ---- tests ---- */

/* The fixture's local file systems, in file order, and their metric-name components. */
static const char *const chosen[][2] = {
    {"/", "root"},     {"/dev/shm", "dev_shm"},         {"/run", "run"},
    {"/data", "data"}, {"/mnt/my disk", "mnt_my_disk"}, {"/btr", "btr"},
    {"/tmp", "tmp"},
};

static void select_keeps_local_file_systems_once_each(void **unused)
{
    size_t len;
    char *text = slurp(MOUNTINFO, &len);
    char err[VG_ERRLEN] = "";
    struct vg_fsspace_set set;
    assert_int_equal(vg_fsspace_select(text, len, "mountinfo", 64, &set, err, sizeof err), 0);
    for (size_t i = 0; i < set.n; i++)
        printf("chosen: %s as %s (%u:%u)\n", set.m[i].path, set.m[i].key, set.m[i].major,
               set.m[i].minor);
    assert_int_equal(set.n, VG_ARRAY_LEN(chosen));
    for (size_t i = 0; i < set.n; i++) {
        assert_string_equal(set.m[i].path, chosen[i][0]);
        assert_string_equal(set.m[i].key, chosen[i][1]);
    }
    /* nfs4, fuse.sshfs, cifs (autofs is not a network file system). */
    assert_int_equal(set.remote, 3);
    /* The ext4 mounted on /mnt/nfs/local. */
    assert_int_equal(set.under_remote, 1);
    assert_int_equal(set.excess, 0);
    assert_int_equal(set.dups, 0);
    vg_fsspace_set_free(&set);
}

/* A mount on /mnt after one on /mnt/x covers it: statfs("/mnt/x") would read /mnt's file
 * system, or fail. /mntx, listed before /mnt too, is not below it. */
static void mount_covered_by_a_later_mount_on_a_parent_path_is_left_out(void **unused)
{
    size_t len;
    char *text = slurp(VG_TEST_DATA "/proc/mounts/covered/mountinfo", &len);
    char err[VG_ERRLEN] = "";
    struct vg_fsspace_set set;
    assert_int_equal(vg_fsspace_select(text, len, "mountinfo", 64, &set, err, sizeof err), 0);
    static const char *const want[] = {"/", "/mntx", "/mnt"};
    assert_int_equal(set.n, VG_ARRAY_LEN(want));
    for (size_t i = 0; i < set.n; i++)
        assert_string_equal(set.m[i].path, want[i]);
    assert_int_equal(set.under_remote, 0);
    assert_int_equal(set.dups, 0);
    vg_fsspace_set_free(&set);
}

static void kinds_of_file_systems(void **unused)
{
    assert_int_equal(vg_fsspace_kind("ext4", "/x"), VG_FS_LOCAL);
    assert_int_equal(vg_fsspace_kind("xfs", "/x"), VG_FS_LOCAL);
    assert_int_equal(vg_fsspace_kind("tmpfs", "/dev/shm"), VG_FS_LOCAL);
    assert_int_equal(vg_fsspace_kind("tmpfs", "/run/user/1000"), VG_FS_SKIP);
    assert_int_equal(vg_fsspace_kind("devtmpfs", "/dev"), VG_FS_SKIP);
    assert_int_equal(vg_fsspace_kind("overlay", "/"), VG_FS_SKIP);
    assert_int_equal(vg_fsspace_kind("squashfs", "/snap/x"), VG_FS_SKIP);
    assert_int_equal(vg_fsspace_kind("proc", "/proc"), VG_FS_SKIP);
    assert_int_equal(vg_fsspace_kind("cgroup2", "/sys/fs/cgroup"), VG_FS_SKIP);
    static const char *const remote[] = {"nfs",     "nfs4",       "cifs",       "smb3",
                                         "ceph",    "glusterfs",  "9p",         "fuse",
                                         "fuseblk", "fuse.sshfs", "fuse.rclone"};
    for (size_t i = 0; i < VG_ARRAY_LEN(remote); i++)
        if (vg_fsspace_kind(remote[i], "/mnt") != VG_FS_REMOTE)
            fail_msg("%s is not taken for a remote file system", remote[i]);
    assert_int_equal(vg_fsspace_kind("autofs", "/boot"), VG_FS_TRIGGER);
}

static void keys_from_mount_points(void **unused)
{
    char key[VG_DEV_NAME_MAX + 1];
    vg_fsspace_key(key, "/");
    assert_string_equal(key, "root");
    vg_fsspace_key(key, "/var/log");
    assert_string_equal(key, "var_log");
    vg_fsspace_key(key, "/mnt/a b\\c+d");
    assert_string_equal(key, "mnt_a_b_c_d");
    vg_fsspace_key(key, "/mnt/v1.2:x-y");
    assert_string_equal(key, "mnt_v1.2:x-y");
    /* Long: '_' and the last 63 bytes, which tell the volumes of one pod apart. */
    const char *pv = "/var/lib/kubelet/pods/0b6c2f1e-4c1d-4b8e-9a77-2f0e5d1c9a10/volumes/"
                     "kubernetes.io~csi/pvc-5d8f2b1c-0d7e-4f1a-8c3b-6e9a2d4f7b01/mount";
    vg_fsspace_key(key, pv);
    assert_int_equal(strlen(key), VG_DEV_NAME_MAX);
    assert_int_equal(key[0], '_');
    assert_non_null(strstr(key, "pvc-5d8f2b1c-0d7e-4f1a-8c3b-6e9a2d4f7b01_mount"));
    char name[VG_WIRE_NAME_MAX + 1];
    snprintf(name, sizeof name, "fsspace.%s.inodes_used_pct", key);
    assert_int_equal(vg_wire_name_valid(name), 0);
}

struct seen {
    char mnt[8][64];
    char fstype[8][16];
    size_t n;
};

static int on_line(void *ctx, const struct vg_mountinfo_line *m)
{
    struct seen *s = ctx;
    assert_true(s->n < 8);
    assert_int_equal(strlen(m->mnt), m->mnt_len);
    snprintf(s->mnt[s->n], sizeof s->mnt[0], "%s", m->mnt);
    snprintf(s->fstype[s->n], sizeof s->fstype[0], "%s", m->fstype);
    s->n++;
    return 0;
}

static void parser_unescapes_and_reports_malformed_lines(void **unused)
{
    const char text[] = "1 0 8:1 / / rw shared:1 - ext4 /dev/sda1 rw\n"
                        "2 1 8:2 / /a\\040b\\011c\\134d rw - xfs /dev/sda2 rw\n"
                        "3 1 8:3 / /no-separator rw shared:1 ext4 /dev/x rw\n"
                        "4 1 8x3 / /bad-dev rw - ext4 /dev/x rw\n"
                        "5 1 8:4 / relative rw - ext4 /dev/x rw\n"
                        "6 1 8:5 / /nul\\000 rw - ext4 /dev/x rw\n"
                        "7 1 8:6 / /short\n"
                        "8 1 8:7 / /opt rw master:3 shared:9 - fuse.sshfs u@h:/ rw\n";
    struct seen s = {0};
    char err[VG_ERRLEN] = "";
    assert_int_equal(vg_parse_mountinfo(text, sizeof text - 1, "mi", on_line, &s, err, sizeof err),
                     -EINVAL);
    assert_string_equal(err, "mi:3: line has no ' - ' separator before the file system type");
    assert_int_equal(s.n, 3);
    assert_string_equal(s.mnt[0], "/");
    assert_string_equal(s.mnt[1], "/a b\tc\\d");
    assert_string_equal(s.fstype[1], "xfs");
    assert_string_equal(s.mnt[2], "/opt");
    assert_string_equal(s.fstype[2], "fuse.sshfs");
}

static void collector_never_statfs_remote_mounts(void **unused)
{
    struct run r;
    run_setup(&r, fixture());
    assert_int_equal(run_init(&r), 0);
    /* The first tick says, once, that /mnt/nfs/local is left out. */
    assert_int_equal(run_tick(&r), -EXDEV);
    assert_non_null(strstr(r.err, "1 local mount below a network or FUSE mount point"));
    for (int t = 0; t < 3; t++)
        if (run_tick(&r) != 0)
            fail_msg("tick %d: %s", t, r.err);
    static const char *const never[] = {"/mnt/nfs",          "/mnt/nfs/local",
                                        "/home/u/remote",    "/net",
                                        "/mnt/cifs",         "/run/user/1000",
                                        "/srv/www",          "/proc",
                                        "/snap/core22/1033", "/var/lib/docker/overlay2/abc/merged"};
    for (size_t i = 0; i < VG_ARRAY_LEN(never); i++)
        if (times_asked(never[i]))
            fail_msg("statfs(%s) was called", never[i]);
    for (size_t i = 0; i < VG_ARRAY_LEN(chosen); i++)
        assert_int_equal(times_asked(chosen[i][0]), 4);
    assert_int_equal(g_n_asked, 4 * VG_ARRAY_LEN(chosen));
    run_teardown(&r);
}

/* systemd's /boot and /efi, and x-systemd.automount: an autofs mount and, once used, the local
 * file system on the same path. That one is reported, with no word of a network server; the
 * autofs mount points are never statfs'ed (that would mount them), and an NFS mount an indirect
 * map made is left out by its own type. */
static void automounted_local_file_systems_are_reported(void **unused)
{
    size_t len;
    struct run r;
    run_setup(&r, slurp(VG_TEST_DATA "/proc/mounts/automount/mountinfo", &len));
    assert_int_equal(run_init(&r), 0);
    for (int t = 0; t < 3; t++)
        if (run_tick(&r) != 0)
            fail_msg("tick %d: %s", t, r.err);
    assert_non_null(find(&r.msg, "fsspace.boot.avail_bytes"));
    assert_non_null(find(&r.msg, "fsspace.home_alice.avail_bytes"));
    static const char *const never[] = {"/efi", "/home", "/home/bob"};
    for (size_t i = 0; i < VG_ARRAY_LEN(never); i++)
        if (times_asked(never[i]))
            fail_msg("statfs(%s) was called", never[i]);
    assert_int_equal(times_asked("/boot"), 3);
    assert_int_equal(g_n_asked, 3 * 3);
    run_teardown(&r);
}

static void collector_values_from_statfs(void **unused)
{
    struct run r;
    run_setup(&r, fixture());
    assert_int_equal(run_init(&r), 0);
    run_tick(&r);
    assert_true(value(&r.msg, "fsspace.root.avail_bytes") == 250.0 * 4096);
    /* df's Use%: used / (used + avail), root's reserve (bfree - bavail) left out. */
    assert_true(value(&r.msg, "fsspace.root.used_pct") == 100.0 * 700 / 950);
    assert_true(value(&r.msg, "fsspace.root.inodes_free") == 40);
    assert_true(value(&r.msg, "fsspace.root.inodes_used_pct") == 60);
    assert_true(value(&r.msg, "fsspace.mnt_my_disk.used_pct") == 100.0 * 700 / 950);
    /* btrfs: no inode count, no inode metrics. */
    assert_true(value(&r.msg, "fsspace.btr.avail_bytes") == 250.0 * 4096);
    assert_null(find(&r.msg, "fsspace.btr.inodes_free"));
    assert_null(find(&r.msg, "fsspace.btr.inodes_used_pct"));
    assert_int_equal(r.msg.n_metrics, 4 * VG_ARRAY_LEN(chosen) - 2);
    /* Every name is one the wire format takes and the table documents. */
    for (size_t i = 0; i < r.msg.n_metrics; i++)
        assert_int_equal(vg_wire_name_valid(r.msg.metrics[i].name), 0);
    run_teardown(&r);
}

static void max_leaves_the_rest_out_and_says_so_once(void **unused)
{
    struct run r;
    run_setup(&r, fixture());
    r.cfg.fsspace_max = 2;
    assert_int_equal(run_init(&r), 0);
    int rc = run_tick(&r);
    assert_true(rc < 0);
    assert_non_null(strstr(r.err, "7 local file systems, more than fsspace.max (2): the first 2"));
    assert_non_null(find(&r.msg, "fsspace.root.avail_bytes"));
    assert_non_null(find(&r.msg, "fsspace.dev_shm.avail_bytes"));
    assert_null(find(&r.msg, "fsspace.run.avail_bytes"));
    assert_int_equal(run_tick(&r), 0);
    assert_int_equal(g_n_asked, 4);
    run_teardown(&r);
}

static void statfs_failure_is_said_once_and_the_mount_left_alone(void **unused)
{
    struct run r;
    run_setup(&r, fixture());
    assert_int_equal(run_init(&r), 0);
    run_tick(&r); /* says the mount below nfs */
    g_fail_path = "/data";
    g_n_asked = 0;
    assert_int_equal(run_tick(&r), -EACCES);
    assert_non_null(strstr(r.err, "statfs /data: Permission denied"));
    assert_null(find(&r.msg, "fsspace.data.avail_bytes"));
    assert_non_null(find(&r.msg, "fsspace.tmp.avail_bytes"));
    /* Not asked again, not said again, even though mountinfo is read again. */
    for (int t = 0; t < 70; t++)
        if (run_tick(&r) != 0)
            fail_msg("tick %d: %s", t, r.err);
    assert_int_equal(times_asked("/data"), 1);
    assert_int_equal(times_asked("/"), 71);
    run_teardown(&r);
}

static void mount_table_read_again(void **unused)
{
    struct run r;
    run_setup(&r, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r), 0);
    assert_null(find(&r.msg, "fsspace.srv.avail_bytes"));
    put_mountinfo(&r, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
                      "2 1 8:2 / /srv rw - xfs /dev/sda2 rw\n");
    /* A file gives no poll() signal: read again within 60 ticks all the same. */
    int t = 0;
    while (t++ < 60 && !find(&r.msg, "fsspace.srv.avail_bytes"))
        assert_int_equal(run_tick(&r), 0);
    assert_non_null(find(&r.msg, "fsspace.srv.avail_bytes"));
    run_teardown(&r);
}

/* mountinfo read again holding nothing usable: said once, and the mounts it no longer lists go. */
static void garbage_mountinfo_read_again_is_said(void **unused)
{
    struct run r;
    run_setup(&r, "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n");
    assert_int_equal(run_init(&r), 0);
    assert_int_equal(run_tick(&r), 0);
    put_mountinfo(&r, "\377\376 - ext4\n");
    int t = 0, rc = 0;
    while (t++ < 60 && (rc = run_tick(&r)) == 0)
        ;
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(r.err, "/self/mountinfo:1: line has fewer than 6 fields"));
    assert_int_equal(run_tick(&r), 0);
    assert_int_equal(r.msg.n_metrics, 0);
    run_teardown(&r);
}

static void message_size_limit_keeps_the_first_mounts(void **unused)
{
    struct run r;
    run_setup(&r, fixture());
    /* Room for the first mount's four metrics at their longest, and not the second's. */
    size_t one = 0;
    static const char *const sfx[] = {"avail_bytes", "used_pct", "inodes_free", "inodes_used_pct"};
    for (size_t i = 0; i < 4; i++)
        one += VG_WIRE_METRIC_SIZE_MAX(strlen("fsspace.root.") + strlen(sfx[i]));
    struct vg_wire_msg empty;
    vg_wire_msg_init(&empty);
    r.cfg.max_message_bytes = vg_wire_msg_size_max(&empty) + one + 10;
    vg_wire_msg_free(&empty);
    assert_int_equal(run_init(&r), 0);
    run_tick(&r);
    assert_int_equal(run_tick(&r), -EMSGSIZE);
    assert_non_null(strstr(r.err, "the first 1 are reported, 6 left out"));
    assert_non_null(find(&r.msg, "fsspace.root.avail_bytes"));
    assert_null(find(&r.msg, "fsspace.dev_shm.avail_bytes"));
    assert_true(vg_wire_msg_size_max(&r.msg) <= r.cfg.max_message_bytes);
    run_teardown(&r);
}

/* The real statfs() on this host's root, through the real /proc/self/mountinfo. */
static void live_root_is_plausible(void **unused)
{
    const struct vg_collector *c = vg_collector_find("fsspace");
    const struct vg_collector_cfg cfg = {.proc_root = "/proc"};
    char err[VG_ERRLEN];
    void *st = NULL;
    struct vg_wire_msg msg;
    vg_wire_msg_init(&msg);
    vg_fsspace_statfs = statfs;
    if (c->init(&st, &cfg, err, sizeof err) < 0)
        fail_msg("init: %s", err);
    c->collect(st, vg_mono_ms(), &msg, err, sizeof err);
    struct statfs sb;
    assert_int_equal(statfs("/", &sb), 0);
    if (sb.f_type == 0x794c7630 /* overlay: a container's root, not reported */) {
        c->fini(st);
        vg_wire_msg_free(&msg);
        skip();
    }
    double size = (double)sb.f_blocks * (double)(sb.f_frsize ? sb.f_frsize : sb.f_bsize);
    double avail = value(&msg, "fsspace.root.avail_bytes");
    double pct = value(&msg, "fsspace.root.used_pct");
    printf("/: avail %.0f of %.0f bytes, %.2f %% used\n", avail, size, pct);
    assert_true(avail >= 0 && avail <= size);
    assert_true(pct >= 0 && pct <= 100);
    if (sb.f_files > 0) {
        double ipct = value(&msg, "fsspace.root.inodes_used_pct");
        assert_true(ipct >= 0 && ipct <= 100);
        assert_true(value(&msg, "fsspace.root.inodes_free") <= (double)sb.f_files);
    }
    c->fini(st);
    vg_wire_msg_free(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(select_keeps_local_file_systems_once_each),
        cmocka_unit_test(mount_covered_by_a_later_mount_on_a_parent_path_is_left_out),
        cmocka_unit_test(kinds_of_file_systems),
        cmocka_unit_test(keys_from_mount_points),
        cmocka_unit_test(parser_unescapes_and_reports_malformed_lines),
        cmocka_unit_test(collector_never_statfs_remote_mounts),
        cmocka_unit_test(automounted_local_file_systems_are_reported),
        cmocka_unit_test(collector_values_from_statfs),
        cmocka_unit_test(max_leaves_the_rest_out_and_says_so_once),
        cmocka_unit_test(statfs_failure_is_said_once_and_the_mount_left_alone),
        cmocka_unit_test(mount_table_read_again),
        cmocka_unit_test(garbage_mountinfo_read_again_is_said),
        cmocka_unit_test(message_size_limit_keeps_the_first_mounts),
        cmocka_unit_test(live_root_is_plausible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
