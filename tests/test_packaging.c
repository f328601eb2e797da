/* The .deb packages' contents and maintainer scripts, without installing anything on this host:
 * each component is installed with DESTDIR into a temporary tree (the files cpack puts in its
 * package), and the postinst scripts run against stub commands that record what they are asked
 * to do. scripts/test-packages.sh installs the real packages, as root, where that is allowed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vg_testproc.h"

static char g_dir[256];

/* Installs component comp (agent, analyzer) under DIR/comp as cpack packages it (prefix /usr);
 * writes the root to root. */
static void install_component(const char *comp, char *root, size_t n)
{
    snprintf(root, n, "%s/%s", g_dir, comp);
    char log[600];
    snprintf(log, sizeof log, "%s/install-%s.log", g_dir, comp);
    if (vg_tp_sh("DESTDIR=%s %s --install %s --prefix /usr --component %s >%s 2>&1", root, VG_CMAKE,
                 VG_BIN_DIR, comp, log) != 0) {
        char *t = vg_tp_read(log);
        fail_msg("cmake --install --component %s failed: %s", comp, t ? t : "");
    }
}

static int exists(const char *root, const char *rel)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    return access(p, F_OK) == 0;
}

/* Every document the package's configs, units, man pages and examples refer to is in the
 * package: "docs/X.md" (the project's name for it) as /usr/share/doc/PKG/X.md, README.md there
 * too, and each /usr/share/doc/... path as written. The analyzer's config sent readers to a
 * rules.md and rule examples the package did not have. */
static void check_references(const char *comp, const char *pkg)
{
    char root[600], refs[700];
    install_component(comp, root, sizeof root);
    snprintf(refs, sizeof refs, "%s/refs-%s", g_dir, comp);
    /* roff writes '-' as '\-'; the man pages are gzipped. */
    assert_int_equal(vg_tp_sh("cd %s && { cat etc/vigil/*.yaml lib/systemd/system/*.service; "
                              "if [ -d usr/share/doc/%s/examples ]; then "
                              "find usr/share/doc/%s/examples -type f -exec cat {} +; fi; "
                              "for m in usr/share/man/man*/*.gz; do zcat $m | sed 's/\\\\-/-/g'; "
                              "done; } | grep -o 'docs/[A-Za-z0-9_.-]*[.]md\\|README[.]md\\|"
                              "/usr/share/doc/[A-Za-z0-9_./-]*' | sed 's/[.]$//' | sort -u >%s",
                              root, pkg, pkg, refs),
                     0);
    char *t = vg_tp_read(refs);
    assert_non_null(t);
    int n = 0, docs = 0;
    for (char *save = NULL, *r = strtok_r(t, "\n", &save); r; r = strtok_r(NULL, "\n", &save)) {
        char rel[600];
        if (strncmp(r, "docs/", 5) == 0) {
            snprintf(rel, sizeof rel, "usr/share/doc/%s/%s", pkg, r + 5);
            docs++;
        } else if (strcmp(r, "README.md") == 0) {
            snprintf(rel, sizeof rel, "usr/share/doc/%s/README.md", pkg);
        } else {
            snprintf(rel, sizeof rel, "%s", r + 1);
        }
        if (!exists(root, rel))
            fail_msg("vigil-%s: its files refer to %s, which the package does not have (/%s)", comp,
                     r, rel);
        n++;
    }
    free(t);
    /* The extraction found something: configuration.md and a few docs/ in each package. */
    assert_true(n >= 4);
    assert_true(docs >= 3);
    /* The shipped documents' own references, by file name ("listed in metrics.md", a link to
     * ebpf.md): each that names one of docs/ is shipped too. rules.md in the analyzer package
     * sent readers to a metrics.md only the agent package had. */
    char missing[700];
    snprintf(missing, sizeof missing, "%s/missing-%s", g_dir, comp);
    assert_int_equal(vg_tp_sh("cd %s/usr/share/doc/%s && for d in $(cat *.md | "
                              "grep -o '[A-Za-z0-9_-]*[.]md' | sort -u); do "
                              "[ -f %s/docs/$d ] || continue; [ -f $d ] || echo $d; done >%s",
                              root, pkg, VG_SOURCE_DIR, missing),
                     0);
    char *m = vg_tp_read(missing);
    assert_non_null(m);
    if (*m)
        fail_msg("vigil-%s: its documents refer to documents it does not ship:\n%s", comp, m);
    free(m);
}

