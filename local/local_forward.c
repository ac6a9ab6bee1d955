/*
 * local_forward.c - targets that are not delivered here (an alias or
 * .forward that names a remote address, or a hosted address without a
 * mailbox) become one new message through cleanup, the way Postfix's
 * local forwards: the same text with "Delivered-To: <the address whose
 * alias or .forward this is>" prepended (so that a loop through other
 * hosts comes back as a 5.4.6), the envelope sender of the expansion (the
 * original sender, or owner-ALIAS), the recipient's DSN NOTIFY, and its
 * ORCPT (or the original recipient as ORCPT), ENVID and RET.
 *
 * The protocol is docs/cleanup.md, on private/cleanup relative to the
 * queue directory (local's working directory).  A message committed by
 * cleanup is "sent" (forwarded as its new queue ID); cleanup's defer is a
 * deferral and its refusal a bounce with cleanup's code; no answer is a
 * deferral, 4.3.0.  Called by local_recipient.c once per sender and
 * Delivered-To: after an expansion.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_connect.h"
#include "attr.h"
#include "local.h"
#include "msg.h"

#define FORWARD_SOCKET    "private/cleanup"
#define FORWARD_REPLY_MAX 65536 /* octets of a reply frame from cleanup */
#define FORWARD_DATA_MAX  65536 /* octets of one data frame (docs/cleanup.md) */

static int
connect_cleanup(struct str *err)
{
	return unix_connect(FORWARD_SOCKET, 0, err);
}

static void
notify_text(unsigned notify, struct str *out)
{
	if (notify & QUEUE_NOTIFY_NEVER) {
		str_appendz(out, "NEVER");
		return;
	}
	if (notify & QUEUE_NOTIFY_SUCCESS)
		str_appendz(out, "SUCCESS");
	if (notify & QUEUE_NOTIFY_FAILURE)
		str_printf(out, "%sFAILURE", out->len ? "," : "");
	if (notify & QUEUE_NOTIFY_DELAY)
		str_printf(out, "%sDELAY", out->len ? "," : "");
}

/* Send a frame; -1 with err. */
static int
send_frame(int fd, struct attr_list *l, struct str *err)
{
	return attr_send(fd, l, local_cfg.ipc_timeout_ms, err);
}

/* Read cleanup's reply into res unless it is ok; 0 when ok. */
static int
read_reply(int fd, struct attr_list *rep, struct local_result *res)
{
	struct str err = STR_INIT;
	const char *status, *dsn, *reason;
	int rc = attr_recv(fd, rep, FORWARD_REPLY_MAX, local_cfg.ipc_timeout_ms, &err);

	if (rc != 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0", "cleanup service: %s",
		        rc == 1 ? "connection closed" : str_cstr(&err));
		str_free(&err);
		return -1;
	}
	str_free(&err);
	status = attr_get_str(rep, "status");
	if (status != NULL && strcmp(status, "ok") == 0)
		return 0;
	dsn = attr_get_str(rep, "dsn");
	reason = attr_get_str(rep, "reply");
	if (reason == NULL)
		reason = attr_get_str(rep, "reason");
	if (status != NULL && strcmp(status, "fail") == 0 && dsn != NULL && dsn[0] == '5' &&
	        strlen(dsn) <= QUEUE_DSN_MAX)
		local_result_set(res, LOCAL_BOUNCE, dsn, "forwarding refused: %s",
		        reason ? reason : "cleanup refused the message");
	else
		local_result_set(res, LOCAL_DEFER,
		        dsn && dsn[0] == '4' && strlen(dsn) <= QUEUE_DSN_MAX ? dsn : "4.3.0",
		        "forwarding deferred: %s", reason ? reason : "cleanup service failed");
	return -1;
}

void
local_forward_send(struct local_message *m, const struct local_rcpt *r, const char *sender,
        const char *delivered_to, char *const *addresses, size_t n, struct local_result *res)
{
	const struct queue_envelope *env = m->env;
	struct attr_list l, rep;
	struct str err = STR_INIT, text = STR_INIT, flags = STR_INIT;
	char buf[FORWARD_DATA_MAX];
	const char *qid;
	ssize_t got;
	int fd;

	if ((fd = connect_cleanup(&err)) < 0) {
		local_result_set(res, LOCAL_DEFER, "4.3.0", "cleanup service: %s", str_cstr(&err));
		str_free(&err);
		return;
	}
	attr_list_init(&l);
	attr_list_init(&rep);
	attr_put_str(&l, "request", "open");
	attr_put_str(&l, "sender", sender);
	if (env->flags & QUEUE_FLAG_8BITMIME)
		str_appendz(&flags, "8bitmime");
	if (env->flags & QUEUE_FLAG_SMTPUTF8)
		str_printf(&flags, "%ssmtputf8", flags.len ? "," : "");
	if (flags.len)
		attr_put_str(&l, "flags", flags.data);
	if (*env->envid)
		attr_put_str(&l, "envid", env->envid);
	if (env->ret != QUEUE_RET_NONE)
		attr_put_str(&l, "ret", env->ret == QUEUE_RET_FULL ? "FULL" : "HDRS");
	if (send_frame(fd, &l, &err) < 0 || read_reply(fd, &rep, res) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		attr_list_reset(&l);
		attr_put_str(&l, "request", "rcpt");
		attr_put_str(&l, "address", addresses[i]);
		str_reset(&text);
		if (*r->orcpt)
			str_appendz(&text, r->orcpt);
		else
			str_printf(&text, "rfc822;%s", r->address);
		attr_put_str(&l, "orcpt", text.data);
		if (r->notify) {
			str_reset(&text);
			notify_text(r->notify, &text);
			attr_put_str(&l, "notify", text.data);
		}
		if (send_frame(fd, &l, &err) < 0)
			goto fail;
	}
	str_reset(&text);
	str_printf(&text, "Delivered-To: %s\n", delivered_to);
	attr_list_reset(&l);
	attr_put_str(&l, "request", "data");
	attr_put(&l, "data", text.data, text.len);
	if (send_frame(fd, &l, &err) < 0)
		goto fail;
	queue_file_rewind(m->qf);
	while ((got = queue_file_read_content(m->qf, buf, sizeof(buf), &err)) > 0) {
		attr_list_reset(&l);
		attr_put_str(&l, "request", "data");
		attr_put(&l, "data", buf, (size_t)got);
		if (send_frame(fd, &l, &err) < 0)
			goto fail;
	}
	queue_file_rewind(m->qf);
	if (got < 0)
		goto fail;
	attr_list_reset(&l);
	attr_put_str(&l, "request", "end");
	if (send_frame(fd, &l, &err) < 0 || read_reply(fd, &rep, res) < 0)
		goto fail;
	qid = attr_get_str(&rep, "queue_id");
	local_result_set(res, LOCAL_SENT, "2.0.0", "forwarded as %s", qid ? qid : "a new message");
	goto done;
fail:
	if (err.len)
		local_result_set(res, LOCAL_DEFER, "4.3.0", "forwarding: %s", str_cstr(&err));
done:
	close(fd);
	attr_list_free(&l);
	attr_list_free(&rep);
	str_free(&err);
	str_free(&text);
	str_free(&flags);
}
