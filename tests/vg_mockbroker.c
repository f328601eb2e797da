/* vigil-test-mockbroker: librdkafka's mock cluster in a process of its own, so tests can kill -9
 * an analyzer (or start several) while the broker and its committed offsets live on.
 *
 *   vigil-test-mockbroker --bootstrap-file PATH [--brokers N] [--topic NAME:PARTITIONS]...
 *                         [--control FIFO]
 *
 * --control makes a FIFO that takes one fault command per line; each is answered on stdout with
 * "control: <command>: ok" (or an error) once the cluster has applied it, so a test can wait for
 * that line:
 *   down                     every broker stops answering (connections closed, none accepted)
 *   up                       every broker answers again
 *   down BROKER, up BROKER   that broker only (with `leader`, an outage of one topic: the state
 *                            topic's, say, while the metrics still come)
 *   leader TOPIC PART BROKER moves the partition's leader
 *   errors APIKEY COUNT CODE the next COUNT requests of that API (0 = Produce) fail with CODE
 *   topic-error TOPIC CODE   Metadata answers CODE for TOPIC (0: no error again); a topic
 *                            that does not exist is created first, with the error
 *   broker-errors BROKER APIKEY COUNT CODE
 *                            likewise, only the requests that broker gets (with `leader`, one
 *                            client's requests can fail while another's go through)
 *   rtt BROKER MS            that broker (-1: every broker) answers each request MS late (0:
 *                            at once again): a broker too slow for a client's deadline
 *   create TOPIC PARTITIONS  creates the topic, as an operator would (the mock cluster has no
 *                            CreateTopics; Metadata naming a missing topic auto-creates it
 *                            with 4 partitions, a request for all topics does not)
 *   coordinator group KEY BROKER
 *                            makes BROKER the coordinator of consumer group KEY (otherwise
 *                            the group id's hash picks one)
 *
 * Topics default to vigil.metrics:4, vigil.state:4, vigil.decisions:1 and vigil.scale.partials:1.
 * The bootstrap address is written to PATH (atomically, with a newline) once the topics exist;
 * SIGTERM or SIGINT stops it.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TOPICS 32

/* librdkafka's mock cluster (2.0) takes a call made to it (a topic's creation, a fault, its
 * destroy) only when its thread's poll of the brokers' sockets returns, and its wake-up for
 * calls is not re-armed once used: most calls waited for the poll's 1 s timeout, so that each
 * start, stop and fault command of this broker took up to a second (two at a start). Any socket
 * event ends that poll: while a call is pending, this thread connects to the brokers' listeners
 * every few ms and closes each connection at once. (A broker that is down listens no more: with
 * every broker down, a call waits as before.) */
#define WAKER_MAX 16
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
    struct sockaddr_in addr[WAKER_MAX];
    int n_addr;
} g_waker = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static void *waker_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&g_waker.lock);
        while (!g_waker.pending)
            pthread_cond_wait(&g_waker.cond, &g_waker.lock);
        pthread_mutex_unlock(&g_waker.lock);
        for (int i = 0; i < g_waker.n_addr; i++) {
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0) {
                connect(fd, (const struct sockaddr *)&g_waker.addr[i], sizeof(g_waker.addr[i]));
                close(fd);
            }
        }
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Starts the waker on the brokers' addresses in bootstraps ("127.0.0.1:PORT,..."). 0, or -1
 * when it cannot (the calls are then only slow). */
