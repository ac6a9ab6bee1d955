/*
 * cleanup.c - the cleanup daemon: takes one message at a time over
 * private/cleanup (smtpd, pickup, and qmgr for bounces), completes and
 * checks it, and writes it into incoming/ by the commit protocol.
 *
 * The protocol is docs/cleanup.md: request=open with the envelope
 * (answered at once with the queue ID), request=rcpt frames, request=data
 * frames with the message, request=end; the final answer comes only after
 * the queue file is committed.  A client that goes away before "end"
 * leaves nothing behind.  Trusts nothing a client sends: every attribute
 * is checked, a malformed request is a protocol error (status=error, the
 * connection closed, the file removed).  Runs on lib/daemon.c's single
 * model (one client at a time; master starts more processes), chrooted
 * into the queue directory as mail_owner.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attr.h"
#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "rfc2822_date.h"

#define CLEANUP_UID_MAX 4294967294LL /* (uid_t)-1 is not a user */

const char *cleanup_myhostname;
const char *cleanup_myorigin;
char *const *cleanup_mydestination;
long long cleanup_hopcount_limit;
long long cleanup_header_size_limit;
long long cleanup_header_count_limit;
long long cleanup_message_size_limit;
long long cleanup_queue_minfree;
long long cleanup_temp_max_age;
long long cleanup_recursion_limit;
long long cleanup_expansion_limit;
static int ipc_timeout_ms;

/* ---- the state of one message ---- */

static void
state_init(struct cleanup_state *s)
{
	memset(s, 0, sizeof(*s));
	s->client_verified = -1;
	s->uid = -1;
	s->at_line_start = 1;
	s->phase = CLEANUP_PHASE_HEADERS;
	s->status = CLEANUP_OK;
}

static void
state_free(struct cleanup_state *s)
{
	char **texts[] = {&s->sender, &s->orig_sender, &s->fullname, &s->envid, &s->helo,
	        &s->client_name, &s->client_addr, &s->protocol, &s->tls_protocol, &s->tls_cipher,
	        &s->auth_login};

	cleanup_queue_abort(s);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		free(*texts[i]);
	for (size_t i = 0; i < s->rcpts.n; i++) {
		free(s->rcpts.v[i].address);
		free(s->rcpts.v[i].orcpt_type);
		free(s->rcpts.v[i].orcpt_addr);
	}
	free(s->rcpts.v);
	for (size_t i = 0; i < s->nfields; i++)
		str_free(&s->fields[i]);
	free(s->fields);
	str_free(&s->line);
	str_free(&s->message_id);
	str_free(&s->reply);
	str_free(&s->dsn);
	str_free(&s->reason);
}

void
cleanup_refuse(struct cleanup_state *s, enum cleanup_status status, const char *code,
        const char *dsn, const char *text, const char *reason)
{
	if (s->status != CLEANUP_OK)
		return;
	s->status = status;
	str_printf(&s->reply, "%s %s %s", code, dsn, text);
	str_setz(&s->dsn, dsn);
	str_setz(&s->reason, reason ? reason : text);
	s->phase = CLEANUP_PHASE_DISCARD;
	cleanup_queue_abort(s);
}

void
cleanup_qualify(const char *address, struct str *out)
{
	str_appendz(out, address);
	if (*address != '\0' && strchr(address, '@') == NULL)
		str_printf(out, "@%s", cleanup_myorigin);
}

/* ---- requests ---- */

static int
text_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 32 || *s == 127)
			return 0;
	return 1;
}

/* An optional text attribute: "" when absent; -1 when invalid or too long. */
static int
get_text(const struct attr_list *req, const char *name, size_t max, char **out, struct str *why)
{
	const char *v;

	if (attr_find(req, name) == NULL) {
		*out = xstrdup("");
		return 0;
	}
	v = attr_get_str(req, name);
	if (v == NULL || strlen(v) > max || !text_ok(v)) {
		str_printf(why, "invalid %s attribute", name);
		return -1;
	}
	*out = xstrdup(v);
	return 0;
}

