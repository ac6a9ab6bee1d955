/*
 * smtpd.c - the SMTP server daemon: configuration, accept, and the
 * limits that span sessions: concurrent sessions per listener
 * (smtpd_connection_limit, 421 4.3.2) and per client IP
 * (smtpd_client_connection_limit, 421 4.7.0), both counted in this
 * process, and stress mode (more than smtpd_stress_threshold percent of
 * the connection limit in use: deadlines drop to smtpd_stress_timeout).
 *
 * Runs on lib/daemon.c's event model: master starts one process per
 * listener (master.cf service) and hands it every connection.  The
 * process is persistent (it ignores max_idle and max_use), so that its
 * counts are the listener's counts; it still exits after a reload, a
 * table change or a stop, once its sessions have ended.  Trusts its
 * configuration (validated by master); nothing from the network.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "dns.h"
#include "inet_match.h"
#include "mem.h"
#include "msg.h"
#include "rewrite_clnt.h"
#include "smtpd.h"
#include "table.h"

struct smtpd_config smtpd;

/* Sessions per client address, in this process. */
struct smtpd_client {
	struct smtpd_client *next;
	unsigned long count;
	char addr[INET6_ADDRSTRLEN];
};

static struct smtpd_client **client_buckets;
static size_t client_nbuckets;
static unsigned long admitted; /* sessions counted against the limits */
static int stressed;
static struct smtpd_session *sessions;

struct event_base *
smtpd_base(void)
{
	return daemon_event_base();
}

int
smtpd_timeout_ms(void)
{
	return stressed ? smtpd.stress_timeout_ms : smtpd.timeout_ms;
}

/* How long another process may take: never more than the client waits. */
int
smtpd_ipc_timeout_ms(void)
{
	int client = smtpd_timeout_ms();

	return client < smtpd.ipc_timeout_ms ? client : smtpd.ipc_timeout_ms;
}

/* ---- the per-IP table ---- */

static size_t
client_hash(const char *addr)
{
	size_t h = 5381;

	for (; *addr; addr++)
		h = h * 33 + (unsigned char)*addr;
	return h % client_nbuckets;
}

static struct smtpd_client *
client_get(const char *addr)
{
	size_t h = client_hash(addr);
	struct smtpd_client *c;

	for (c = client_buckets[h]; c; c = c->next)
		if (strcmp(c->addr, addr) == 0)
			return c;
	c = xcalloc(1, sizeof(*c));
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->next = client_buckets[h];
	client_buckets[h] = c;
	return c;
}

static void
client_put(struct smtpd_client *c)
{
	size_t h = client_hash(c->addr);
	struct smtpd_client **pp;

	if (--c->count > 0)
		return;
	for (pp = &client_buckets[h]; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			free(c);
			return;
		}
	}
	msg_panic("smtpd: client %s not in its table", c->addr);
}

static void
update_stress(void)
{
	unsigned long long used = (unsigned long long)admitted * 100;
	unsigned long long mark =
	        (unsigned long long)smtpd.connection_limit * smtpd.stress_threshold;

	if (!stressed && used > mark) {
		stressed = 1;
		msg_info("stress mode on: %lu of %lu sessions in use; timeout %ds", admitted,
		        smtpd.connection_limit, smtpd.stress_timeout_ms / 1000);
	} else if (stressed && used <= mark) {
		stressed = 0;
		msg_info("stress mode off: %lu of %lu sessions in use", admitted,
		        smtpd.connection_limit);
	}
}

void
smtpd_client_release(struct smtpd_session *s)
{
	if (s->client == NULL)
		return;
	client_put(s->client);
	s->client = NULL;
	admitted--;
	update_stress();
}