static void packages_have_every_document_their_files_refer_to(void **state)
{
    (void)state;
    check_references("agent", "vigil-agent");
    check_references("analyzer", "vigil-analyzer");
}

/* The rule examples (docs/rules.md, "Examples") are in the analyzer package, and its config
 * names where. */
static void analyzer_package_ships_the_rule_examples(void **state)
{
    (void)state;
    char root[600];
    install_component("analyzer", root, sizeof root);
    const char *ex[] = {"host-anomaly.yaml", "host-anomaly-mv.yaml", "disk-latency.yaml",
                        "network-retransmits.yaml", "scale-out-cpu.yaml"};
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        char rel[300];
        snprintf(rel, sizeof rel, "usr/share/doc/vigil-analyzer/examples/rules/%s", ex[i]);
        if (!exists(root, rel))
            fail_msg("vigil-analyzer has no /%s", rel);
    }
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/etc/vigil/analyzer.yaml", root);
    char *t = vg_tp_read(cfg);
    assert_non_null(t);
    assert_non_null(strstr(t, "Examples: /usr/share/doc/vigil-analyzer/examples/rules/"));
    free(t);
}

/* Runs a maintainer script (postinst, postrm) of comp with args, every command it runs being a
 * stub that appends "NAME ARGS" to a log, which is returned. getent finds no vigil user (a first
 * install); deb-systemd-helper knows nothing of the unit (debian-installed and was-enabled fail);
 * dpkg-query answers the other package's status with other_status ("" : no such package). */
static char *run_script(const char *comp, const char *script, const char *args,
                        const char *other_status)
{
    char stubs[600], log[600];
    snprintf(stubs, sizeof stubs, "%s/stubs-%s-%s", g_dir, comp, script);
    snprintf(log, sizeof log, "%s/%s-%s.log", g_dir, script, comp);
    assert_int_equal(
        vg_tp_sh("mkdir -p %s && cd %s && "
                 "printf '#!/bin/sh\\necho \"${0##*/} $*\" >>%s\\n"
                 "case \"${0##*/} $1\" in getent*) exit 2;; "
                 "\"deb-systemd-helper debian-installed\"|"
                 "\"deb-systemd-helper --quiet\") exit 1;; "
                 "dpkg-query*) [ -n \"$OTHER\" ] || exit 1; printf %%s \"$OTHER\";; "
                 "esac\\nexit 0\\n' >stub && "
                 "chmod +x stub && for c in getent adduser deluser install rm rmdir ls setpriv "
                 "deb-systemd-helper deb-systemd-invoke systemctl dpkg-query; do "
                 "ln -sf stub $c; done && : >%s",
                 stubs, stubs, log, log),
        0);
    assert_int_equal(vg_tp_sh("OTHER='%s' PATH=%s /bin/sh %s/packaging/debian/%s/%s %s "
                              ">%s/%s-%s.out 2>&1",
                              other_status, stubs, VG_SOURCE_DIR, comp, script, args, g_dir, script,
                              comp),
                     0);
    char *t = vg_tp_read(log);
    assert_non_null(t);
    return t;
}

static char *run_postinst(const char *comp)
{
    return run_script(comp, "postinst", "configure ''", "");
}

/* adduser --home of a directory that does not exist yet warned "The home dir /var/lib/vigil you
 * specified can't be accessed" on every first install: the directory comes first, and is the
 * vigil user's once the user exists. */
