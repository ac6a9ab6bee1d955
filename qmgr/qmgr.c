/*
 * qmgr.c - the queue manager's main: parameters, start-up, the kick that
 * runs intake and scheduling from the event loop, wake-ups and stop.
 * docs/qmgr.md is the behaviour; qmgr.h says which file does what.
 *
 * Trusts main.cf and master.cf (validated by master before it started
 * qmgr) and nothing that arrives on its socket (qmgr_control.c) or from
 * an agent (qmgr_deliver.c).  Started by master as "qmgr unix n - - 300
 * 1 qmgr": one persistent event-model process, woken by cleanup and
 * master's timer through public/qmgr.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "qmgr.h"
#include "table.h"

#define QMGR_FLUSH_TABLE_MAX 16        /* type:table items of fast_flush_domains */
#define QMGR_NOFILE_CAP      (1 << 20) /* descriptors asked for when the hard limit is infinite */

struct qmgr_params qmgr_params;

static struct event_base *base;
static struct event *kick_ev;
static int stopping;
static struct table *flush_tables[QMGR_FLUSH_TABLE_MAX];
static int nflush_tables;

struct event_base *
qmgr_base(void)
{
	return base;
}

int
qmgr_stopping(void)
{
	return stopping;
}

long long
qmgr_now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

long long
qmgr_now(void)
{
	return (long long)time(NULL);
}

void
qmgr_kick(void)
{
	if (kick_ev)
		event_active(kick_ev, EV_TIMEOUT, 0);
}

/* Intake (a batch per turn, so answers from agents are read in
 * between), then scheduling. */
static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct str domain = STR_INIT;
	enum queue_folder folder;
	char id[QUEUE_ID_SIZE];
	unsigned flags;
	int n = 0;

	(void)fd;
	(void)what;
	(void)arg;
	while (!stopping && n < QMGR_INTAKE_BATCH &&
	        (long long)qmgr_message_count() < qmgr_params.active_limit &&
	        qmgr_scan_next(&folder, id, &flags, &domain)) {
		qmgr_message_load(folder, id, flags, domain.len ? str_cstr(&domain) : NULL);
		n++;
	}
	str_free(&domain);
	qmgr_sched_run();
	if (!stopping && n == QMGR_INTAKE_BATCH && qmgr_scan_waiting() > 0 &&
	        (long long)qmgr_message_count() < qmgr_params.active_limit)
		qmgr_kick();
}

/* ---- fast_flush_domains ---- */

int
qmgr_flush_domain_ok(const char *domain)
{
	char *const *items = qmgr_params.fast_flush_domains;
	size_t dlen = strlen(domain);
	int t = 0;

	for (; items && *items; items++) {
		const char *item = *items;
		size_t ilen = strlen(item);

		if (strchr(item, ':') != NULL) {
			if (t < nflush_tables &&
			        table_lookup(flush_tables[t++], domain, NULL, NULL) == 1)
				return 1;
		} else if (item[0] == '.') {
			if (dlen > ilen && strcasecmp(domain + dlen - ilen, item) == 0)
				return 1;
		} else if (strcasecmp(domain, item) == 0) {
			return 1;
		}
	}
	return 0;
}

static void
open_flush_tables(void)
{
	char *const *items = qmgr_params.fast_flush_domains;
	struct str err = STR_INIT;

	for (; items && *items; items++) {
		if (strchr(*items, ':') == NULL)
			continue;
		if (nflush_tables == QMGR_FLUSH_TABLE_MAX)
			msg_fatal("fast_flush_domains: more than %d tables", QMGR_FLUSH_TABLE_MAX);
		flush_tables[nflush_tables] = table_open(*items, 0, &err);
		if (flush_tables[nflush_tables] == NULL)
			msg_fatal("fast_flush_domains: %s", str_cstr(&err));
		daemon_watch_table(flush_tables[nflush_tables++]);
	}
	str_free(&err);
}

/* ---- start-up ---- */