void
smtpd_session_list_remove(struct smtpd_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else if (sessions == s)
		sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

/* ---- accept ---- */

/* The limits at connect: admit the session, or give it a refusal. */
static void
admit(struct smtpd_session *s)
{
	struct smtpd_client *c;

	if (admitted >= smtpd.connection_limit) {
		msg_warn("connection limit of %lu sessions reached for service %s: refusing %s[%s]",
		        smtpd.connection_limit, smtpd.service, s->name, s->addr);
		str_printf(&s->refusal, "421 4.3.2 %s Error: all server ports are busy",
		        smtpd.myhostname);
		return;
	}
	c = client_get(s->addr);
	if (smtpd.client_connection_limit > 0 && c->count >= smtpd.client_connection_limit) {
		msg_warn("Connection concurrency limit exceeded: %lu from %s[%s] for service %s",
		        c->count + 1, s->name, s->addr, smtpd.service);
		str_printf(&s->refusal, "421 4.7.0 %s Error: too many connections from %s",
		        smtpd.myhostname, s->addr);
		return;
	}
	c->count++;
	s->client = c;
	admitted++;
	update_stress();
}

static void
on_accept(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct smtpd_session *s;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ||
	        (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
		if (errno != ENOTCONN)
			msg_warn("getpeername: %m");
		close(fd);
		daemon_session_end();
		return;
	}
	s = smtpd_session_new(fd, (struct sockaddr *)&ss);
	if (s == NULL) {
		daemon_session_end();
		return;
	}
	s->next = sessions;
	if (sessions)
		sessions->prev = s;
	sessions = s;
	smtpd_session_enter(s);
	admit(s);
	if (s->refusal.len > 0)
		smtpd_session_connected(s); /* no look-ups: the refusal goes out at once */
	else
		smtpd_dns_check(s);
	smtpd_session_leave(s);
}

static void
on_stop(const char *reason)
{
	msg_debug("stopping (%s); %lu session%s open", reason, admitted, admitted == 1 ? "" : "s");
}

static void
on_expire(void)
{
	struct smtpd_session *s, *next;

	for (s = sessions; s; s = next) {
		next = s->next;
		smtpd_session_expire(s);
	}
}

/* ---- configuration ---- */

static int
ms_of(long long seconds)
{
	return seconds > INT_MAX / 1000 ? INT_MAX : (int)(seconds * 1000);
}

/* Raise the descriptor limit to the hard limit; return what is usable. */
static unsigned long
descriptor_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		msg_fatal("getrlimit(RLIMIT_NOFILE): %m");
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			msg_warn("raising the descriptor limit to %llu: %m",
			        (unsigned long long)rl.rlim_max);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1024 * 1024)
		rl.rlim_cur = 1024 * 1024;
	return rl.rlim_cur > 2 * SMTPD_FD_RESERVE ? (unsigned long)rl.rlim_cur - SMTPD_FD_RESERVE
	                                          : SMTPD_FD_RESERVE;
}

static void
read_limits(void)
{
	unsigned long budget = descriptor_budget();
	long long limit = config_int(cfg, "smtpd_connection_limit");

	smtpd.connection_limit = limit == 0 ? budget : (unsigned long)limit;
	if (smtpd.connection_limit > budget) {
		msg_warn("smtpd_connection_limit %lu is more than the descriptors allow; using %lu",
		        smtpd.connection_limit, budget);
		smtpd.connection_limit = budget;
	}
	smtpd.client_connection_limit =
	        (unsigned long)config_int(cfg, "smtpd_client_connection_limit");
	smtpd.stress_threshold = (unsigned)config_int(cfg, "smtpd_stress_threshold");
	client_nbuckets = SMTPD_CLIENT_BUCKETS_MIN;
	while (client_nbuckets < smtpd.connection_limit && client_nbuckets < (1u << 20))
		client_nbuckets *= 2;
	client_buckets = xcalloc(client_nbuckets, sizeof(*client_buckets));
}

static void
open_resolver(void)
{
	struct dns_options opt;
	struct str err = STR_INIT;
	const char *servers = config_str(cfg, "dns_servers");

	memset(&opt, 0, sizeof(opt));
	opt.servers = *servers ? servers : NULL;
	smtpd.dns = dns_resolver_new(daemon_event_base(), &opt, &err);
	if (smtpd.dns == NULL)
		msg_fatal("reverse DNS check: %s", str_cstr(&err));
	str_free(&err);
}