static void postinst_makes_the_home_directory_before_the_user(void **state)
{
    (void)state;
    const char *comps[] = {"agent", "analyzer"};
    for (size_t i = 0; i < 2; i++) {
        char *t = run_postinst(comps[i]);
        const char *mkdir = strstr(t, "install -d -m 0750 /var/lib/vigil\n");
        const char *user = strstr(t, "adduser ");
        const char *own = strstr(t, "install -d -o vigil -g vigil -m 0750 /var/lib/vigil\n");
        if (!mkdir || !user || !own || !(mkdir < user && user < own))
            fail_msg("%s postinst: want install -d, adduser, install -o vigil, in that order:\n%s",
                     comps[i], t);
        assert_non_null(strstr(user, "--home /var/lib/vigil --no-create-home"));
        free(t);
    }
}

/* A fresh install leaves the unit disabled: the shipped configs point at a placeholder Kafka, so a
 * reboot before they are edited must not start it. deb-systemd-helper records the links enabling
 * would make (update-state), so that remove and purge can take away those the admin makes. */
static void postinst_installs_the_unit_disabled(void **state)
{
    (void)state;
    const char *comps[] = {"agent", "analyzer"};
    for (size_t i = 0; i < 2; i++) {
        char *t = run_postinst(comps[i]);
        if (strstr(t, "deb-systemd-helper enable") || strstr(t, "systemctl enable"))
            fail_msg("%s postinst enables its unit on a fresh install:\n%s", comps[i], t);
        char want[100];
        snprintf(want, sizeof want, "deb-systemd-helper update-state vigil-%s.service", comps[i]);
        assert_non_null(strstr(t, want));
        free(t);
    }
}

/* remove takes the unit's links away (no dangling multi-user.target.wants link to a unit file
 * that is gone); purge its deb-systemd-helper state too. */
static void postrm_remove_disables_the_unit(void **state)
{
    (void)state;
    char *t = run_script("agent", "postrm", "remove", "");
    assert_non_null(strstr(t, "deb-systemd-helper disable vigil-agent.service"));
    assert_null(strstr(t, "rm "));
    free(t);
    t = run_script("analyzer", "postrm", "purge", "");
    assert_non_null(strstr(t, "deb-systemd-helper purge vigil-analyzer.service"));
    free(t);
}

/* Purging one package leaves the shared state (/var/lib/vigil: the analyzer's outbox and
 * silences) while the other is on the host in any state, "removed, config kept" (rc) included;
 * dpkg-query's Status field says "deinstall ok config-files" then, which the old grep for
 * "installed" missed. Neither purge ever deletes the vigil user (docs/install.md, "Removing"). */
static void postrm_purge_keeps_the_shared_state_while_the_other_package_is_there(void **state)
{
    (void)state;
    const char *kept[] = {"installed", "config-files",     "half-installed",  "half-configured",
                          "unpacked",  "triggers-awaited", "triggers-pending"};
    const char *comps[][2] = {{"agent", "analyzer"}, {"analyzer", "agent"}};
    for (size_t c = 0; c < 2; c++) {
        for (size_t i = 0; i < sizeof kept / sizeof *kept; i++) {
            char *t = run_script(comps[c][0], "postrm", "purge", kept[i]);
            char want[100];
            snprintf(want, sizeof want, "dpkg-query -W -f=${db:Status-Status} vigil-%s",
                     comps[c][1]);
            assert_non_null(strstr(t, want));
            if (strstr(t, "rm -rf /var/lib/vigil"))
                fail_msg("vigil-%s purge removed /var/lib/vigil while vigil-%s is %s", comps[c][0],
                         comps[c][1], kept[i]);
            assert_null(strstr(t, "deluser"));
            free(t);
        }
        const char *gone[] = {"not-installed", ""};
        for (size_t i = 0; i < 2; i++) {
            char *t = run_script(comps[c][0], "postrm", "purge", gone[i]);
            if (!strstr(t, "rm -rf /var/lib/vigil"))
                fail_msg("vigil-%s purge kept /var/lib/vigil with vigil-%s '%s':\n%s", comps[c][0],
                         comps[c][1], gone[i], t);
            assert_null(strstr(t, "deluser"));
            free(t);
        }
    }
}

