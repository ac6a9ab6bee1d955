/*
 * qmgr_control.c - the requests on public/qmgr other than wakeups:
 * flush (tern queue flush, smtpd's ETRN), hold, release, delete,
 * requeue, and the list of destinations (docs/qmgr.md has the frames).
 *
 * Trusts nobody who connects: one frame of at most
 * QMGR_CONTROL_FRAME_MAX within QMGR_CONTROL_TIMEOUT_MS, every attribute
 * checked; hold, release, delete, requeue and a flush that is not an
 * ETRN only from root or qmgr's own user (SO_PEERCRED).  The reply goes
 * out before any slow work (a flush's scan of deferred/) starts.
 * Called by qmgr.c (ops->accept).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "qmgr.h"
#include "stream.h"

#define CONTROL_DOMAIN_MAX 255 /* octets of a flush domain */

struct control {
	struct stream *stream;
	int privileged; /* root or our own user */
	int replied;
	char *flush_domain; /* work to do once the reply is out */
	int flush_pending;
	int broken; /* the reply could not be queued: end at once */
	struct control *next, *prev;
};

static struct control *controls;

static void
control_end(struct control *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		controls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->stream)
		stream_close(c->stream);
	free(c->flush_domain);
	free(c);
	daemon_session_end();
}

/* The flush itself, after the reply went out. */
static void
do_flush(const char *domain)
{
	msg_info("flush requested%s%s", domain ? " for " : "", domain ? domain : "");
	qmgr_message_flush_active(domain);
	qmgr_dest_flush(domain);
	qmgr_scan_flush(domain);
}

static void
reply(struct control *c, struct attr_list *r)
{
	struct str frame = STR_INIT;

	attr_encode(r, &frame);
	if (stream_write(c->stream, frame.data, frame.len) < 0) {
		msg_warn("control reply of %zu octets does not fit the output buffer", frame.len);
		c->broken = 1;
	}
	str_free(&frame);
	c->replied = 1;
}

static void
reply_status(struct control *c, const char *status, const char *reason, const char *folder)
{
	struct attr_list r;

	attr_list_init(&r);
	attr_put_str(&r, "status", status);
	if (reason)
		attr_put_str(&r, "reason", reason);
	if (folder)
		attr_put_str(&r, "folder", folder);
	reply(c, &r);
	attr_list_free(&r);
}

/* A domain as ETRN or the administrator gives it: a host name or an
 * address literal, nothing else. */
static int
domain_ok(const char *d)
{
	size_t n = strlen(d);

	if (n == 0 || n > CONTROL_DOMAIN_MAX)
		return 0;
	for (; *d; d++) {
		unsigned char ch = (unsigned char)*d;

		if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == '@' || ch == '\\')
			return 0;
	}
	return 1;
}

static void
request_flush(struct control *c, const struct attr_list *l)
{
	const char *domain = attr_find(l, "domain") ? attr_get_str(l, "domain") : NULL;
	long long etrn = 0;

	if (attr_find(l, "etrn") && attr_get_int(l, "etrn", 0, 1, &etrn) < 0) {
		reply_status(c, "fail", "malformed etrn attribute", NULL);
		return;
	}
	if (domain && *domain == '\0')
		domain = NULL;
	if (attr_find(l, "domain") && (domain == NULL ? etrn : !domain_ok(domain))) {
		reply_status(c, "fail", "malformed domain", NULL);
		return;
	}
	if (etrn && domain == NULL) {
		reply_status(c, "fail", "ETRN needs a domain", NULL);
		return;
	}
	if (!etrn && !c->privileged) {
		reply_status(c, "fail", "permission denied", NULL);
		return;
	}
	if (etrn && !qmgr_flush_domain_ok(domain)) {
		msg_info("ETRN for %s refused: not in fast_flush_domains", domain);
		reply_status(c, "refused", "domain not eligible for ETRN", NULL);
		return;
	}
	c->flush_pending = 1;
	c->flush_domain = domain ? xstrdup(domain) : NULL;
	reply_status(c, "ok", NULL, NULL);
}