static int waker_start(const char *bootstraps)
{
    for (const char *p = bootstraps; p && *p && g_waker.n_addr < WAKER_MAX;) {
        char host[64];
        int port;
        struct sockaddr_in *a = &g_waker.addr[g_waker.n_addr];
        if (sscanf(p, "%63[^:,]:%d", host, &port) != 2 || port <= 0 || port > 65535)
            return -1;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -1;
        g_waker.n_addr++;
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    if (!g_waker.n_addr)
        return -1;
    pthread_t t;
    if (pthread_create(&t, NULL, waker_main, NULL) != 0)
        return -1;
    pthread_detach(t);
    return 0;
}

/* Around every call to the mock cluster. */
static void call_begin(void)
{
    pthread_mutex_lock(&g_waker.lock);
    g_waker.pending++;
    pthread_cond_signal(&g_waker.cond);
    pthread_mutex_unlock(&g_waker.lock);
}

static void call_end(void)
{
    pthread_mutex_lock(&g_waker.lock);
    g_waker.pending--;
    pthread_mutex_unlock(&g_waker.lock);
}

struct control {
    rd_kafka_mock_cluster_t *mc;
    int brokers;
    const char *path;
};

static void apply(struct control *c, char *line)
{
    char topic[256];
    int a, b, n, br;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    line[strcspn(line, "\r\n")] = '\0';
    call_begin();
    if (strcmp(line, "down") == 0 || strcmp(line, "up") == 0) {
        for (int i = 1; i <= c->brokers && !e; i++)
            e = line[0] == 'd' ? rd_kafka_mock_broker_set_down(c->mc, i)
                               : rd_kafka_mock_broker_set_up(c->mc, i);
    } else if (sscanf(line, "down %d", &br) == 1) {
        e = rd_kafka_mock_broker_set_down(c->mc, br);
    } else if (sscanf(line, "up %d", &br) == 1) {
        e = rd_kafka_mock_broker_set_up(c->mc, br);
    } else if (sscanf(line, "leader %255s %d %d", topic, &a, &b) == 3) {
        e = rd_kafka_mock_partition_set_leader(c->mc, topic, a, b);
    } else if (sscanf(line, "rtt %d %d", &br, &a) == 2 && a >= 0) {
        e = rd_kafka_mock_broker_set_rtt(c->mc, br, a);
    } else if (sscanf(line, "create %255s %d", topic, &a) == 2 && a > 0) {
        e = rd_kafka_mock_topic_create(c->mc, topic, a, 1);
    } else if (sscanf(line, "coordinator group %255s %d", topic, &br) == 2) {
        e = rd_kafka_mock_coordinator_set(c->mc, "group", topic, br);
    } else if (sscanf(line, "topic-error %255s %d", topic, &a) == 2) {
        rd_kafka_mock_topic_set_error(c->mc, topic, (rd_kafka_resp_err_t)a);
    } else if (sscanf(line, "errors %d %d %d", &a, &n, &b) == 3 && n > 0 && n <= 1000) {
        rd_kafka_resp_err_t errs[1000];
        for (int i = 0; i < n; i++)
            errs[i] = (rd_kafka_resp_err_t)b;
        rd_kafka_mock_push_request_errors_array(c->mc, (int16_t)a, (size_t)n, errs);
    } else if (sscanf(line, "broker-errors %d %d %d %d", &br, &a, &n, &b) == 4 && n > 0 &&
               n <= 1000) {
        for (int i = 0; i < n && !e; i++)
            e = rd_kafka_mock_broker_push_request_error_rtts(c->mc, br, (int16_t)a, 1,
                                                             (rd_kafka_resp_err_t)b, 0);
    } else {
        call_end();
        printf("control: %s: unknown command\n", line);
        fflush(stdout);
        return;
    }
    call_end();
    printf("control: %s: %s\n", line, e ? rd_kafka_err2str(e) : "ok");
    fflush(stdout);
}

static void *control_thread(void *arg)
{
    struct control *c = arg;
    /* Opened read-write so that a writer closing it never gives end-of-file here. */
    FILE *f = fopen(c->path, "r+");
    if (!f) {
        perror(c->path);
        return NULL;
    }
    char line[512];
    while (fgets(line, sizeof(line), f))
        apply(c, line);
    fclose(f);
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"control", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    const char *bsfile = NULL, *control = NULL;
    int brokers = 1, opt;
    char *topics[MAX_TOPICS];
    size_t n_topics = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == 'f')
            bsfile = optarg;
        else if (opt == 'b')
            brokers = atoi(optarg);
        else if (opt == 't' && n_topics < MAX_TOPICS)
            topics[n_topics++] = optarg;
        else if (opt == 'c')
            control = optarg;
        else {
            fprintf(stderr, "usage: vigil-test-mockbroker --bootstrap-file PATH [--brokers N] "
                            "[--topic NAME:PARTITIONS]...\n");
            return 2;
        }
    }
    if (!bsfile || brokers < 1) {
        fprintf(stderr, "vigil-test-mockbroker: --bootstrap-file is required\n");
        return 2;
    }
    static char def1[] = "vigil.metrics:4", def2[] = "vigil.state:4", def3[] = "vigil.decisions:1",
                def4[] = "vigil.scale.partials:1";
    if (!n_topics) {
        topics[n_topics++] = def1;
        topics[n_topics++] = def2;
        topics[n_topics++] = def3;
        topics[n_topics++] = def4;
    }
    /* Blocked before librdkafka starts its threads, which inherit the mask: only sigwait()
     * below ever sees them. */
    sigset_t stop_sigs;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, NULL);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
    char rkerr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, rkerr, sizeof(rkerr));
    if (!rk) {
        fprintf(stderr, "vigil-test-mockbroker: %s\n", rkerr);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        fprintf(stderr, "vigil-test-mockbroker: cannot start the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    if (waker_start(rd_kafka_mock_cluster_bootstraps(mc)) != 0)
        fprintf(stderr, "vigil-test-mockbroker: no waker thread: calls to the cluster are slow\n");
    int rc = 0;
    call_begin();
    for (size_t i = 0; i < n_topics && !rc; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s", topics[i]);
        char *colon = strrchr(name, ':');
        int parts = colon ? atoi(colon + 1) : 4;
        if (colon)
            *colon = '\0';
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, name, parts > 0 ? parts : 4, 1);
        if (e) {
            fprintf(stderr, "vigil-test-mockbroker: topic %s: %s\n", name, rd_kafka_err2str(e));
            rc = 1;
        }
    }
    call_end();
    /* The FIFO before the bootstrap file: a test that saw the file may write a command at once. */
    static struct control ctl;
    pthread_t ctl_thread;
    if (!rc && control) {
        unlink(control);
        ctl = (struct control){.mc = mc, .brokers = brokers, .path = control};
        if (mkfifo(control, 0600) != 0 || pthread_create(&ctl_thread, NULL, control_thread, &ctl)) {
            perror(control);
            rc = 1;
        } else {
            pthread_detach(ctl_thread);
        }
    }
    if (!rc) {
        char tmp[4096];
        snprintf(tmp, sizeof(tmp), "%s.tmp", bsfile);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%s\n", rd_kafka_mock_cluster_bootstraps(mc)) < 0 || fclose(f) ||
            rename(tmp, bsfile)) {
            perror(bsfile);
            rc = 1;
        }
    }
    int sig;
    if (!rc)
        sigwait(&stop_sigs, &sig);
    call_begin(); /* never ended: the process ends */
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return rc;
}