/* Debian's documents in each package, and no build-host path in the installed GPU backend. */
static void packages_have_copyright_changelog_and_no_build_rpath(void **state)
{
    (void)state;
    const char *comps[] = {"agent", "analyzer"};
    for (size_t i = 0; i < 2; i++) {
        char root[600];
        install_component(comps[i], root, sizeof root);
        assert_int_equal(vg_tp_sh("grep -q '^Format: https://www.debian.org/doc/packaging-manuals/"
                                  "copyright-format/1.0/' %s/usr/share/doc/vigil-%s/copyright",
                                  root, comps[i]),
                         0);
        assert_int_equal(vg_tp_sh("zcat %s/usr/share/doc/vigil-%s/changelog.gz | head -1 | "
                                  "grep -q '^vigil (%s) '",
                                  root, comps[i], VG_VERSION),
                         0);
        if (exists(root, "usr/lib/vigil/libvigil-cuda.so") &&
            vg_tp_sh("readelf -d %s/usr/lib/vigil/libvigil-cuda.so | grep -q 'R.*PATH'", root) == 0)
            fail_msg("the installed libvigil-cuda.so has an RPATH/RUNPATH of the build host");
    }
}

/* The units' StateDirectory= without StateDirectoryMode= made systemd chmod /var/lib/vigil to its
 * default 0755 at every start, while the docs and the separate-user recipe rely on 0750. */
static void units_keep_the_state_directory_closed_to_other_users(void **state)
{
    (void)state;
    const char *units[] = {VG_SOURCE_DIR "/packaging/systemd/vigil-agent.service",
                           VG_SOURCE_DIR "/packaging/systemd/vigil-analyzer.service"};
    for (size_t i = 0; i < 2; i++) {
        char *u = vg_tp_read(units[i]);
        assert_non_null(u);
        if (!strstr(u, "\nStateDirectory=vigil\n") || !strstr(u, "\nStateDirectoryMode=0750\n"))
            fail_msg("%s: want StateDirectory=vigil with StateDirectoryMode=0750", units[i]);
        free(u);
    }
}

/* The analyzer (network-facing, the same user) must not be able to write the BTF cache the agent
 * loads while it holds CAP_BPF/CAP_PERFMON: its unit mounts the packaged cache path read-only, and
 * both postinsts make that directory, so that it exists when the analyzer starts (ReadOnlyPaths=-
 * skips a missing one). systemd-analyze verify accepts the units, where it is installed. */
static void analyzer_unit_cannot_write_the_agents_btf_cache(void **state)
{
    (void)state;
    const char *unit = VG_SOURCE_DIR "/packaging/systemd/vigil-analyzer.service";
    char *u = vg_tp_read(unit);
    assert_non_null(u);
    if (!strstr(u, "\nReadOnlyPaths=-/var/lib/vigil/btf\n"))
        fail_msg("%s: no ReadOnlyPaths=-/var/lib/vigil/btf", unit);
    free(u);
    /* The path is the agent's default cache. */
    assert_int_equal(vg_tp_sh("%s/agent/vigil-agent --set user= --check-config 2>/dev/null | "
                              "grep -qx 'bpf.btf_cache: /var/lib/vigil/btf'",
                              VG_BIN_DIR),
                     0);
    const char *comps[] = {"agent", "analyzer"};
    for (size_t i = 0; i < 2; i++) {
        char *t = run_postinst(comps[i]);
        if (!strstr(t, "setpriv --reuid=vigil --regid=vigil --init-groups mkdir -p -m 0700 "
                       "/var/lib/vigil/btf\n"))
            fail_msg("%s postinst does not make /var/lib/vigil/btf as vigil:\n%s", comps[i], t);
        free(t);
    }
    if (vg_tp_sh("command -v systemd-analyze >/dev/null") != 0) {
        print_message("# systemd-analyze not installed: units not verified\n");
        return;
    }
    /* The binaries need not be installed here: ExecStart= names /bin/true instead. */
    char log[600];
    snprintf(log, sizeof log, "%s/verify.log", g_dir);
    if (vg_tp_sh("mkdir -p %s/units && for u in agent analyzer; do sed "
                 "'s#/usr/bin/vigil-[a-z]*#/bin/true#' %s/packaging/systemd/vigil-$u.service "
                 ">%s/units/vigil-$u.service; done && cd %s/units && systemd-analyze verify "
                 "--man=no ./vigil-agent.service ./vigil-analyzer.service >%s 2>&1",
                 g_dir, VG_SOURCE_DIR, g_dir, g_dir, log) != 0) {
        char *t = vg_tp_read(log);
        fail_msg("systemd-analyze verify: %s", t ? t : "");
    }
}

