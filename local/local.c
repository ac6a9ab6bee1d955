/*
 * local.c - the local delivery agent: final delivery into the Drop.
 *
 * master.cf: "local unix - n n - - local".  Not chrooted (it reads the
 * password file, home directories, .forward and :include: files), and in
 * root mode it stays root so that each write can happen as its owner
 * (local_privs.c); in unprivileged mode it runs as the invoking user.
 *
 * The protocol is docs/delivery-protocol.md (lib/deliver.h): qmgr
 * connects to private/local and sends one request; local opens the queue
 * file itself, checks that each recipient of the request is the pending
 * recipient at its index, delivers it (local_recipient.c) and answers it
 * at once with relay=local, then sends the final frame and closes.  A
 * request it cannot decode, a protocol version it does not know, or a
 * queue file it cannot read is answered with a final frame alone, so
 * qmgr defers every recipient.  local never writes the queue file.
 *
 * Trusts main.cf, its tables and the password file; checks every request
 * attribute (lib/deliver.c) and every queue file (lib/queue_file_read.c)
 * as network input.  Tables are opened before the first request and
 * watched: a changed table ends the process after its request.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "deliver.h"
#include "local.h"
#include "mem.h"
#include "msg.h"
#include "resolve.h"
#include "table.h"
#include "table_build.h"

struct local_config local_cfg;

/* ---- results ---- */

void
local_result_init(struct local_result *res)
{
	res->status = LOCAL_DEFER;
	snprintf(res->dsn, sizeof(res->dsn), "%s", "4.3.0");
	str_init(&res->reason);
	str_init(&res->data);
}

void
local_result_free(struct local_result *res)
{
	str_free(&res->reason);
	str_free(&res->data);
}

void
local_result_set(
        struct local_result *res, enum local_status status, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	res->status = status;
	snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
	str_reset(&res->reason);
	va_start(ap, fmt);
	str_vprintf(&res->reason, fmt, ap);
	va_end(ap);
}

void
local_result_errno(struct local_result *res, int err, const char *what)
{
	local_result_set(res, LOCAL_DEFER, err == ENOSPC || err == EDQUOT ? "4.2.2" : "4.3.0",
	        "%s: %s", what, strerror(err));
}

void
local_result_fail(struct local_result *res, int err, const char *text)
{
	local_result_set(
	        res, LOCAL_DEFER, err == ENOSPC || err == EDQUOT ? "4.2.2" : "4.3.0", "%s", text);
}

const char *
local_status_name(enum local_status st)
{
	switch (st) {
	case LOCAL_SENT:
		return "sent";
	case LOCAL_DEFER:
		return "deferred";
	default:
		return "bounced";
	}
}

/* ---- tables ---- */

int
local_maps_lookup(struct local_maps *m, const char *key, struct str *value, struct str *err)
{
	for (size_t i = 0; i < m->n; i++) {
		int rc = table_lookup(m->t[i], key, value, err);

		if (rc != 0)
			return rc;
	}
	return 0;
}

static void
open_maps(const char *param, struct local_maps *m)
{
	char *const *specs = config_list(cfg, param);
	struct str err = STR_INIT;

	for (size_t i = 0; specs[i]; i++) {
		struct table *t = table_open(specs[i], TABLE_READ, &err);

		if (t == NULL)
			msg_fatal("%s: %s", param, str_cstr(&err));
		m->t = xreallocarray(m->t, m->n + 1, sizeof(*m->t));
		m->t[m->n++] = t;
		daemon_watch_table(t);
	}
	str_free(&err);
}

/* The owner of an alias table's file: whose privileges its commands and
 * files get (default_privs for root: local_identity_unroot). */
static struct local_identity *
alias_owner(const char *spec)
{
	const char *colon = strchr(spec, ':');
	struct str path = STR_INIT, type = STR_INIT;
	struct local_identity *id;
	struct stat st;

	if (local_cfg.unprivileged || colon == NULL)
		return local_identity_copy(
		        local_cfg.unprivileged ? local_cfg.self : local_cfg.default_privs);
	str_set(&type, spec, (size_t)(colon - spec));
	if (table_build_output(type.data, colon + 1, &path) < 0)
		str_setz(&path, colon + 1);
	if (path.data[0] == '/' && stat(path.data, &st) == 0)
		id = local_identity_owner(st.st_uid, st.st_gid);
	else
		id = local_identity_copy(local_cfg.default_privs);
	str_free(&path);
	str_free(&type);
	return id;
}

static unsigned
sources(const char *param)
{
	unsigned mask = 0;

	for (char *const *w = config_list(cfg, param); *w; w++) {
		if (strcmp(*w, "alias") == 0)
			mask |= LOCAL_SRC_ALIAS;
		else if (strcmp(*w, "forward") == 0)
			mask |= LOCAL_SRC_FORWARD;
		else if (strcmp(*w, "include") == 0)
			mask |= LOCAL_SRC_INCLUDE;
	}
	return mask;
}