static int
get_number(const struct attr_list *req, const char *name, long long min, long long max,
        long long absent, long long *out, struct str *why)
{
	if (attr_find(req, name) == NULL) {
		*out = absent;
		return 0;
	}
	if (attr_get_int(req, name, min, max, out) < 0) {
		str_printf(why, "invalid %s attribute", name);
		return -1;
	}
	return 0;
}

/* flags: words separated by commas. */
static int
parse_flags(const char *v, unsigned *flags, struct str *why)
{
	static const struct {
		const char *word;
		unsigned flag;
	} words[] = {
	        {"local", QUEUE_FLAG_LOCAL},
	        {"extract", QUEUE_FLAG_RCPT_HEADERS},
	        {"8bitmime", QUEUE_FLAG_8BITMIME},
	        {"smtputf8", QUEUE_FLAG_SMTPUTF8},
	};
	char *copy = xstrdup(v), *save = NULL;
	int rc = 0;

	*flags = 0;
	for (char *w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strcmp(w, words[i].word) == 0)
				break;
		if (i == sizeof(words) / sizeof(words[0])) {
			str_printf(why, "unknown flag \"%s\"", w);
			rc = -1;
		} else {
			*flags |= words[i].flag;
		}
	}
	free(copy);
	return rc;
}

static int
open_request(struct cleanup_state *s, const struct attr_list *req, struct str *why)
{
	struct str canon = STR_INIT, err = STR_INIT;
	const char *sender = attr_get_str(req, "sender"), *v;
	char *flags;
	long long n;

	if (sender == NULL || strlen(sender) > QUEUE_ADDR_MAX || !text_ok(sender)) {
		str_appendz(why, "missing or invalid sender attribute");
		return -1;
	}
	if (get_text(req, "flags", CLEANUP_FLAGS_MAX, &flags, why) < 0)
		return -1;
	n = parse_flags(flags, &s->flags, why);
	free(flags);
	if (n < 0)
		return -1;
	if (get_text(req, "fullname", CLEANUP_FULLNAME_MAX, &s->fullname, why) < 0 ||
	        get_text(req, "envid", QUEUE_ENVID_MAX, &s->envid, why) < 0 ||
	        get_text(req, "helo", QUEUE_HELO_MAX, &s->helo, why) < 0 ||
	        get_text(req, "client_name", QUEUE_HOSTNAME_MAX, &s->client_name, why) < 0 ||
	        get_text(req, "client_addr", QUEUE_CLIENT_ADDR_MAX, &s->client_addr, why) < 0 ||
	        get_text(req, "protocol", QUEUE_PROTOCOL_MAX, &s->protocol, why) < 0 ||
	        get_text(req, "tls_protocol", CLEANUP_TLS_PROTOCOL_MAX, &s->tls_protocol, why) <
	                0 ||
	        get_text(req, "tls_cipher", QUEUE_CIPHER_MAX, &s->tls_cipher, why) < 0 ||
	        get_text(req, "auth_login", QUEUE_LOGIN_MAX, &s->auth_login, why) < 0)
		return -1;
	if (get_number(req, "client_port", 0, 65535, 0, &n, why) < 0)
		return -1;
	s->client_port = (int)n;
	if (get_number(req, "client_verified", 0, 1, -1, &n, why) < 0)
		return -1;
	s->client_verified = (int)n;
	if (get_number(req, "submit_uid", 0, CLEANUP_UID_MAX, -1, &s->uid, why) < 0)
		return -1;
	s->ret = QUEUE_RET_NONE;
	if ((v = attr_get_str(req, "ret")) != NULL && strcasecmp(v, "FULL") == 0)
		s->ret = QUEUE_RET_FULL;
	else if (v != NULL && strcasecmp(v, "HDRS") == 0)
		s->ret = QUEUE_RET_HDRS;
	else if (attr_find(req, "ret") != NULL) {
		str_appendz(why, "invalid ret attribute");
		return -1;
	}
	s->orig_sender = xstrdup(sender);
	cleanup_qualify(sender, &canon);
	if (cleanup_rewrite_sender(str_cstr(&canon), &canon, &err) != CLEANUP_OK) {
		msg_warn("NOQUEUE: %s", str_cstr(&err));
		cleanup_refuse(s, CLEANUP_DEFER, "451", "4.3.0",
		        "Error: address rewriting failed; try again later", str_cstr(&err));
	}
	s->sender = str_steal(&canon);
	str_free(&err);
	return 0;
}

