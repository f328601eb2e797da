#include "analyzer_rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vg_decisions.h"
#include "vg_dispatch.h"
#include "vg_engine.h"
#include "vg_log.h"
#include "vg_models.h"
#include "vg_outbox.h"
#include "vg_rule_load.h"
#include "vg_rule_policy.h"
#include "vg_silence.h"
#include "vg_util.h"

#define RULE_ERRLEN       16384
#define RELOAD_LOG_ERRORS 1200 /* at most, of the errors in the log line of a refused reload */

/* The length of s quoted by vg_log_quote (again, in JSON logs). */
static size_t escaped_len(const char *s)
{
    size_t n = 2;
    for (; *s; s++)
        n += *s == '"' || *s == '\\' || *s == '\n' ? 2 : 1;
    return n;
}

/* What the analyzer checks of a loaded set that the loader cannot: the receivers `actions`
 * name, and the host models value("host:NAME") reads (against model.set). 0 or -EINVAL with
 * every mistake added to the list the load left in err. */
static int check_set(const struct analyzer *a, const struct vg_rule_set *set, char *err,
                     size_t errlen)
{
    struct vg_rule_errlist el;
    vg_rule_errlist_resume(&el, err, errlen);
    size_t bad = analyzer_check_rule_actions(&a->cfg, set, &el);
    bad += vg_models_check_rules(set, a->cfg.model_set ? a->cfg.model_set : "", &el);
    vg_rule_errlist_finish(&el);
    return bad ? -EINVAL : 0;
}

static void set_reload_status(struct analyzer *a, int ok, const char *errors)
{
    a->last_reload_ok = ok;
    a->last_reload_ms = vg_now_ms();
    free(a->last_reload_errors);
    a->last_reload_errors = errors && *errors ? strdup(errors) : NULL;
}

int analyzer_reload(struct analyzer *a, char *err, size_t errlen)
{
    const char *dir = a->cfg.rules_dir;
    if (!dir || !*dir)
        return vg_err(err, errlen, -ENOENT, "no rules.dir configured: the built-in rule runs");
    char *buf = malloc(RULE_ERRLEN);
    if (!buf) {
        a->reload_failures++;
        set_reload_status(a, 0, "out of memory");
        if (a->rules_loaded_once) /* as below: a reload that fails says so */
            vg_error("rules not loaded: the running rules stay", "dir=%s errors=\"out of memory\"",
                     dir);
        return vg_err(err, errlen, -ENOMEM, "out of memory loading the rules");
    }
    buf[0] = '\0';
    struct vg_rule_set *set = NULL;
    /* The receivers and host models are checked on what loaded even when the loader found
     * mistakes, so that one run names every mistake (docs/rules.md) rather than one kind after
     * the other is fixed. */
    int rc = vg_rule_set_check_dir(dir, &set, buf, RULE_ERRLEN);
    if (set) {
        int crc = check_set(a, set, buf, RULE_ERRLEN);
        if (!rc)
            rc = crc;
    }
    if (rc) {
        vg_rule_set_free(set);
        set = NULL;
    }
    /* The policies are prepared first and committed last, so that nothing has changed when
     * either step fails. */
    struct vg_decisions_plan *plan = NULL;
    if (!rc && a->decisions && (rc = vg_decisions_prepare(a->decisions, set, &plan)) < 0)
        snprintf(buf, RULE_ERRLEN, "out of memory applying the scaling policies");
    if (!rc && (rc = vg_engine_set_rules(a->engine, set, analyzer_on_event, a)) < 0) {
        snprintf(buf, RULE_ERRLEN, "out of memory applying the rules");
        vg_decisions_plan_free(plan);
    }
    if (!rc && plan)
        vg_decisions_commit(a->decisions, plan);
    if (rc) {
        vg_rule_set_free(set);
        a->reload_failures++;
        set_reload_status(a, 0, buf);
        vg_rule_errors_copy(err, errlen, buf); /* whole lines, as many as err holds */
        /* The list cut to its first whole errors and "... and N more errors" (the API and
         * `vigilctl rules check` give them all), short enough that the log line's 2 KiB hold it
         * even quoted a second time in JSON: cut there, it used to end mid-error with nothing
         * to say so. */
        char first[RELOAD_LOG_ERRORS], q[2 * RELOAD_LOG_ERRORS + 3];
        for (size_t cap = sizeof(first);; cap -= cap / 4) {
            vg_rule_errors_copy(first, cap, buf);
            vg_log_quote(q, sizeof(q), first);
            if (strlen(dir) + escaped_len(q) < 1500 || cap < 200)
                break;
        }
        if (a->rules_loaded_once) /* at start the caller reports it, and nothing runs yet */
            vg_error("rules not loaded: the running rules stay", "dir=%s errors=%s", dir, q);
        free(buf);
        return rc;
    }
    vg_rule_set_free(a->rules);
    a->rules = set;
    a->rules_loaded_once = 1;
    a->reloads++;
    set_reload_status(a, 1, NULL);
    for (size_t i = 0; i < vg_rule_set_skipped_count(set); i++) {
        char q[1024];
        vg_warn("rules directory entry not read", "entry=%s",
                vg_log_quote(q, sizeof(q), vg_rule_set_skipped(set, i)));
    }
    vg_info("rules loaded", "dir=%s rules=%zu policies=%zu", dir, vg_rule_set_count(set),
            vg_rule_set_policy_count(set));
    /* Rule files replace the built-in rule, so an empty set (misnamed files, a deploy that left
     * the directory empty) turns off every alert; it still loads, as a start refused for it
     * would stop the scoring, the API and the silences too. */
    if (vg_rule_set_count(set) == 0 && vg_rule_set_policy_count(set) == 0)
        vg_warn("rules.dir holds no rules and no scaling policies: no alert will fire",
                "dir=%s note=\"rule files, which end in .yaml or .yml, replace the built-in "
                "rule; unset rules.dir to run it\"",
                dir);
    free(buf);
    return 0;
}

