/*
 * sendmail_query.c - the modes of sendmail that submit nothing:
 *
 *	-bp, mailq	list the queue (queue_list.h); in root mode the queue
 *			belongs to mail_owner, so only root (and mail_owner)
 *			may list it
 *	-bi, newaliases	compile every cdb:, hash: and btree: table of
 *			alias_maps from its aliases(5) source (table_build.h)
 *	-bv		say for each address whether it can be delivered:
 *			asks trivial-rewrite (private/rewrite) when it runs,
 *			else resolves here with the same rules (resolve.h)
 *	-q, -qRsite	ask qmgr to flush the deferred mail (public/qmgr,
 *			request=flush, docs/qmgr.md)
 *
 * All run with the caller's rights; what they read (the queue, the
 * tables, the services' replies) is validated by the modules they call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "unix_connect.h"
#include "attr.h"
#include "config.h"
#include "msg.h"
#include "queue_list.h"
#include "resolve.h"
#include "rewrite_clnt.h"
#include "sendmail.h"
#include "table_build.h"

#define SENDMAIL_FLUSH_TIMEOUT_MS 10000 /* qmgr answers a flush at once */
#define SENDMAIL_FLUSH_REPLY_MAX  4096
#define SENDMAIL_REWRITE_SERVICE  "rewrite service:" /* rewrite_clnt's failure text */

static void
queue_path(struct str *path, const char *name)
{
	str_reset(path);
	str_printf(path, "%s/%s", config_str(cfg, "queue_directory"), name);
}

/* ---- -bp ---- */

int
sendmail_print_queue(const struct sendmail_opts *o)
{
	struct queue_list l;
	struct str err = STR_INIT, out = STR_INIT;

	(void)o;
	queue_list_init(&l);
	if (queue_list_read(config_str(cfg, "queue_directory"), &l, &err) < 0)
		sendmail_fail(errno == EACCES ? EX_NOPERM : EX_UNAVAILABLE,
		        "cannot read the queue: %s", str_cstr(&err));
	queue_list_format(&l, &out);
	fwrite(out.data, 1, out.len, stdout);
	queue_list_free(&l);
	str_free(&err);
	str_free(&out);
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}

/* ---- -bi ---- */

static int
build_status(int result)
{
	switch (result) {
	case TABLE_BUILD_OK:
		return EX_OK;
	case TABLE_BUILD_NOINPUT:
		return EX_NOINPUT;
	case TABLE_BUILD_DATAERR:
		return EX_DATAERR;
	case TABLE_BUILD_IOERR:
		return EX_CANTCREAT;
	default:
		return EX_CONFIG;
	}
}

int
sendmail_build_aliases(const struct sendmail_opts *o)
{
	char *const *maps = config_list(cfg, "alias_maps");
	struct table_build_stats stats;
	struct str type = STR_INIT, err = STR_INIT;
	int status = EX_OK, built = 0;

	(void)o;
	for (; *maps; maps++) {
		const char *colon = strchr(*maps, ':');
		int rc;

		if (colon == NULL)
			continue;
		str_set(&type, *maps, (size_t)(colon - *maps));
		if (!str_eq(&type, "cdb") && !str_eq(&type, "hash") && !str_eq(&type, "btree"))
			continue; /* inline:, static:, regexp: ... have nothing to build */
		str_reset(&err);
		rc = table_build(str_cstr(&type), colon + 1, TABLE_SOURCE_ALIASES, &stats, &err);
		if (rc != TABLE_BUILD_OK) {
			msg_error("%s", str_cstr(&err));
			if (status == EX_OK)
				status = build_status(rc);
			continue;
		}
		built++;
		printf("%s: %ld aliases\n", colon + 1, stats.entries);
	}
	if (built == 0 && status == EX_OK)
		msg_warn("alias_maps has no cdb:, hash: or btree: table to build");
	str_free(&type);
	str_free(&err);
	return status;
}

/* ---- -bv ---- */

struct verdict {
	enum resolve_status status;
	enum resolve_class class;
	struct str recipient;
	struct str reason;
};

static struct resolver *local_resolver;

/* Resolve here when the service is not reachable. */
static void
verify_locally(const char *address, struct verdict *v)
{
	struct resolve_result res;
	struct str err = STR_INIT;

	if (local_resolver == NULL && (local_resolver = resolver_open(cfg, &err)) == NULL) {
		v->status = RESOLVE_DEFER;
		str_setz(&v->reason, str_cstr(&err));
		str_free(&err);
		return;
	}
	resolve_result_init(&res);
	v->status = resolve_verify(local_resolver, address, &res);
	v->class = res.class;
	str_set(&v->recipient, res.recipient.data, res.recipient.len);
	str_set(&v->reason, res.reason.data, res.reason.len);
	resolve_result_free(&res);
	str_free(&err);
}