/* notify: NEVER, or a comma-separated set of SUCCESS, FAILURE, DELAY. */
static int
parse_notify(const char *v, unsigned *notify)
{
	char *copy = xstrdup(v), *save = NULL;
	int rc = 0;

	*notify = 0;
	for (char *w = strtok_r(copy, ",", &save); w && rc == 0; w = strtok_r(NULL, ",", &save)) {
		if (strcasecmp(w, "SUCCESS") == 0)
			*notify |= QUEUE_NOTIFY_SUCCESS;
		else if (strcasecmp(w, "FAILURE") == 0)
			*notify |= QUEUE_NOTIFY_FAILURE;
		else if (strcasecmp(w, "DELAY") == 0)
			*notify |= QUEUE_NOTIFY_DELAY;
		else if (strcasecmp(w, "NEVER") == 0)
			*notify |= QUEUE_NOTIFY_NEVER;
		else
			rc = -1;
	}
	free(copy);
	if (*notify == 0 || ((*notify & QUEUE_NOTIFY_NEVER) && *notify != QUEUE_NOTIFY_NEVER))
		rc = -1;
	return rc;
}

static int
rcpt_request(struct cleanup_state *s, const struct attr_list *req, struct str *why)
{
	const char *address = attr_get_str(req, "address"), *orcpt, *semi;
	struct cleanup_rcpt r = {NULL, NULL, NULL, 0};
	struct str q = STR_INIT;

	if (address == NULL || *address == '\0' || strlen(address) > QUEUE_ADDR_MAX ||
	        !text_ok(address)) {
		str_appendz(why, "missing or invalid address attribute");
		return -1;
	}
	if (attr_find(req, "notify") != NULL) {
		const char *v = attr_get_str(req, "notify");

		if (v == NULL || parse_notify(v, &r.notify) < 0) {
			str_appendz(why, "invalid notify attribute");
			return -1;
		}
	}
	orcpt = attr_get_str(req, "orcpt");
	if (attr_find(req, "orcpt") != NULL &&
	        (orcpt == NULL || (semi = strchr(orcpt, ';')) == NULL || semi == orcpt ||
	                semi[1] == '\0' || (size_t)(semi - orcpt) > QUEUE_ORCPT_TYPE_MAX ||
	                strlen(semi + 1) > QUEUE_ADDR_MAX || !text_ok(orcpt))) {
		str_appendz(why, "invalid orcpt attribute");
		return -1;
	}
	if (s->rcpts.n >= CLEANUP_RCPT_MAX) {
		cleanup_refuse(
		        s, CLEANUP_DEFER, "452", "4.5.3", "Error: too many recipients", NULL);
		return 0;
	}
	cleanup_qualify(address, &q);
	r.address = str_steal(&q);
	if (orcpt) {
		semi = strchr(orcpt, ';');
		r.orcpt_type = xstrndup(orcpt, (size_t)(semi - orcpt));
		r.orcpt_addr = xstrdup(semi + 1);
	} else {
		r.orcpt_type = xstrdup("");
		r.orcpt_addr = xstrdup("");
	}
	if (s->rcpts.n == s->rcpts.cap) {
		s->rcpts.cap = s->rcpts.cap ? s->rcpts.cap * 2 : 8;
		s->rcpts.v = xreallocarray(s->rcpts.v, s->rcpts.cap, sizeof(*s->rcpts.v));
	}
	s->rcpts.v[s->rcpts.n++] = r;
	return 0;
}

/* ---- replies and log lines ---- */