/* A descriptor per API connection, up to twice http.max_connections' 10000 (those beyond it stay
 * open for about a second): systemd's default soft limit (1024) refused connections past it,
 * whatever the key said. */
static void analyzer_unit_allows_a_descriptor_per_api_connection(void **state)
{
    (void)state;
    const char *unit = VG_SOURCE_DIR "/packaging/systemd/vigil-analyzer.service";
    char *u = vg_tp_read(unit);
    assert_non_null(u);
    const char *l = strstr(u, "\nLimitNOFILE=");
    long limit = l ? atol(l + 13) : 0;
    free(u);
    if (limit < 2 * 10000 + 1024)
        fail_msg("%s: LimitNOFILE=%ld leaves no descriptor for each of 20000 connections", unit,
                 limit);
    /* The key's help says what the unit sets. */
    assert_int_equal(vg_tp_sh("%s/analyzer/vigil-analyzer --help | grep -q "
                              "'the packaged unit sets LimitNOFILE=%ld)'",
                              VG_BIN_DIR, limit),
                     0);
}

/* /var/lib/vigil is vigil's, so whatever runs as vigil (the agent after its privilege drop, an
 * analyzer) can put a symbolic link where btf goes; the postinst's root install -d -o vigil of
 * /var/lib/vigil/btf followed it and gave the target (/etc/systemd/system, say) to vigil. No
 * postinst runs a root chown inside /var/lib/vigil, and a planted link is refused: the script is
 * run with /var/lib/vigil moved to a scratch directory holding btf -> a victim directory. */
static void postinst_never_gives_vigil_what_a_link_in_its_directory_points_to(void **state)
{
    (void)state;
    const char *comps[] = {"agent", "analyzer"};
    for (size_t i = 0; i < 2; i++) {
        char *t = run_postinst(comps[i]);
        for (const char *l = t; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
            size_t n = strcspn(l, "\n");
            char line[400];
            snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line ? n : sizeof line - 1), l);
            if (!strncmp(line, "install ", 8) && strstr(line, "-o ") &&
                strstr(line, "/var/lib/vigil/"))
                fail_msg("%s postinst runs, as root, %s", comps[i], line);
        }
        free(t);
        char state_dir[600], script[600], out[600], log[600];
        snprintf(state_dir, sizeof state_dir, "%s/planted-%s/state", g_dir, comps[i]);
        snprintf(script, sizeof script, "%s/planted-%s/postinst", g_dir, comps[i]);
        snprintf(out, sizeof out, "%s/planted-%s/out", g_dir, comps[i]);
        snprintf(log, sizeof log, "%s/postinst-%s.log", g_dir, comps[i]);
        assert_int_equal(vg_tp_sh("rm -rf %s/planted-%s && mkdir -p %s %s/planted-%s/victim && "
                                  "ln -s %s/planted-%s/victim %s/btf && "
                                  "sed 's#/var/lib/vigil#%s#g' %s/packaging/debian/%s/postinst >%s "
                                  "&& : >%s",
                                  g_dir, comps[i], state_dir, g_dir, comps[i], g_dir, comps[i],
                                  state_dir, state_dir, VG_SOURCE_DIR, comps[i], script, log),
                         0);
        assert_int_equal(vg_tp_sh("PATH=%s/stubs-%s-postinst /bin/sh %s configure '' >%s 2>&1",
                                  g_dir, comps[i], script, out),
                         0);
        t = vg_tp_read(log);
        assert_non_null(t);
        char *o = vg_tp_read(out);
        assert_non_null(o);
        char btf[700];
        snprintf(btf, sizeof btf, "%s/btf", state_dir);
        for (const char *p = strstr(t, btf); p; p = strstr(p + 1, btf)) {
            const char *bol = p;
            while (bol > t && bol[-1] != '\n')
                bol--;
            fail_msg("%s postinst acted on a planted btf link: %.*s", comps[i],
                     (int)strcspn(bol, "\n"), bol);
        }
        if (!strstr(o, "btf is a symbolic link, which was not followed"))
            fail_msg("%s postinst does not say it refused the link:\n%s", comps[i], o);
        free(t);
        free(o);
    }
}