/* Where a message is: its folder, or -1. */
static int
find_folder(const char *id)
{
	static const enum queue_folder look[] = {QUEUE_FOLDER_INCOMING, QUEUE_FOLDER_ACTIVE,
	        QUEUE_FOLDER_DEFERRED, QUEUE_FOLDER_HOLD, QUEUE_FOLDER_CORRUPT};
	struct str path = STR_INIT;
	struct stat st;
	int found = -1;

	for (size_t i = 0; i < sizeof(look) / sizeof(look[0]) && found < 0; i++) {
		str_reset(&path);
		queue_dir_path(&path, "", look[i], id);
		if (lstat(str_cstr(&path), &st) == 0)
			found = (int)look[i];
	}
	str_free(&path);
	return found;
}

/* Make a deferred/ file due now (its mtime); 0 or -1. */
static int
due_now(enum queue_folder folder, const char *id)
{
	struct str path = STR_INIT;
	int rc;

	queue_dir_path(&path, "", folder, id);
	rc = utimensat(AT_FDCWD, str_cstr(&path), NULL, AT_SYMLINK_NOFOLLOW);
	if (rc < 0)
		msg_warn("%s: utimensat %s: %m", id, str_cstr(&path));
	str_free(&path);
	return rc;
}

static int
move(const char *id, enum queue_folder from, enum queue_folder to, struct str *err)
{
	return queue_dir_move("", id, from, to, err) == QUEUE_OK ? 0 : -1;
}

static int
remove_file(const char *id, enum queue_folder folder, struct str *err)
{
	struct str path = STR_INIT;
	int rc = 0;

	queue_dir_path(&path, "", folder, id);
	if (unlink(str_cstr(&path)) < 0) {
		str_printf(err, "remove %s: %s", str_cstr(&path), strerror(errno));
		rc = -1;
	}
	str_free(&path);
	return rc;
}

/* hold, release, delete, requeue of a message that is not active. */
static int
act_on_file(const char *verb, const char *id, enum queue_folder where, struct str *err)
{
	int rc = -1;

	if (strcmp(verb, "hold") == 0) {
		if (where == QUEUE_FOLDER_HOLD)
			return 0;
		if (where == QUEUE_FOLDER_CORRUPT) {
			str_appendz(err, "message is in corrupt/");
			return -1;
		}
		if ((rc = move(id, where, QUEUE_FOLDER_HOLD, err)) == 0)
			msg_info("%s: placed on hold", id);
	} else if (strcmp(verb, "release") == 0) {
		if (where != QUEUE_FOLDER_HOLD) {
			str_appendz(err, "message is not on hold");
			return -1;
		}
		if (due_now(where, id) == 0 &&
		        (rc = move(id, where, QUEUE_FOLDER_DEFERRED, err)) == 0) {
			msg_info("%s: released from hold", id);
			qmgr_scan_schedule(QUEUE_FOLDER_DEFERRED, id, 0, 0, NULL);
		}
	} else if (strcmp(verb, "delete") == 0) {
		if ((rc = remove_file(id, where, err)) == 0)
			msg_info("%s: removed", id);
	} else { /* requeue */
		if (where == QUEUE_FOLDER_CORRUPT) {
			str_appendz(err, "message is in corrupt/");
			return -1;
		}
		if (where == QUEUE_FOLDER_INCOMING)
			return 0;
		if (due_now(where, id) == 0 &&
		        (where == QUEUE_FOLDER_DEFERRED ||
		                (rc = move(id, where, QUEUE_FOLDER_DEFERRED, err)) == 0)) {
			rc = 0;
			msg_info("%s: requeued", id);
			qmgr_scan_schedule(QUEUE_FOLDER_DEFERRED, id, 0, 0, NULL);
		}
	}
	if (rc < 0 && err->len == 0)
		str_appendz(err, "cannot change the message's file");
	return rc;
}

static void
request_message(struct control *c, const char *verb, const struct attr_list *l)
{
	const char *id = attr_get_str(l, "queue_id");
	struct qmgr_message *m;
	struct str err = STR_INIT;
	int where;

	if (!c->privileged) {
		reply_status(c, "fail", "permission denied", NULL);
		return;
	}
	if (id == NULL || !queue_id_valid(id)) {
		reply_status(c, "fail", "malformed queue_id", NULL);
		return;
	}
	if ((m = qmgr_message_find(id)) != NULL) {
		if (strcmp(verb, "release") == 0) {
			reply_status(c, "fail", "message is not on hold", "active");
			return;
		}
		msg_info("%s: %s requested while it is active", id, verb);
		qmgr_message_request(m,
		        strcmp(verb, "hold") == 0             ? QMGR_MSG_HOLD
		                : strcmp(verb, "delete") == 0 ? QMGR_MSG_DELETE
		                                              : QMGR_MSG_REQUEUE);
		reply_status(c, "ok", NULL, "active");
		return;
	}
	if ((where = find_folder(id)) < 0) {
		reply_status(c, "fail", "no such message", NULL);
		return;
	}
	if (act_on_file(verb, id, (enum queue_folder)where, &err) < 0)
		reply_status(c, "fail", str_cstr(&err), queue_folder_name(where));
	else
		reply_status(c, "ok", NULL, queue_folder_name(where));
	str_free(&err);
}