static void
verify_one(const char *address, struct verdict *v)
{
	struct rewrite_reply reply;

	rewrite_reply_init(&reply);
	v->status = rewrite_verify(address, &reply);
	v->class = reply.class;
	str_set(&v->recipient, reply.address.data, reply.address.len);
	str_set(&v->reason, reply.reason.data, reply.reason.len);
	rewrite_reply_free(&reply);
	if (v->status == RESOLVE_DEFER &&
	        strncmp(str_cstr(&v->reason), SENDMAIL_REWRITE_SERVICE,
	                strlen(SENDMAIL_REWRITE_SERVICE)) == 0) {
		msg_debug("%s: %s; resolving here", address, str_cstr(&v->reason));
		verify_locally(address, v);
	}
}

static int
report(const char *address, const struct verdict *v)
{
	const char *canon = v->recipient.len ? v->recipient.data : address;

	switch (v->status) {
	case RESOLVE_OK:
		printf("%s... deliverable: %s%s (%s)\n", address, canon,
		        v->class == RESOLVE_CLASS_REMOTE ? ", remote domain, not verified here"
		                                         : "",
		        resolve_class_name(v->class));
		return EX_OK;
	case RESOLVE_UNKNOWN:
		printf("%s... undeliverable: %s: unknown user\n", address, canon);
		return EX_NOUSER;
	case RESOLVE_DEFER:
		printf("%s... deferred: %s\n", address,
		        v->reason.len ? v->reason.data : "try again");
		return EX_TEMPFAIL;
	default:
		printf("%s... undeliverable: %s\n", address,
		        v->reason.len ? v->reason.data : "bad address");
		return EX_DATAERR;
	}
}

int
sendmail_verify(const struct sendmail_opts *o)
{
	struct str path = STR_INIT, why = STR_INIT;
	struct verdict v = {0};
	int status = EX_OK;

	if (o->nrcpts == 0)
		sendmail_fail(EX_USAGE, "-bv: no addresses to verify");
	queue_path(&path, REWRITE_CLNT_PATH);
	rewrite_clnt_setup(str_cstr(&path), 0);
	for (int i = 0; i < o->nrcpts; i++) {
		char **rcpts = NULL;
		size_t n = 0;

		str_reset(&why);
		if (sendmail_parse_rcpts(o->rcpts[i], &rcpts, &n, &why) < 0) {
			printf("%s... undeliverable: %s\n", o->rcpts[i], str_cstr(&why));
			if (status == EX_OK)
				status = EX_DATAERR;
		}
		for (size_t k = 0; k < n; k++) {
			int st;

			verify_one(rcpts[k], &v);
			st = report(rcpts[k], &v);
			if (status == EX_OK)
				status = st;
		}
		sendmail_free_rcpts(rcpts, n);
	}
	rewrite_clnt_disconnect();
	if (local_resolver)
		resolver_close(local_resolver);
	str_free(&v.recipient);
	str_free(&v.reason);
	str_free(&path);
	str_free(&why);
	fflush(stdout);
	return status;
}

/* ---- -q ---- */

static int
connect_unix(const char *path, struct str *err)
{
	return unix_connect(path, 0, err);
}

int
sendmail_flush(const struct sendmail_opts *o)
{
	struct str path = STR_INIT, err = STR_INIT;
	struct attr_list l;
	const char *status, *reason;
	int fd, rc = EX_OK;

	queue_path(&path, "public/qmgr");
	if ((fd = connect_unix(str_cstr(&path), &err)) < 0)
		sendmail_fail(EX_UNAVAILABLE, "mail system is not running: %s", str_cstr(&err));
	attr_list_init(&l);
	attr_put_str(&l, "request", "flush");
	if (o->flush_domain) {
		attr_put_str(&l, "domain", o->flush_domain);
		if (getuid() != 0)
			attr_put_str(&l, "etrn", "1"); /* what any user may ask */
	}
	if (attr_send(fd, &l, SENDMAIL_FLUSH_TIMEOUT_MS, &err) < 0 ||
	        attr_recv(fd, &l, SENDMAIL_FLUSH_REPLY_MAX, SENDMAIL_FLUSH_TIMEOUT_MS, &err) != 0) {
		close(fd);
		sendmail_fail(EX_UNAVAILABLE, "no answer from qmgr: %s",
		        err.len ? str_cstr(&err) : "connection closed");
	}
	close(fd);
	status = attr_get_str(&l, "status");
	reason = attr_get_str(&l, "reason");
	if (status == NULL || strcmp(status, "ok") != 0) {
		msg_error("flush refused: %s", reason ? reason : status ? status : "no status");
		rc = status && strcmp(status, "refused") == 0 ? EX_NOPERM : EX_UNAVAILABLE;
	} else if (msg_verbose) {
		msg_info("flush requested");
	}
	attr_list_free(&l);
	str_free(&path);
	str_free(&err);
	return rc;
}