/* A resolve receiver recv refused, kept to be handed to it again (a copy, as the outbox
 * encodes it), or a firing of the same alert kept behind it. */
struct analyzer_owed {
    /* In the order kept, all receivers': removed from anywhere in O(1), under the analyzer's
     * lock (an array shifted on every removal moved tens of MB each near the cap). */
    struct analyzer_owed *prev, *next;
    size_t recv;
    int resolve;
    int adopted; /* a firing taken over with its host: handed on through the receiver's adopt */
    unsigned char *blob;
    void *arrays;
    struct vg_notification n;
    int64_t since_ms;
};

/* Resolves kept at most: beyond, one is lost (logged and counted) rather than memory. */
#define ANALYZER_OWED_MAX 100000

static int is_resolved(const struct vg_notification *n)
{
    return n->status && strcmp(n->status, "resolved") == 0;
}

static void owed_free(struct analyzer_owed *o)
{
    if (!o)
        return;
    free(o->blob);
    free(o->arrays);
    free(o);
}

static void owed_remove(struct analyzer *a, struct analyzer_owed *o)
{
    if (o->resolve)
        a->owed_resolves--;
    *(o->prev ? &o->prev->next : &a->owed_head) = o->next;
    *(o->next ? &o->next->prev : &a->owed_tail) = o->prev;
    a->n_owed--;
    owed_free(o);
}

/* Keeps resolve n that receiver recv refused, or firing n that waits behind its alert's kept
 * resolve (the firing of a new episode; before that resolve, the resolve would close it at the
 * receiver, and dropped, it would wait for a repeat, never with alert.repeat_interval 0). */