/* cpack -G DEB (docs/install.md, step 1) stops without the file utility, which shlibdeps runs;
 * minimal and container images do not have it, so setup.sh installs it. */
static void setup_installs_what_the_deb_generator_needs(void **state)
{
    (void)state;
    assert_int_equal(
        vg_tp_sh("sed -n '/^PKGS=(/,/^)/p' %s/scripts/setup.sh | sed 's/#.*//' | tr ' ' '\\n' | "
                 "grep -qx file",
                 VG_SOURCE_DIR),
        0);
}

/* shlibdeps derived libcurl4 (>= 7.80.0), below the 7.85 whose CURLOPT_PROTOCOLS_STR the
 * receivers use to refuse anything but http and https. */
static void packages_depend_on_the_libcurl_the_code_needs(void **state)
{
    (void)state;
    const char *vars[] = {"CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS",
                          "CPACK_DEBIAN_ANALYZER_PACKAGE_DEPENDS"};
    for (size_t i = 0; i < 2; i++)
        if (vg_tp_sh("grep -q '%s \".*libcurl4 (>= 7.85.0)' %s/CPackConfig.cmake", vars[i],
                     VG_BIN_DIR) != 0)
            fail_msg("%s has no libcurl4 (>= 7.85.0) in %s/CPackConfig.cmake", vars[i], VG_BIN_DIR);
}

int main(void)
{
    char *d = vg_tp_tmpdir("packaging");
    snprintf(g_dir, sizeof(g_dir), "%s", d);
    free(d);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(packages_have_every_document_their_files_refer_to),
        cmocka_unit_test(analyzer_package_ships_the_rule_examples),
        cmocka_unit_test(postinst_makes_the_home_directory_before_the_user),
        cmocka_unit_test(postinst_installs_the_unit_disabled),
        cmocka_unit_test(postrm_remove_disables_the_unit),
        cmocka_unit_test(postrm_purge_keeps_the_shared_state_while_the_other_package_is_there),
        cmocka_unit_test(packages_have_copyright_changelog_and_no_build_rpath),
        cmocka_unit_test(units_keep_the_state_directory_closed_to_other_users),
        cmocka_unit_test(analyzer_unit_cannot_write_the_agents_btf_cache),
        cmocka_unit_test(analyzer_unit_allows_a_descriptor_per_api_connection),
        cmocka_unit_test(postinst_never_gives_vigil_what_a_link_in_its_directory_points_to),
        cmocka_unit_test(setup_installs_what_the_deb_generator_needs),
        cmocka_unit_test(packages_depend_on_the_libcurl_the_code_needs),
    };
    return vg_tp_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