static int
send_reply(int fd, struct attr_list *rep, const char *id)
{
	struct str err = STR_INIT;
	int rc = attr_send(fd, rep, ipc_timeout_ms, &err);

	if (rc < 0)
		msg_warn("%s: sending the reply: %s", id, str_cstr(&err));
	str_free(&err);
	return rc;
}

/* The outcome as it stands: ok with the queue ID, or the refusal. */
static int
reply_outcome(int fd, struct cleanup_state *s)
{
	struct attr_list rep;
	int rc;

	attr_list_init(&rep);
	if (s->status == CLEANUP_OK) {
		attr_put_str(&rep, "status", "ok");
		attr_put_str(&rep, "queue_id", s->id);
	} else {
		attr_put_str(&rep, "status", s->status == CLEANUP_DEFER ? "defer" : "fail");
		attr_put_str(&rep, "dsn", str_cstr(&s->dsn));
		attr_put_str(&rep, "reply", str_cstr(&s->reply));
		attr_put_str(&rep, "reason", str_cstr(&s->reason));
		if (s->id[0])
			attr_put_str(&rep, "queue_id", s->id);
	}
	rc = send_reply(fd, &rep, s->id[0] ? s->id : "NOQUEUE");
	attr_list_free(&rep);
	return rc;
}

static void
protocol_error(int fd, struct cleanup_state *s, const char *why)
{
	struct attr_list rep;

	msg_warn("%s: protocol error: %s", s->id[0] ? s->id : "NOQUEUE", why);
	cleanup_queue_abort(s);
	attr_list_init(&rep);
	attr_put_str(&rep, "status", "error");
	attr_put_str(&rep, "reason", why);
	(void)send_reply(fd, &rep, s->id[0] ? s->id : "NOQUEUE");
	attr_list_free(&rep);
}

/* "ID: reject: REASON; from=<S> to=<R> proto=P helo=<H>: REPLY" */
static void
log_refusal(struct cleanup_state *s)
{
	struct str line = STR_INIT;

	str_printf(&line, "%s: reject: %s; from=<%s>", s->id[0] ? s->id : "NOQUEUE",
	        str_cstr(&s->reason), s->orig_sender ? s->orig_sender : "");
	if (s->rcpts.n > 0)
		str_printf(&line, " to=<%s>", s->rcpts.v[0].address);
	if (s->protocol && *s->protocol)
		str_printf(&line, " proto=%s", s->protocol);
	if (s->helo && *s->helo)
		str_printf(&line, " helo=<%s>", s->helo);
	str_printf(&line, ": %s", str_cstr(&s->reply));
	msg_info("%s", str_cstr(&line));
	str_free(&line);
}

/* ---- one client ---- */

/* Read one frame; 0, or -1 when the client is gone (logged). */
static int
next_request(int fd, struct cleanup_state *s, struct attr_list *req)
{
	struct str err = STR_INIT;
	int rc = attr_recv(fd, req, CLEANUP_FRAME_MAX, ipc_timeout_ms, &err);

	if (rc == 1)
		msg_info("%s: lost connection before the end of the message; removed", s->id);
	else if (rc < 0)
		msg_warn("%s: reading a request: %s; removed", s->id, str_cstr(&err));
	str_free(&err);
	return rc == 0 ? 0 : -1;
}

/* The frames after open; returns when the message is committed, refused
 * or abandoned. */
