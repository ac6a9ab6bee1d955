/*
 * testagent.c - a delivery agent for the system tests: it speaks the
 * delivery-agent protocol (docs/delivery-protocol.md) like local and
 * smtp, reads the queue file itself, and answers each recipient as a
 * script says.  It is also the smallest complete example of an agent.
 *
 * Service arguments (after the command in master.cf):
 *
 *	-l FILE		append one line per event to FILE (below)
 *	-s FILE		the script, read again for every request
 *
 * Script lines, the first whose pattern matches a recipient wins
 * ("#" comments):
 *
 *	PATTERN [sleep=SECS] ACTION [ARGS]
 *
 *	PATTERN	  an address, "@domain", or "*"
 *	ACTION	  sent | defer [DSN [TEXT]] | bounce [DSN [TEXT]]
 *		  | defer-until N (deferred 4.4.1 until the recipient's
 *		    status slot counts N attempts, then sent)
 *		  | dest-fail [TEXT] (no answers; final status=defer 4.4.1)
 *		  | crash (abort before answering this recipient)
 *		  | hang (sleep until killed)
 *	sleep=	  wait SECS (fractions allowed) before answering
 *
 * Without a script, or without a match, a recipient is sent.  Log
 * lines (times are seconds since the epoch):
 *
 *	start t=T pid=P id=ID transport=T nexthop=H n=N rcpts=A,B flags=F
 *	delivered t=T pid=P id=ID index=I rcpt=A
 *	repeat t=T pid=P id=ID index=I rcpt=A	(asked for a finished one)
 *	end t=T pid=P id=ID
 *
 * Trusts its own configuration (it is a test fixture, never installed);
 * checks the request and the queue file as a real agent must.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "daemon.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"

#define AGENT_TIMEOUT_MS 30000 /* for the request to arrive, each answer to leave */
#define AGENT_LINE_MAX   1024

static const char *log_path;
static const char *script_path;

struct action {
	char verb[32];
	double sleep_secs;
	char dsn[QUEUE_DSN_MAX + 1];
	char text[AGENT_LINE_MAX];
	long count;
};

static double
now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line, one write(2), so concurrent agents never interleave. */
static void log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void
log_event(const char *fmt, ...)
{
	struct str line = STR_INIT;
	va_list ap;
	int fd;

	if (log_path == NULL)
		return;
	va_start(ap, fmt);
	str_vprintf(&line, fmt, ap);
	va_end(ap);
	str_appendc(&line, '\n');
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line.data, line.len) != (ssize_t)line.len)
			msg_warn("%s: short write", log_path);
		close(fd);
	}
	str_free(&line);
}

static int
matches(const char *pattern, const char *address)
{
	const char *at = strrchr(address, '@');

	if (strcmp(pattern, "*") == 0)
		return 1;
	if (pattern[0] == '@')
		return at && strcasecmp(pattern + 1, at + 1) == 0;
	return strcasecmp(pattern, address) == 0;
}

/* The script's action for address; "sent" by default. */
static void
lookup(const char *address, struct action *a)
{
	char line[AGENT_LINE_MAX];
	FILE *fp = script_path ? fopen(script_path, "r") : NULL;

	memset(a, 0, sizeof(*a));
	snprintf(a->verb, sizeof(a->verb), "sent");
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp)) {
		char *save = NULL, *word, *pattern;

		line[strcspn(line, "\r\n")] = '\0';
		pattern = strtok_r(line, " \t", &save);
		if (pattern == NULL || pattern[0] == '#' || !matches(pattern, address))
			continue;
		while ((word = strtok_r(NULL, " \t", &save)) != NULL &&
		        strncmp(word, "sleep=", 6) == 0)
			a->sleep_secs = atof(word + 6);
		if (word == NULL)
			break;
		snprintf(a->verb, sizeof(a->verb), "%s", word);
		if (strcmp(a->verb, "defer-until") == 0) {
			word = strtok_r(NULL, " \t", &save);
			a->count = word ? atol(word) : 1;
		} else if (strcmp(a->verb, "defer") == 0 || strcmp(a->verb, "bounce") == 0) {
			word = strtok_r(NULL, " \t", &save);
			if (word)
				snprintf(a->dsn, sizeof(a->dsn), "%s", word);
		}
		word = strtok_r(NULL, "", &save);
		if (word)
			snprintf(a->text, sizeof(a->text), "%s", word);
		break;
	}
	fclose(fp);
}