static void
pre_jail(int argc, char **argv)
{
	struct str err = STR_INIT;
	char *const *aliases;

	(void)argc;
	(void)argv;
	local_cfg.unprivileged = config_bool(cfg, "unprivileged_mode");
	local_cfg.myhostname = config_str(cfg, "myhostname");
	local_cfg.drop_directory = config_str(cfg, "drop_directory");
	local_cfg.home_mailbox = config_str(cfg, "home_mailbox");
	local_cfg.mail_spool_directory = config_str(cfg, "mail_spool_directory");
	local_cfg.recipient_delimiter = config_str(cfg, "recipient_delimiter");
	local_cfg.forward_path = config_list(cfg, "forward_path");
	local_cfg.drop_system_mailboxes = config_bool(cfg, "drop_system_mailboxes");
	local_cfg.allow_commands = sources("allow_mail_to_commands");
	local_cfg.allow_files = sources("allow_mail_to_files");
	local_cfg.mailbox_size_limit = config_size(cfg, "mailbox_size_limit");
	local_cfg.domain_size_limit = config_size(cfg, "domain_size_limit");
	local_cfg.local_queue_lifetime = config_time(cfg, "local_queue_lifetime");
	local_cfg.command_time_limit = config_time(cfg, "command_time_limit");
	local_cfg.header_size_limit = config_size(cfg, "header_size_limit");
	local_cfg.virtual_minimum_uid = config_int(cfg, "virtual_minimum_uid");
	local_cfg.ipc_timeout_ms = (int)(config_time(cfg, "ipc_timeout") * 1000);

	local_cfg.self = local_identity_uid(getuid(), getgid());
	local_cfg.self->switch_ids = 0;
	if (!local_cfg.unprivileged) {
		const char *name = config_str(cfg, "default_privs");

		if (local_identity_user(name, &local_cfg.default_privs, &err) <= 0)
			msg_fatal("default_privs: no user %s%s%s", name, err.len ? ": " : "",
			        str_cstr(&err));
		if (local_cfg.default_privs->uid == 0)
			msg_fatal("default_privs: %s has uid 0", name);
	}
	open_maps("alias_maps", &local_cfg.alias_maps);
	aliases = config_list(cfg, "alias_maps");
	local_cfg.alias_privs =
	        xcalloc(local_cfg.alias_maps.n + 1, sizeof(struct local_identity *));
	for (size_t i = 0; i < local_cfg.alias_maps.n; i++)
		local_cfg.alias_privs[i] = alias_owner(aliases[i]);
	open_maps("virtual_mailbox_maps", &local_cfg.virtual_mailbox_maps);
	open_maps("virtual_uid_maps", &local_cfg.virtual_uid_maps);
	open_maps("virtual_gid_maps", &local_cfg.virtual_gid_maps);
	open_maps("mailbox_size_limit_maps", &local_cfg.mailbox_size_limit_maps);
	open_maps("domain_size_limit_maps", &local_cfg.domain_size_limit_maps);
	if ((local_cfg.resolver = resolver_open(cfg, &err)) == NULL)
		msg_fatal("%s", str_cstr(&err));
	for (size_t i = 0; i < resolver_table_count(local_cfg.resolver); i++)
		daemon_watch_table(resolver_table(local_cfg.resolver, i));
	str_free(&err);
}

/* ---- one request ---- */

static int
send_done(int fd, const char *queue_id, const char *dsn, const char *reason)
{
	struct deliver_done d;
	struct str err = STR_INIT;
	int rc;

	deliver_done_init(&d);
	d.status = DELIVER_DONE_OK;
	snprintf(d.dsn, sizeof(d.dsn), "%s", dsn);
	str_setz(&d.reason, reason);
	if (*dsn)
		str_setz(&d.relay, "local");
	if ((rc = deliver_send_done(fd, &d, local_cfg.ipc_timeout_ms, &err)) < 0)
		msg_warn("%s: sending the final answer: %s", queue_id, str_cstr(&err));
	deliver_done_free(&d);
	str_free(&err);
	return rc;
}

static int
send_answer(
        int fd, const char *queue_id, size_t index, struct local_result *res, long long elapsed_ms)
{
	static const char *const fallback[] = {"2.0.0", "4.3.0", "5.3.0"};
	static const char classes[] = {'2', '4', '5'};
	static const enum deliver_status map[] = {DELIVER_SENT, DELIVER_DEFERRED, DELIVER_BOUNCED};
	struct deliver_result r;
	struct str err = STR_INIT;
	int rc;

	deliver_result_init(&r);
	r.index = index;
	r.status = map[res->status];
	if (deliver_dsn_valid(res->dsn, classes[res->status]))
		memcpy(r.dsn, res->dsn, sizeof(r.dsn));
	else
		memcpy(r.dsn, fallback[res->status], 6);
	str_set(&r.reason, res->reason.data, res->reason.len);
	str_setz(&r.relay, "local");
	r.delay_xmit_ms = elapsed_ms < 0 ? 0 : elapsed_ms;
	if ((rc = deliver_send_result(fd, &r, local_cfg.ipc_timeout_ms, &err)) < 0)
		msg_warn("%s: sending an answer: %s", queue_id, str_cstr(&err));
	deliver_result_free(&r);
	str_free(&err);
	return rc;
}

