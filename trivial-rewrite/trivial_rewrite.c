/*
 * trivial_rewrite.c - the address resolution service: answers rewrite,
 * resolve and verify requests (docs/trivial-rewrite.md) with the logic
 * of lib/resolve.c.
 *
 * master.cf: "rewrite unix - - n - - trivial-rewrite" (not chrooted: it
 * reads system accounts and tables that change).  DAEMON_SINGLE: one
 * client connection per process, but a connection carries any number of
 * requests, answered in order, until the client closes it or it stays
 * idle for max_idle.  Between requests the process looks for SIGTERM or
 * SIGHUP (daemon_stopping(): the skeleton acts on them) and, every
 * table_change_check_interval, for a changed table; either ends the
 * connection, and a changed table ends the process, so that the client's
 * next request reaches a fresh one that reads the new data.
 *
 * Trusts main.cf and its tables; trusts nothing a client sends: frames are
 * limited to REWRITE_FRAME_MAX and a malformed one ends the connection
 * (after a status=error reply); addresses are checked by resolve.c.
 * Clients: smtpd, cleanup, qmgr (lib/rewrite_clnt.c).
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "attr.h"
#include "config.h"
#include "daemon.h"
#include "msg.h"
#include "resolve.h"
#include "rewrite_clnt.h"

#define REWRITE_POLL_SLICE_MS 1000 /* how often a waiting connection looks at signals and tables */

static struct resolver *resolver;
static long long idle_ms, ipc_ms, table_check_ms;

static void
put_result(struct attr_list *rep, const struct resolve_result *res, int with_route)
{
	struct str flags = STR_INIT;

	attr_put_str(rep, "status", resolve_status_name(res->status));
	if (res->status == RESOLVE_OK || res->status == RESOLVE_UNKNOWN) {
		resolve_flags_format(res->flags, &flags);
		attr_put_str(rep, "class", resolve_class_name(res->class));
		attr_put(rep, "recipient", res->recipient.data, res->recipient.len);
		attr_put_str(rep, "flags", str_cstr(&flags));
		if (with_route || res->transport.len > 0) {
			attr_put(rep, "transport", res->transport.data, res->transport.len);
			attr_put(rep, "nexthop", res->nexthop.data, res->nexthop.len);
		}
	}
	if (res->status != RESOLVE_OK)
		attr_put(rep, "reason", res->reason.data, res->reason.len);
	str_free(&flags);
}

static void
error_reply(struct attr_list *rep, const char *reason)
{
	attr_list_reset(rep);
	attr_put_str(rep, "status", "error");
	attr_put_str(rep, "reason", reason);
}

/* Answer one request frame into rep. */
static void
answer(const struct attr_list *req, struct attr_list *rep)
{
	const char *verb = attr_get_str(req, "request");
	const char *addr = attr_get_str(req, "address");
	const char *sender = NULL;
	struct resolve_result res;
	struct str canon = STR_INIT, reason = STR_INIT;
	enum resolve_status st = RESOLVE_ERROR;

	attr_list_reset(rep);
	if (verb == NULL) {
		error_reply(rep, "missing or malformed request attribute");
		return;
	}
	if (addr == NULL) {
		error_reply(rep, "missing or malformed address attribute");
		return;
	}
	if (attr_find(req, "sender") && (sender = attr_get_str(req, "sender")) == NULL) {
		error_reply(rep, "malformed sender attribute");
		return;
	}
	resolve_result_init(&res);
	if (strcmp(verb, "rewrite") == 0) {
		if ((st = resolve_canonical(resolver, addr, &canon, &reason)) == RESOLVE_OK) {
			attr_put_str(rep, "status", "ok");
			attr_put(rep, "address", canon.data, canon.len);
		} else {
			error_reply(rep, str_cstr(&reason));
		}
	} else if (strcmp(verb, "resolve") == 0) {
		st = resolve_address(resolver, addr, sender, &res);
		put_result(rep, &res, 1);
	} else if (strcmp(verb, "verify") == 0) {
		st = resolve_verify(resolver, addr, &res);
		put_result(rep, &res, 0);
	} else {
		error_reply(rep, "unknown request");
	}
	msg_debug("%s %s%s%s: %s", verb, addr, sender ? " from " : "", sender ? sender : "",
	        resolve_status_name(st));
	resolve_result_free(&res);
	str_free(&canon);
	str_free(&reason);
}

/*
 * Wait until the next request starts: 1 when fd is readable, 0 when the
 * connection should end (idle, a signal, a changed table).
 */
static int
wait_for_request(int fd, long long *table_next)
{
	long long deadline = clock_ms() + idle_ms;
	const char *changed;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		long long left = deadline - clock_ms();
		int n;

		/* Stopped, or SIGTERM/SIGHUP waits for serve() to return. */
		if (daemon_stopping())
			return 0;
		if (clock_ms() >= *table_next) {
			*table_next = clock_ms() + table_check_ms;
			if ((changed = resolver_changed(resolver)) != NULL) {
				msg_info("table %s has changed; finishing and exiting", changed);
				daemon_stop("table changed");
				return 0;
			}
		}
		if (left <= 0)
			return 0;
		n = poll(&p, 1, left < REWRITE_POLL_SLICE_MS ? (int)left : REWRITE_POLL_SLICE_MS);
		if (n < 0 && errno != EINTR) {
			msg_warn("poll: %m");
			return 0;
		}
		if (n > 0)
			return 1;
	}
}

static void
serve(int fd)
{
	struct attr_list req, rep;
	struct str err = STR_INIT;
	long long table_next = clock_ms() + table_check_ms;
	int rc;

	attr_list_init(&req);
	attr_list_init(&rep);
	while (wait_for_request(fd, &table_next)) {
		str_reset(&err);
		rc = attr_recv(fd, &req, REWRITE_FRAME_MAX, (int)ipc_ms, &err);
		if (rc == 1)
			break;
		if (rc < 0) {
			msg_warn("%s: %s", daemon_service(), str_cstr(&err));
			error_reply(&rep, str_cstr(&err));
			(void)attr_send(fd, &rep, (int)ipc_ms, &err);
			break;
		}
		answer(&req, &rep);
		if (attr_send(fd, &rep, (int)ipc_ms, &err) < 0) {
			msg_warn("%s: %s", daemon_service(), str_cstr(&err));
			break;
		}
	}
	attr_list_free(&req);
	attr_list_free(&rep);
	str_free(&err);
}

static void
pre_jail(int argc, char **argv)
{
	struct str err = STR_INIT;

	if (argc > 1)
		msg_fatal("unexpected argument: %s", argv[1]);
	if ((resolver = resolver_open(cfg, &err)) == NULL)
		msg_fatal("%s", str_cstr(&err));
	for (size_t i = 0; i < resolver_table_count(resolver); i++)
		daemon_watch_table(resolver_table(resolver, i));
	idle_ms = config_time(cfg, "max_idle") * 1000;
	ipc_ms = config_time(cfg, "ipc_timeout") * 1000;
	table_check_ms = config_time(cfg, "table_change_check_interval") * 1000;
	if (ipc_ms > REWRITE_CLNT_TIMEOUT_MS)
		ipc_ms = REWRITE_CLNT_TIMEOUT_MS; /* the client gives up by then */
	str_free(&err);
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
	        .model = DAEMON_SINGLE,
	        .pre_jail = pre_jail,
	        .serve = serve,
	};
	int status = daemon_main(argc, argv, &ops);

	resolver_close(resolver);
	return status;
}