static void
pause_for(double secs)
{
	struct timespec ts;

	if (secs <= 0)
		return;
	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
send_done(int fd, enum deliver_done_status st, const char *dsn, const char *reason)
{
	struct deliver_done d;
	struct str err = STR_INIT;

	deliver_done_init(&d);
	d.status = st;
	snprintf(d.dsn, sizeof(d.dsn), "%s", dsn);
	str_setz(&d.reason, reason);
	if (deliver_send_done(fd, &d, AGENT_TIMEOUT_MS, &err) < 0)
		msg_warn("final frame: %s", str_cstr(&err));
	deliver_done_free(&d);
	str_free(&err);
}

/* Read the whole text, as a real agent would; -1 when it is broken. */
static int
read_text(struct queue_file *qf, struct str *err)
{
	char buf[8192];
	ssize_t n;

	while ((n = queue_file_read_content(qf, buf, sizeof(buf), err)) > 0)
		;
	return n < 0 ? -1 : 0;
}

/* Answer one recipient as the script says; -1 when the connection is gone. */
static int
answer(int fd, const struct deliver_request *req, const struct deliver_rcpt *rc,
        const struct queue_rcpt *qr)
{
	struct deliver_result res;
	struct action a;
	struct str err = STR_INIT;
	int rc_send;

	lookup(rc->address, &a);
	pause_for(a.sleep_secs);
	deliver_result_init(&res);
	res.index = rc->index;
	str_setz(&res.relay, "testagent[127.0.0.1]:0");
	res.delay_conn_ms = 1;
	res.delay_xmit_ms = 2;
	if (strcmp(a.verb, "crash") == 0) {
		log_event("crash t=%.6f pid=%ld id=%s index=%zu", now_secs(), (long)getpid(),
		        req->queue_id, rc->index);
		abort();
	}
	if (strcmp(a.verb, "hang") == 0)
		for (;;)
			pause();
	if (strcmp(a.verb, "bounce") == 0) {
		res.status = DELIVER_BOUNCED;
		snprintf(res.dsn, sizeof(res.dsn), "%s", a.dsn[0] ? a.dsn : "5.1.1");
		str_setz(&res.reason, a.text[0] ? a.text : "550 5.1.1 user unknown");
	} else if (strcmp(a.verb, "defer") == 0 ||
	        (strcmp(a.verb, "defer-until") == 0 && (long)qr->status.attempts < a.count)) {
		res.status = DELIVER_DEFERRED;
		snprintf(res.dsn, sizeof(res.dsn), "%s", a.dsn[0] ? a.dsn : "4.4.1");
		str_setz(&res.reason, a.text[0] ? a.text : "451 4.4.1 try again later");
	} else {
		res.status = DELIVER_SENT;
		snprintf(res.dsn, sizeof(res.dsn), "2.0.0");
		str_setz(&res.reason, "250 2.0.0 Ok: delivered by testagent");
		log_event("delivered t=%.6f pid=%ld id=%s index=%zu rcpt=%s", now_secs(),
		        (long)getpid(), req->queue_id, rc->index, rc->address);
	}
	rc_send = deliver_send_result(fd, &res, AGENT_TIMEOUT_MS, &err);
	if (rc_send < 0)
		msg_warn("%s: answer: %s", req->queue_id, str_cstr(&err));
	deliver_result_free(&res);
	str_free(&err);
	return rc_send;
}

/* Does any recipient of the request make the destination fail? */
static int
dest_fail(const struct deliver_request *req, struct action *a)
{
	for (size_t i = 0; i < req->nrcpt; i++) {
		lookup(req->rcpts[i].address, a);
		if (strcmp(a->verb, "dest-fail") == 0) {
			pause_for(a->sleep_secs);
			return 1;
		}
	}
	return 0;
}

/* Logged before the final frame leaves, so that qmgr cannot start the
 * next delivery before this one's end is in the log. */
static void
log_end(const struct deliver_request *req)
{
	log_event("end t=%.6f pid=%ld id=%s", now_secs(), (long)getpid(), req->queue_id);
}

static void
deliver(int fd, const struct deliver_request *req)
{
	struct queue_file *qf = NULL;
	struct str err = STR_INIT, names = STR_INIT, flags = STR_INIT;
	struct action a;

	for (size_t i = 0; i < req->nrcpt; i++)
		str_printf(&names, "%s%s", i ? "," : "", req->rcpts[i].address);
	deliver_flags_format(req->flags, &flags);
	log_event("start t=%.6f pid=%ld id=%s transport=%s nexthop=%s n=%zu rcpts=%s flags=%s",
	        now_secs(), (long)getpid(), req->queue_id, req->transport, req->nexthop, req->nrcpt,
	        str_cstr(&names), str_cstr(&flags));
	if (queue_file_open(req->queue_file, QUEUE_OPEN_READ, &qf, &err) != QUEUE_OK ||
	        read_text(qf, &err) < 0) {
		log_end(req);
		send_done(fd, DELIVER_DONE_DEFER, "4.3.0", str_cstr(&err));
	} else if (dest_fail(req, &a)) {
		log_end(req);
		send_done(fd, DELIVER_DONE_DEFER, "4.4.1",
		        a.text[0] ? a.text : "connect to testagent: Connection refused");
	} else {
		for (size_t i = 0; i < req->nrcpt; i++) {
			const struct deliver_rcpt *rc = &req->rcpts[i];
			const struct queue_rcpt *qr = rc->index < queue_file_rcpt_count(qf)
			        ? queue_file_rcpt(qf, rc->index)
			        : NULL;

			if (qr == NULL || strcmp(qr->address, rc->address) != 0 ||
			        qr->state != QUEUE_RCPT_PENDING) {
				struct deliver_result res;

				log_event("repeat t=%.6f pid=%ld id=%s index=%zu rcpt=%s",
				        now_secs(), (long)getpid(), req->queue_id, rc->index,
				        rc->address);
				deliver_result_init(&res);
				res.index = rc->index;
				res.status = DELIVER_DEFERRED;
				snprintf(res.dsn, sizeof(res.dsn), "4.3.0");
				str_setz(&res.reason, "queue file and request disagree");
				deliver_send_result(fd, &res, AGENT_TIMEOUT_MS, &err);
				deliver_result_free(&res);
				continue;
			}
			if (answer(fd, req, rc, qr) < 0) {
				log_end(req);
				goto out;
			}
		}
		log_end(req);
		send_done(fd, DELIVER_DONE_OK, "", "");
	}
out:
	if (qf)
		queue_file_close(qf);
	str_free(&err);
	str_free(&names);
	str_free(&flags);
}

static void
serve(int fd)
{
	struct deliver_request req;
	struct attr_list l;
	struct str err = STR_INIT;

	attr_list_init(&l);
	if (attr_recv(fd, &l, DELIVER_REQUEST_MAX, AGENT_TIMEOUT_MS, &err) != 0) {
		msg_warn("request: %s", err.len ? str_cstr(&err) : "end of file");
	} else if (deliver_request_decode(&l, &req, &err) < 0) {
		msg_warn("request refused: %s", str_cstr(&err));
		send_done(fd, DELIVER_DONE_DEFER, "4.3.5", str_cstr(&err));
	} else {
		deliver(fd, &req);
		deliver_request_free(&req);
	}
	attr_list_free(&l);
	str_free(&err);
}

static void
pre_jail(int argc, char **argv)
{
	int ch;

	optind = 1;
	while ((ch = getopt(argc, argv, "l:s:")) != -1) {
		switch (ch) {
		case 'l':
			log_path = optarg;
			break;
		case 's':
			script_path = optarg;
			break;
		default:
			msg_fatal("usage: testagent [-l LOGFILE] [-s SCRIPT]");
		}
	}
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