/* A list of networks (mynetworks, smtpd_etrn_clients), tables watched. */
static struct inet_match *
open_networks(const char *param)
{
	struct str err = STR_INIT;
	struct inet_match *m = inet_match_new(param, config_list(cfg, param), &err);

	if (m == NULL)
		msg_fatal("%s", str_cstr(&err));
	for (size_t i = 0; i < inet_match_table_count(m); i++)
		daemon_watch_table(inet_match_table(m, i));
	str_free(&err);
	return m;
}

static void
pre_jail(int argc, char **argv)
{
	struct str err = STR_INIT;
	const char *level = config_str(cfg, "smtpd_tls_security_level");

	(void)argc;
	(void)argv;
	memset(&smtpd, 0, sizeof(smtpd));
	smtpd.protocol_log_fd = -1;
	smtpd.service = daemon_service();
	smtpd.myhostname = config_str(cfg, "myhostname");
	smtpd.banner = config_str(cfg, "smtpd_banner");
	smtpd.line_limit = (size_t)config_int(cfg, "smtpd_line_length_limit");
	smtpd.hard_error_limit = (unsigned)config_int(cfg, "smtpd_hard_error_limit");
	smtpd.timeout_ms = ms_of(config_time(cfg, "smtpd_timeout"));
	smtpd.stress_timeout_ms = ms_of(config_time(cfg, "smtpd_stress_timeout"));
	smtpd.min_data_rate = (unsigned)config_int(cfg, "smtpd_min_data_rate");
	smtpd.message_size_limit = (unsigned long long)config_size(cfg, "message_size_limit");
	smtpd.session_size_limit = (unsigned long long)config_size(cfg, "smtpd_session_size_limit");
	smtpd.recipient_limit = (unsigned long)config_int(cfg, "smtpd_recipient_limit");
	smtpd.messages_per_session = (unsigned long)config_int(cfg, "smtpd_messages_per_session");
	smtpd.data_limits.message_size = smtpd.message_size_limit;
	smtpd.data_limits.header_size = (unsigned long long)config_size(cfg, "header_size_limit");
	smtpd.data_limits.header_count = (unsigned long)config_int(cfg, "header_count_limit");
	smtpd.data_limits.hop_count = (unsigned long)config_int(cfg, "hopcount_limit");
	smtpd.queue_minfree = (unsigned long long)config_size(cfg, "queue_minfree");
	smtpd.helo_required = config_bool(cfg, "smtpd_helo_required");
	smtpd.reverse_dns_check = config_bool(cfg, "smtpd_reverse_dns_check");
	smtpd.reject_unverified = config_bool(cfg, "smtpd_reject_unverified_client");
	smtpd.ipc_timeout_ms = ms_of(config_time(cfg, "ipc_timeout"));
	smtpd.wrappermode = config_bool(cfg, "smtpd_tls_wrappermode");
	smtpd.tls_level = strcmp(level, "encrypt") == 0 ? SMTPD_TLS_ENCRYPT
	        : strcmp(level, "none") == 0            ? SMTPD_TLS_NONE
	                                                : SMTPD_TLS_MAY;
	read_limits();
	smtpd.tls_ctx = smtpd_tls_context();
	smtpd.mynetworks = open_networks("mynetworks");
	smtpd.etrn_clients = open_networks("smtpd_etrn_clients");
	if (smtpd.reverse_dns_check || smtpd.reject_unverified ||
	        inet_match_wants_name(smtpd.mynetworks) ||
	        inet_match_wants_name(smtpd.etrn_clients))
		open_resolver();
	if (*config_str(cfg, "smtpd_protocol_log") &&
	        smtpd_log_protocol_open(config_str(cfg, "smtpd_protocol_log"), &err) < 0)
		msg_fatal("smtpd_protocol_log: %s", str_cstr(&err));
	rewrite_clnt_setup(NULL, 0);
	smtpd_check_init();
	str_free(&err);
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
	        .model = DAEMON_EVENT,
	        .flags = DAEMON_PERSISTENT,
	        .pre_jail = pre_jail,
	        .accept = on_accept,
	        .stop = on_stop,
	        .expire = on_expire,
	};

	return daemon_main(argc, argv, &ops);
}