static void
load_params(void)
{
	char *const *retry = config_list(cfg, "retry_schedule");
	size_t n = 0;

	while (retry[n])
		n++;
	qmgr_params.retry = xcalloc(n, sizeof(*qmgr_params.retry));
	for (size_t i = 0; i < n; i++) {
		const char *why;

		if (parse_duration(retry[i], 's', &qmgr_params.retry[i], &why) < 0)
			msg_fatal("retry_schedule: %s: %s", retry[i], why);
	}
	qmgr_params.nretry = n;
	qmgr_params.max_lifetime = config_time(cfg, "maximal_queue_lifetime");
	qmgr_params.local_lifetime = config_time(cfg, "local_queue_lifetime");
	qmgr_params.bounce_lifetime = config_time(cfg, "bounce_queue_lifetime");
	qmgr_params.queue_run_delay = config_time(cfg, "queue_run_delay");
	qmgr_params.active_limit = config_int(cfg, "qmgr_message_active_limit");
	qmgr_params.dest_concurrency =
	        (long)config_int(cfg, "default_destination_concurrency_limit");
	qmgr_params.process_limit = (long)config_int(cfg, "default_process_limit");
	qmgr_params.rcpt_per_request = (long)config_int(cfg, "smtp_recipients_per_transaction");
	if (qmgr_params.rcpt_per_request > DELIVER_RCPT_MAX)
		qmgr_params.rcpt_per_request = DELIVER_RCPT_MAX;
	qmgr_params.failure_limit = (long)config_int(cfg, "destination_failure_limit");
	qmgr_params.backoff_time = config_time(cfg, "destination_backoff_time");
	qmgr_params.agent_timeout = config_time(cfg, "delivery_agent_timeout");
	qmgr_params.defer_transports = config_list(cfg, "defer_transports");
	qmgr_params.fast_flush_domains = config_list(cfg, "fast_flush_domains");
}

/* As many descriptors as allowed; half of them for active messages. */
static void
descriptor_budget(void)
{
	struct rlimit rl;
	long long room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY ? QMGR_NOFILE_CAP : rl.rlim_max;

		if (want > rl.rlim_cur) {
			rl.rlim_cur = want;
			if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
				getrlimit(RLIMIT_NOFILE, &rl);
		}
		room = ((long long)rl.rlim_cur - QMGR_FD_MIN) / QMGR_FD_SHARE;
		if (room < 1)
			room = 1;
		if (room < qmgr_params.active_limit) {
			msg_info("qmgr_message_active_limit %lld lowered to %lld by the descriptor "
			         "limit",
			        qmgr_params.active_limit, room);
			qmgr_params.active_limit = room;
		}
	}
}

static void
qmgr_pre_jail(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	base = daemon_event_base();
	load_params();
	qmgr_dsn_init();
	qmgr_sched_init(daemon_confdir());
	open_flush_tables();
}

static void
qmgr_post_jail(void)
{
	descriptor_budget();
	kick_ev = event_new(base, -1, 0, on_kick, NULL);
	qmgr_message_init();
	qmgr_scan_init();
	qmgr_scan_startup();
	qmgr_kick();
}

static void
qmgr_accept(int fd)
{
	qmgr_control_accept(fd);
}

static void
qmgr_wakeup(void)
{
	if (!stopping)
		qmgr_scan_incoming();
}

static void
qmgr_stop(const char *reason)
{
	stopping = 1;
	if (qmgr_deliver_count() > 0)
		msg_info("stopping (%s): waiting for %u deliveries in flight", reason,
		        qmgr_deliver_count());
}

static void
qmgr_expire(void)
{
	qmgr_deliver_abort_all();
	qmgr_dsn_abort_all();
	qmgr_control_close_all();
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
	        .model = DAEMON_EVENT,
	        .flags = DAEMON_PERSISTENT,
	        .pre_jail = qmgr_pre_jail,
	        .post_jail = qmgr_post_jail,
	        .accept = qmgr_accept,
	        .wakeup = qmgr_wakeup,
	        .stop = qmgr_stop,
	        .expire = qmgr_expire,
	};

	/* What is still allocated at exit stays reachable from qmgr's
	 * tables; files left in active/ are taken up by the next qmgr. */
	return daemon_main(argc, argv, &ops);
}