/* The request's recipient is the pending one at its index in the file. */
static int
rcpt_matches(struct queue_file *qf, const struct deliver_rcpt *dr)
{
	const struct queue_rcpt *qr;

	if (dr->index >= queue_file_rcpt_count(qf))
		return 0;
	qr = queue_file_rcpt(qf, dr->index);
	return qr->state == QUEUE_RCPT_PENDING && strcasecmp(qr->address, dr->address) == 0;
}

static void
deliver_request(int fd, struct deliver_request *req)
{
	struct local_message m;
	struct queue_file *qf = NULL;
	struct str err = STR_INIT, reason = STR_INIT;
	time_t now = time(NULL);

	if (queue_file_open(req->queue_file, QUEUE_OPEN_READ, &qf, &err) != QUEUE_OK) {
		msg_warn("%s: %s", req->queue_id, str_cstr(&err));
		str_printf(&reason, "cannot read the queue file: %s", str_cstr(&err));
		(void)send_done(fd, req->queue_id, "4.3.0", reason.data);
		goto done;
	}
	memset(&m, 0, sizeof(m));
	m.queue_id = req->queue_id;
	m.sender = req->sender;
	m.qf = qf;
	m.env = queue_file_envelope(qf);
	m.arrival_sec = m.env->arrival_usec / 1000000;
	m.expired = (long long)now - m.arrival_sec > local_cfg.local_queue_lifetime;
	if (local_copy_scan(&m, &err) < 0) {
		msg_warn("%s: %s", req->queue_id, str_cstr(&err));
		(void)send_done(fd, req->queue_id, "4.3.0", "cannot read the queue file");
		goto free_message;
	}
	for (size_t i = 0; i < req->nrcpt; i++) {
		const struct deliver_rcpt *dr = &req->rcpts[i];
		struct local_rcpt r = {dr->index, dr->address, "", dr->notify};
		struct local_result res;
		struct str orcpt = STR_INIT;
		long long start = clock_ms();

		local_result_init(&res);
		if (*dr->orcpt_type) {
			str_printf(&orcpt, "%s;%s", dr->orcpt_type, dr->orcpt_address);
			r.orcpt = orcpt.data;
		}
		if (!rcpt_matches(qf, dr)) {
			msg_warn("%s: recipient %zu <%s>: queue file and request disagree",
			        req->queue_id, dr->index, dr->address);
			local_result_set(
			        &res, LOCAL_DEFER, "4.3.0", "queue file and request disagree");
		} else {
			local_deliver_rcpt(&m, &r, &res);
		}
		if (send_answer(fd, req->queue_id, dr->index, &res, clock_ms() - start) < 0) {
			local_result_free(&res);
			str_free(&orcpt);
			goto free_message;
		}
		local_result_free(&res);
		str_free(&orcpt);
	}
	(void)send_done(fd, req->queue_id, "", "");
free_message:
	for (size_t i = 0; i < m.ndelivered_to; i++)
		free(m.delivered_to[i]);
	free(m.delivered_to);
done:
	if (qf != NULL)
		queue_file_close(qf);
	str_free(&err);
	str_free(&reason);
}

static void
serve(int fd)
{
	struct attr_list l;
	struct deliver_request req;
	struct str err = STR_INIT;
	long long version;
	int rc;

	attr_list_init(&l);
	rc = attr_recv(fd, &l, DELIVER_REQUEST_MAX, local_cfg.ipc_timeout_ms, &err);
	if (rc < 0)
		msg_warn("reading a request: %s", str_cstr(&err));
	if (rc != 0)
		goto done;
	if (deliver_request_decode(&l, &req, &err) < 0) {
		if (attr_get_int(&l, "protocol", 0, LLONG_MAX, &version) == 0 &&
		        version != DELIVER_PROTOCOL) {
			str_reset(&err);
			str_printf(&err, "unsupported delivery protocol version %lld", version);
		} else {
			msg_warn("protocol error: %s", str_cstr(&err));
		}
		(void)send_done(fd, "NOQUEUE", "4.3.5", str_cstr(&err));
		goto done;
	}
	deliver_request(fd, &req);
	deliver_request_free(&req);
done:
	attr_list_free(&l);
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

	return daemon_main(argc, argv, &ops);
}