static void
message_requests(int fd, struct cleanup_state *s)
{
	struct attr_list req;
	struct str why = STR_INIT;
	int data_started = 0;

	attr_list_init(&req);
	while (next_request(fd, s, &req) == 0) {
		const char *request = attr_get_str(&req, "request");
		const struct attr *data;

		str_reset(&why);
		if (request == NULL) {
			protocol_error(fd, s, "missing request attribute");
			break;
		} else if (strcmp(request, "rcpt") == 0) {
			if (data_started) {
				protocol_error(fd, s, "request=rcpt after request=data");
				break;
			}
			if (rcpt_request(s, &req, &why) < 0) {
				protocol_error(fd, s, str_cstr(&why));
				break;
			}
		} else if (strcmp(request, "data") == 0) {
			data_started = 1;
			if ((data = attr_find(&req, "data")) == NULL ||
			        data->value_len > CLEANUP_DATA_MAX) {
				protocol_error(fd, s, "missing or oversized data attribute");
				break;
			}
			cleanup_message_data(s, attr_value(&req, data), data->value_len);
		} else if (strcmp(request, "end") == 0) {
			cleanup_message_end(s);
			cleanup_queue_commit(s);
			if (s->status != CLEANUP_OK)
				log_refusal(s);
			(void)reply_outcome(fd, s);
			/* Committed is committed, whether the reply arrived or not. */
			if (s->status == CLEANUP_OK)
				cleanup_wakeup_qmgr();
			break;
		} else {
			str_printf(&why, "unknown request \"%s\"", request);
			protocol_error(fd, s, str_cstr(&why));
			break;
		}
	}
	attr_list_free(&req);
	str_free(&why);
}

static void
serve(int fd)
{
	struct cleanup_state s;
	struct attr_list req;
	struct str err = STR_INIT;
	const char *request, *field = NULL;
	int rc;

	state_init(&s);
	attr_list_init(&req);
	rc = attr_recv(fd, &req, CLEANUP_FRAME_MAX, ipc_timeout_ms, &err);
	if (rc != 0) {
		if (rc < 0)
			msg_warn("NOQUEUE: reading a request: %s", str_cstr(&err));
		goto done;
	}
	request = attr_get_str(&req, "request");
	if (request == NULL || strcmp(request, "open") != 0) {
		protocol_error(fd, &s, "the first request must be request=open");
		goto done;
	}
	if (open_request(&s, &req, &err) < 0) {
		protocol_error(fd, &s, str_cstr(&err));
		goto done;
	}
	if (s.status == CLEANUP_OK && cleanup_queue_open(&s) == CLEANUP_OK &&
	        (rc = cleanup_queue_envelope(&s, &field)) == QUEUE_INVALID) {
		str_reset(&err);
		str_printf(&err, "%s not valid in a queue file", field);
		protocol_error(fd, &s, str_cstr(&err));
		goto done;
	}
	if (s.status != CLEANUP_OK) {
		log_refusal(&s);
		(void)reply_outcome(fd, &s);
		goto done;
	}
	if (reply_outcome(fd, &s) == 0)
		message_requests(fd, &s);
done:
	attr_list_free(&req);
	str_free(&err);
	state_free(&s);
	cleanup_sweep(0);
}

/* ---- start-up ---- */

static void
pre_jail(int argc, char **argv)
{
	long long timeout = config_time(cfg, "ipc_timeout");

	(void)argc;
	(void)argv;
	cleanup_myhostname = config_str(cfg, "myhostname");
	cleanup_myorigin = config_str(cfg, "myorigin");
	cleanup_mydestination = config_list(cfg, "mydestination");
	cleanup_hopcount_limit = config_int(cfg, "hopcount_limit");
	cleanup_header_size_limit = config_size(cfg, "header_size_limit");
	cleanup_header_count_limit = config_int(cfg, "header_count_limit");
	cleanup_message_size_limit = config_size(cfg, "message_size_limit");
	cleanup_queue_minfree = config_size(cfg, "queue_minfree");
	cleanup_temp_max_age = config_time(cfg, "temporary_file_max_age");
	cleanup_recursion_limit = config_int(cfg, "virtual_alias_recursion_limit");
	cleanup_expansion_limit = config_int(cfg, "virtual_alias_expansion_limit");
	ipc_timeout_ms = timeout > INT_MAX / 1000 ? INT_MAX : (int)(timeout * 1000);
	rfc2822_date_init();
	cleanup_rewrite_init();
}

static void
post_jail(void)
{
	cleanup_sweep(1);
}

int
main(int argc, char **argv)
{
	static const struct daemon_ops ops = {
	        .model = DAEMON_SINGLE,
	        .pre_jail = pre_jail,
	        .post_jail = post_jail,
	        .serve = serve,
	};

	return daemon_main(argc, argv, &ops);
}