static void owe(struct analyzer *a, size_t recv, const struct vg_notification *n)
{
    struct receiver *r = &a->receivers[recv];
    int resolve = is_resolved(n);
    if (resolve)
        a->resolves_refused++;
    for (const struct analyzer_owed *k = a->owed_head; n->fingerprint && k; k = k->next)
        if (k->recv == recv && k->resolve == resolve && k->n.starts_at_ms == n->starts_at_ms &&
            k->n.fingerprint && strcmp(k->n.fingerprint, n->fingerprint) == 0)
            return; /* this episode's is kept already (a repeat of its firing): it goes */
    struct analyzer_owed *o = NULL;
    size_t len;
    int ok = a->n_owed < ANALYZER_OWED_MAX && (o = calloc(1, sizeof(*o))) &&
             vg_outbox_encode(n, &o->blob, &len) == 0 &&
             vg_outbox_decode(o->blob, len, &o->n, &o->arrays) == 0;
    if (!ok) {
        owed_free(o);
        if (resolve)
            a->resolves_lost++;
        vg_error(resolve ? "resolve lost: refused by a full receiver queue and not kept"
                         : "firing lost: it waited behind its alert's refused resolve and was not "
                           "kept; a repeat sends it",
                 "receiver=%s alertname=%s host=%s fingerprint=%s reason=%s", r->name, n->alertname,
                 n->host, n->fingerprint,
                 a->n_owed >= ANALYZER_OWED_MAX ? "too-many-refused-resolves" : "out-of-memory");
        return;
    }
    o->recv = recv;
    o->resolve = resolve;
    o->adopted = n->adopted;
    o->since_ms = vg_now_ms();
    o->n.adopted = n->adopted;
    o->prev = a->owed_tail;
    *(a->owed_tail ? &a->owed_tail->next : &a->owed_head) = o;
    a->owed_tail = o;
    a->n_owed++;
    if (resolve) {
        a->owed_resolves++;
        vg_warn("resolve not queued: kept, and handed to the receiver again until it takes it",
                "receiver=%s alertname=%s host=%s fingerprint=%s owed=%zu", r->name, n->alertname,
                n->host, n->fingerprint, a->n_owed);
    } else {
        vg_warn("firing kept behind its alert's refused resolve: handed to the receiver after it",
                "receiver=%s alertname=%s host=%s fingerprint=%s owed=%zu", r->name, n->alertname,
                n->host, n->fingerprint, a->n_owed);
    }
}

/* Hands receiver recv the resolves it owes, and the firings kept behind them, oldest first,
 * until one is refused again (its queue is still full: the rest wait for the next tick). With fp
 * set, only that alert's: a firing of the alert must not go before the resolve of its previous
 * episode. Returns 0 when none of them is left for recv (of fp), -ENOBUFS otherwise. */
static int pay_owed(struct analyzer *a, size_t recv, const char *fp)
{
    struct receiver *r = &a->receivers[recv];
    for (struct analyzer_owed *o = a->owed_head, *next; o; o = next) {
        next = o->next;
        if (o->recv != recv || (fp && (!o->n.fingerprint || strcmp(o->n.fingerprint, fp) != 0)))
            continue;
        o->n.accepted_ms = vg_now_ms();
        int (*hand)(void *, const struct vg_notification *) =
            o->adopted ? r->act->adopt : r->act->submit;
        if (hand && hand(r->inst, &o->n) < 0)
            return -ENOBUFS;
        vg_info(o->resolve ? "refused resolve queued" : "kept firing queued after its resolve",
                "receiver=%s alertname=%s host=%s fingerprint=%s "
                "waited_s=%.1f",
                r->name, o->n.alertname, o->n.host, o->n.fingerprint,
                (double)(vg_now_ms() - o->since_ms) / 1000.0);
        owed_remove(a, o);
    }
    return 0;
}

/* Hands n to the receivers it names (all when it names none). A first firing handed on marks its
 * alert notified in the engine, whose state record then says so (vg_engine_alert_notified). */
static void send_to_receivers(void *ud, const struct vg_notification *n)
{
    struct analyzer *a = ud;
    int resolve = is_resolved(n);
    if (!resolve && !n->adopted && n->host && n->fingerprint &&
        vg_engine_alert_notified(a->engine, n->host, n->fingerprint) == 1 && a->host_changed)
        a->host_changed(a, n->host);
    for (size_t i = 0; i < a->n_receivers; i++) {
        struct receiver *r = &a->receivers[i];
        if (n->n_receivers) {
            size_t k;
            for (k = 0; k < n->n_receivers; k++)
                if (strcmp(n->receivers[k], r->name) == 0)
                    break;
            if (k == n->n_receivers)
                continue;
        }
        /* An alert taken over with its host goes only where it must be told again. */
        int (*hand)(void *, const struct vg_notification *) =
            n->adopted ? r->act->adopt : r->act->submit;
        if (!hand)
            continue;
        /* A firing waits behind its alert's refused resolve: before it, the resolve would close
         * the new episode at the receiver (same fingerprint, PagerDuty's dedup_key). */
        int rc = !resolve && a->n_owed && n->fingerprint ? pay_owed(a, i, n->fingerprint) : 0;
        if (rc < 0) {
            /* Its queue is full: counted as refused, but kept, and handed on after the
             * resolve. */
            r->refused++;
            a->notify_refused++;
            owe(a, i, n);
            continue;
        }
        rc = hand(r->inst, n);
        if (rc < 0) {
            r->refused++;
            a->notify_refused++;
            vg_error("alert not queued", "receiver=%s alertname=%s host=%s status=%s reason=%s",
                     r->name, n->alertname, n->host, n->status,
                     rc == -ENOBUFS ? "queue-or-outbox-full" : "out-of-memory");
            if (resolve)
                owe(a, i, n);
        }
    }
}