static void
request_destinations(struct control *c)
{
	struct attr_list r;

	attr_list_init(&r);
	attr_put_str(&r, "status", "ok");
	qmgr_dest_list(&r);
	reply(c, &r);
	attr_list_free(&r);
}

static void
handle(struct control *c, const struct attr_list *l)
{
	const char *verb = attr_get_str(l, "request");

	if (verb == NULL || l->n == 0 || strcmp(attr_name(l, &l->v[0]), "request") != 0)
		reply_status(c, "fail", "malformed request", NULL);
	else if (strcmp(verb, "flush") == 0)
		request_flush(c, l);
	else if (strcmp(verb, "hold") == 0 || strcmp(verb, "release") == 0 ||
	        strcmp(verb, "delete") == 0 || strcmp(verb, "requeue") == 0)
		request_message(c, verb, l);
	else if (strcmp(verb, "destinations") == 0)
		request_destinations(c);
	else if (strcmp(verb, "wakeup") == 0) {
		/* From a sender that did not go through the skeleton's check. */
		if (!qmgr_stopping())
			qmgr_scan_incoming();
		reply_status(c, "ok", NULL, NULL);
	} else
		reply_status(c, "fail", "unknown request", NULL);
}

static void
on_read(struct stream *s, void *arg)
{
	struct control *c = arg;
	struct attr_list l;
	size_t len, used;
	const char *why;
	const char *p = stream_peek(s, &len);
	int rc;

	if (c->replied) {
		stream_discard_input(s);
		return;
	}
	attr_list_init(&l);
	rc = attr_decode(p, len, QMGR_CONTROL_FRAME_MAX, &l, &used, &why);
	if (rc < 0) {
		msg_warn("control request: %s", why);
		reply_status(c, "fail", why, NULL);
	} else if (rc == 1) {
		stream_consume(s, used);
		handle(c, &l);
	}
	attr_list_free(&l);
	if (c->broken)
		control_end(c);
	else if (c->replied)
		stream_set_reading(s, 0);
}

static void
on_drained(struct stream *s, void *arg)
{
	struct control *c = arg;

	(void)s;
	if (!c->replied)
		return;
	if (c->flush_pending) {
		c->flush_pending = 0;
		do_flush(c->flush_domain);
	}
	control_end(c);
}

static void
on_error(struct stream *s, enum stream_error why, void *arg)
{
	struct control *c = arg;

	(void)why;
	if (c->flush_pending) {
		/* The reply was lost, not the request. */
		c->flush_pending = 0;
		do_flush(c->flush_domain);
	}
	if (!c->replied)
		msg_debug("control connection: %s", stream_error_text(s));
	control_end(c);
}

void
qmgr_control_accept(int fd)
{
	static const struct stream_callbacks cb = {
	        .on_read = on_read, .on_drained = on_drained, .on_error = on_error};
	struct control *c = xcalloc(1, sizeof(*c));
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
		c->privileged = cred.uid == 0 || cred.uid == geteuid();
	c->stream = stream_new(fd, QMGR_CONTROL_FRAME_MAX + ATTR_HEADER_SIZE + 64);
	stream_set_output_max(c->stream, QMGR_CONTROL_REPLY_MAX);
	c->next = controls;
	if (controls)
		controls->prev = c;
	controls = c;
	if (stream_attach(c->stream, qmgr_base(), &cb, c) < 0) {
		msg_warn("control connection: cannot watch it");
		control_end(c);
		return;
	}
	stream_set_read_deadline(c->stream, QMGR_CONTROL_TIMEOUT_MS);
	stream_set_write_deadline(c->stream, QMGR_CONTROL_TIMEOUT_MS);
}

void
qmgr_control_close_all(void)
{
	while (controls)
		control_end(controls);
}
