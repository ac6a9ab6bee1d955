/*
 * pickup_cleanup.c - hand one message to cleanup over private/cleanup
 * (docs/cleanup.md): request=open with the envelope, its reply, the
 * recipients, the text in data frames, request=end and the final reply.
 *
 * The message counts as taken only when the final reply is status=ok
 * with a queue ID; anything else is a refusal (status=fail) or a
 * temporary failure (everything else, a lost connection included), and
 * in either case cleanup has removed what it began.  Trusts cleanup's
 * replies only as far as the attribute decoder checks them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_connect.h"
#include "attr.h"
#include "mem.h"
#include "pickup.h"
#include "submit.h"

static int
connect_cleanup(struct str *why)
{
	return unix_connect(PICKUP_CLEANUP_SOCKET, 0, why);
}

/* A reply: ok (with the ID), fail or anything else (defer). */
static enum pickup_result
take_reply(int fd, char id[QUEUE_ID_SIZE], struct str *why)
{
	struct attr_list l;
	struct str err = STR_INIT;
	enum pickup_result result = PICKUP_DEFER;
	const char *status, *qid, *reply;
	int rc;

	attr_list_init(&l);
	rc = attr_recv(fd, &l, PICKUP_REPLY_MAX, pickup_ipc_timeout_ms, &err);
	if (rc != 0) {
		str_printf(why, "cleanup: %s", rc == 1 ? "connection closed" : str_cstr(&err));
	} else {
		status = attr_get_str(&l, "status");
		qid = attr_get_str(&l, "queue_id");
		reply = attr_get_str(&l, "reply");
		if (status && strcmp(status, "ok") == 0 && qid && queue_id_valid(qid)) {
			memcpy(id, qid, QUEUE_ID_SIZE);
			result = PICKUP_OK;
		} else {
			if (status && strcmp(status, "fail") == 0)
				result = PICKUP_FAIL;
			str_printf(why, "cleanup: %s",
			        reply                                ? reply
			                : attr_get_str(&l, "reason") ? attr_get_str(&l, "reason")
			                                             : "malformed reply");
		}
	}
	attr_list_free(&l);
	str_free(&err);
	return result;
}

static int
send_frame(int fd, struct attr_list *l, struct str *why)
{
	struct str err = STR_INIT;
	int rc = attr_send(fd, l, pickup_ipc_timeout_ms, &err);

	if (rc < 0)
		str_printf(why, "cleanup: %s", str_cstr(&err));
	str_free(&err);
	attr_list_reset(l);
	return rc;
}

static void
put_open(struct attr_list *l, const struct pickup_message *m)
{
	attr_put_str(l, "request", "open");
	attr_put_str(l, "sender", m->sender);
	attr_put_str(l, "flags", m->flags);
	if (m->envid && *m->envid)
		attr_put_str(l, "envid", m->envid);
	if (m->ret)
		attr_put_str(l, "ret", m->ret);
	attr_put_int(l, "submit_uid", m->uid);
}

static void
put_rcpt(struct attr_list *l, const struct pickup_rcpt *r)
{
	struct str text = STR_INIT;

	attr_put_str(l, "request", "rcpt");
	attr_put_str(l, "address", r->address);
	if (r->notify) {
		submit_notify_format(r->notify, &text);
		attr_put_str(l, "notify", str_cstr(&text));
	}
	if (r->orcpt_type && *r->orcpt_type) {
		str_reset(&text);
		str_printf(&text, "%s;%s", r->orcpt_type, r->orcpt_addr);
		attr_put_str(l, "orcpt", str_cstr(&text));
	}
	str_free(&text);
}

/* The recipients and the text; PICKUP_OK when all was sent. */
static enum pickup_result
send_message(int fd, struct attr_list *l, const struct pickup_message *m, struct str *why)
{
	enum pickup_result result = PICKUP_OK;
	char *buf = xmalloc(PICKUP_CHUNK);
	ssize_t n;

	for (size_t i = 0; i < m->nrcpts && result == PICKUP_OK; i++) {
		put_rcpt(l, &m->rcpts[i]);
		if (send_frame(fd, l, why) < 0)
			result = PICKUP_DEFER;
	}
	while (result == PICKUP_OK && (n = m->read(m->arg, buf, PICKUP_CHUNK, &result, why)) != 0) {
		if (n < 0)
			break; /* result and why say what */
		attr_put_str(l, "request", "data");
		attr_put(l, "data", buf, (size_t)n);
		if (send_frame(fd, l, why) < 0)
			result = PICKUP_DEFER;
	}
	free(buf);
	return result;
}

enum pickup_result
pickup_submit(const struct pickup_message *m, char id[QUEUE_ID_SIZE], struct str *why)
{
	struct attr_list l;
	enum pickup_result result;
	int fd;

	if ((fd = connect_cleanup(why)) < 0)
		return PICKUP_DEFER;
	attr_list_init(&l);
	put_open(&l, m);
	if (send_frame(fd, &l, why) < 0) {
		close(fd);
		attr_list_free(&l);
		return PICKUP_DEFER;
	}
	if ((result = take_reply(fd, id, why)) != PICKUP_OK) {
		close(fd);
		attr_list_free(&l);
		return result;
	}
	result = send_message(fd, &l, m, why);
	if (result == PICKUP_OK) {
		attr_put_str(&l, "request", "end");
		if (send_frame(fd, &l, why) == 0)
			result = take_reply(fd, id, why);
		else
			result =
			        take_reply(fd, id, why) == PICKUP_FAIL ? PICKUP_FAIL : PICKUP_DEFER;
	} else if (result == PICKUP_DEFER && why->len && strncmp(why->data, "cleanup:", 8) == 0) {
		/* cleanup may have refused and closed: its reply says why */
		struct str more = STR_INIT;

		if (take_reply(fd, id, &more) == PICKUP_FAIL) {
			result = PICKUP_FAIL;
			str_set(why, more.data, more.len);
		}
		str_free(&more);
	}
	close(fd);
	attr_list_free(&l);
	return result;
}