void analyzer_owed_forget_host(struct analyzer *a, const char *host)
{
    size_t resolves = 0, firings = 0;
    for (struct analyzer_owed *o = a->owed_head, *next; o; o = next) {
        next = o->next;
        if (!o->n.host || strcmp(o->n.host, host) != 0)
            continue;
        if (o->resolve)
            resolves++;
        else
            firings++;
        owed_remove(a, o);
    }
    if (!resolves && !firings)
        return;
    a->resolves_lost += resolves;
    vg_error("resolves lost at hand-over: their receivers' queues stayed full",
             "host=%s resolves=%zu firings_behind_them=%zu effect=\"their incidents stay open at "
             "the receivers until the new owner resolves or repeats them; handed on later, a "
             "resolve could close the new owner's incident of the same alert\"",
             host, resolves, firings);
}

void analyzer_owed_flush(struct analyzer *a)
{
    for (size_t i = 0; i < a->n_receivers && a->n_owed; i++)
        pay_owed(a, i, NULL);
    if (a->n_owed) {
        a->resolves_lost += a->owed_resolves;
        vg_error("resolves lost at stop: their receivers' queues stayed full",
                 "resolves=%zu firings_behind_them=%zu effect=\"their incidents stay open at the "
                 "receivers; a firing kept behind one is sent by the next owner's repeat\"",
                 a->owed_resolves, a->n_owed - a->owed_resolves);
    }
    while (a->owed_head)
        owed_remove(a, a->owed_head);
}

void analyzer_on_event(void *ud, const struct vg_notification *n)
{
    struct analyzer *a = ud;
    if (a->dispatch)
        vg_dispatch_event(a->dispatch, n, vg_now_ms());
    else
        send_to_receivers(a, n);
}

void analyzer_on_adopted(void *ud, const struct vg_notification *n)
{
    struct analyzer *a = ud;
    if (a->dispatch)
        vg_dispatch_adopt(a->dispatch, n,
                          vg_engine_alert_is_notified(a->engine, n->host, n->fingerprint),
                          vg_now_ms());
}

int analyzer_rules_load(struct analyzer *a, char *err, size_t errlen)
{
    int rc = vg_silences_new(&a->silences);
    if (rc)
        return rc;
    if (a->cfg.silences_file && *a->cfg.silences_file &&
        (rc = vg_silences_load(a->silences, a->cfg.silences_file, vg_now_ms(),
                               &a->silences_load_skipped, err, errlen)))
        return rc;
    struct vg_dispatch_params dp = {
        .group_wait_ms = a->cfg.alert_group_wait_ms,
        .repeat_interval_ms = a->cfg.alert_repeat_interval_ms,
        .group_by = a->cfg.alert_group_by,
    };
    if ((rc = vg_dispatch_new(&a->dispatch, &dp, a->silences, send_to_receivers, a)))
        return rc;
    if (a->engine) /* a silenced alert holds no scale-in */
        vg_engine_set_silences(a->engine, a->silences);
    if (a->cfg.rules_dir && *a->cfg.rules_dir) {
        rc = analyzer_reload(a, err, errlen);
        /* At start there is nothing to keep running: the reload's bookkeeping does not apply. */
        a->reloads = 0;
        a->reload_failures = 0;
        if (rc)
            return rc;
    }
    return 0;
}

int analyzer_decisions_open(struct analyzer *a, const char *bootstrap, char *err, size_t errlen)
{
    struct vg_decisions_cfg dc = {
        .topic = a->cfg.decisions_topic,
        .partials_topic = a->cfg.decisions_partials_topic,
        .metrics_topic = a->cfg.topic,
        .bootstrap = bootstrap,
        .kafka = &a->cfg.kafka,
        .webhook_url = a->cfg.decisions_webhook_url,
        .webhook_url_hide_path =
            a->cfg.decisions_webhook_url_file && *a->cfg.decisions_webhook_url_file,
        .webhook_timeout_ms = a->cfg.webhook_timeout_ms,
        .tls_ca_file = a->cfg.tls_ca_file,
        .webhook_secret_file = a->cfg.decisions_webhook_secret_file,
        .drain_ms = a->cfg.drain_timeout_ms,
        .rejoin_initial_ms = a->cfg.decisions_rejoin_initial_ms,
        .rejoin_max_ms = a->cfg.decisions_rejoin_max_ms,
    };
    int rc = vg_decisions_new(&a->decisions, &dc, err, errlen);
    if (!rc && a->rules)
        rc = vg_decisions_set_policies(a->decisions, a->rules);
    if (!rc && a->rules && vg_rule_set_policy_count(a->rules) > 0) {
        /* Before the read-back, so that no decision falls between the two. Nor must a missing
         * partials topic stop the start: a scaling side-channel must not keep alerting down. */
        char rerr[VG_ERRLEN], q[2 * VG_ERRLEN + 3];
        /* The reason says `decisions.partials_topic: ""`: quoted, so the line stays logfmt. */
        if (vg_decisions_join(a->decisions, (int)a->cfg.decisions_restore_ms, rerr, sizeof(rerr)) <
            0)
            vg_warn("scaling decisions local-only: each analyzer decides from its own hosts",
                    "reason=%s", vg_log_quote(q, sizeof(q), rerr));
        /* Not being able to read the topic back must not stop the start: the targets then
         * start from `initial`, as they did before there was anything to read. */
        if (vg_decisions_restore(a->decisions, (int)a->cfg.decisions_restore_ms, rerr,
                                 sizeof(rerr)) < 0)
            vg_warn("scaling decisions not all restored: targets not read whole start from "
                    "`initial`",
                    "reason=%s", vg_log_quote(q, sizeof(q), rerr));
    }
    return rc;
}

void analyzer_tick(struct analyzer *a)
{
    /* Once a second: each try a full queue refuses costs a refusal of its own (queue_full). */
    if (a->n_owed && vg_now_ms() >= a->owed_next_ms) {
        a->owed_next_ms = vg_now_ms() + 1000;
        for (size_t i = 0; i < a->n_receivers && a->n_owed; i++)
            pay_owed(a, i, NULL);
    }
    if (a->dispatch)
        vg_dispatch_tick(a->dispatch, vg_now_ms());
    if (a->decisions)
        vg_decisions_tick(a->decisions, a->engine);
}

int analyzer_silences_change(struct analyzer *a, struct vg_silences_change *ch, char *err,
                             size_t errlen)
{
    if (a->cfg.silences_file && *a->cfg.silences_file) {
        struct vg_silences_snap snap;
        int rc = vg_silences_snapshot_change(a->silences, ch, &snap);
        if (rc < 0) {
            vg_err(err, errlen, rc, "silences.file %s: out of memory", a->cfg.silences_file);
        } else {
            pthread_mutex_unlock(&a->lock);
            rc = vg_silences_write(&snap, a->cfg.silences_file, &a->silences_written, err, errlen);
            pthread_mutex_lock(&a->lock);
            vg_silences_snap_free(&snap);
        }
        if (rc < 0) {
            char q[2 * VG_ERRLEN + 3];
            a->silences_save_errors++;
            vg_error("silence change refused: the silences file could not be written", "reason=%s",
                     vg_log_quote(q, sizeof(q), err));
            return rc;
        }
    }
    /* Only now that the file holds it: a refused change must not have held or released
     * anything. An expiry finds its silence gone only when it ended over an hour ago, as the
     * file's next load would drop it too. */
    int rc = vg_silences_apply(a->silences, ch);
    if (rc == -ENOMEM)
        return vg_err(err, errlen, rc, "out of memory");
    /* A silence that ended may release held notifications now rather than at the next tick. */
    vg_dispatch_tick(a->dispatch, vg_now_ms());
    return 0;
}

void analyzer_rules_free(struct analyzer *a)
{
    while (a->owed_head) /* analyzer_owed_flush counted them; not there on a failed start */
        owed_remove(a, a->owed_head);
    vg_decisions_free(a->decisions);
    a->decisions = NULL;
    vg_dispatch_free(a->dispatch);
    a->dispatch = NULL;
    if (a->engine)
        vg_engine_set_silences(a->engine, NULL);
    vg_silences_free(a->silences);
    a->silences = NULL;
    /* The engine borrows the set: it must be gone (or be given another) first. */
    vg_rule_set_free(a->rules);
    a->rules = NULL;
    free(a->last_reload_errors);
    a->last_reload_errors = NULL;
}
