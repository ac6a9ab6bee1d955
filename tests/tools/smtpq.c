/*
 * smtpq.c - drives the smtp delivery agent directly, as qmgr would, for
 * the system tests: writes one queue file into QUEUE/active/ and sends
 * one delivery request (docs/delivery-protocol.md) to QUEUE/private/smtp.
 *
 *	smtpq -q QUEUE -n NEXTHOP [-f sender] [-8] [-U] [-E envid]
 *		[-R full|hdrs] [-N notify] [-O] [-s socket] [-T seconds]
 *		[-x index=address]... [-u user] rcpt... < message
 *
 *	-q	the queue directory (the request names active/<queue ID>)
 *	-n	the next hop ("example.com", "[127.0.0.1]:2525", ...)
 *	-f	the envelope sender (default: the null sender)
 *	-8 -U	the envelope flags 8BITMIME and SMTPUTF8 (also in the request)
 *	-E -R	DSN ENVID and RET of the envelope
 *	-N	DSN NOTIFY of every recipient ("success,failure", "never")
 *	-O	give every recipient an ORCPT (rfc822, or utf-8 when it is
 *		not ASCII) of its own address
 *	-s	the agent's socket (default QUEUE/private/smtp)
 *	-T	deadline of each frame (default 120 s)
 *	-x	put this address in the request for the recipient at index
 *		(a request that disagrees with its queue file)
 *	-u	give the queue file to this user (root mode: the agent runs
 *		as mail_owner)
 *
 * Prints "queue_id=ID", then one line per answer:
 *	rcpt index=I status=S dsn=D relay=R conn_use=N relayed=0|1 reason=TEXT
 *	done status=S dsn=D relay=R reason=TEXT
 * Exits 0 after the final frame, 1 on usage, queue or I/O errors.  A
 * test tool, never installed; trusts its peer only as far as the frame
 * decoders of lib/deliver.c do.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_connect.h"
#include "addr.h"
#include "attr.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "str.h"

#define SMTPQ_RCPT_MAX     DELIVER_RCPT_MAX
#define SMTPQ_CHUNK        65536
#define SMTPQ_OVERRIDE_MAX 100

static void
usage(void)
{
	fprintf(stderr,
	        "usage: smtpq -q queue -n nexthop [-f sender] [-8] [-U] [-E envid] "
	        "[-R full|hdrs] [-N notify] [-O] [-s socket] [-T seconds] "
	        "[-x index=address]... [-u user] rcpt... < message\n");
	exit(1);
}

static int
connect_unix(const char *path)
{
	struct str err = STR_INIT;
	int fd = unix_connect(path, 0, &err);

	if (fd < 0)
		msg_fatal("%s", str_cstr(&err));
	str_free(&err);
	return fd;
}

/* Write the queue file; its ID goes to id. */
static void
write_queue_file(const char *queue, const char *sender, unsigned flags, const char *envid,
        enum queue_ret ret, char **rcpts, int nrcpt, unsigned notify, int orcpt,
        char id[QUEUE_ID_SIZE])
{
	struct queue_writer *w;
	struct str dir = STR_INIT, err = STR_INIT;
	char *buf = xmalloc(SMTPQ_CHUNK);
	ssize_t n;

	str_printf(&dir, "%s/active", queue);
	if (queue_file_create(str_cstr(&dir), &w, &err) != QUEUE_OK)
		msg_fatal("%s", str_cstr(&err));
	if (queue_file_put_sender(w, sender) != QUEUE_OK)
		msg_fatal("bad sender");
	if (flags && queue_file_put_flags(w, flags) != QUEUE_OK)
		msg_fatal("bad flags");
	if (envid && queue_file_put_envid(w, envid) != QUEUE_OK)
		msg_fatal("bad envid");
	if (ret != QUEUE_RET_NONE && queue_file_put_ret(w, ret) != QUEUE_OK)
		msg_fatal("bad ret");
	for (int i = 0; i < nrcpt; i++) {
		const char *type = NULL;

		if (orcpt)
			type = addr_is_ascii(rcpts[i], strlen(rcpts[i])) ? "rfc822" : "utf-8";
		if (queue_file_put_rcpt(w, rcpts[i], type, orcpt ? rcpts[i] : NULL, notify) !=
		        QUEUE_OK)
			msg_fatal("bad recipient %s", rcpts[i]);
	}
	while ((n = read(0, buf, SMTPQ_CHUNK)) > 0)
		if (queue_file_put_content(w, buf, (size_t)n) != QUEUE_OK)
			msg_fatal("writing the content failed");
	if (n < 0)
		msg_fatal("read: %m");
	if (queue_file_commit(w, id, &err) != QUEUE_OK)
		msg_fatal("%s", str_cstr(&err));
	str_free(&dir);
	str_free(&err);
	free(buf);
}

static void
print_text(const char *name, const struct str *s)
{
	printf(" %s=%s", name, s->data ? s->data : "");
}

int
main(int argc, char **argv)
{
	const char *queue = NULL, *nexthop = NULL, *sender = "", *envid = NULL, *sock = NULL;
	const char *owner = NULL;
	const char *override[SMTPQ_OVERRIDE_MAX] = {0};
	unsigned flags = 0, notify = 0;
	enum queue_ret ret = QUEUE_RET_NONE;
	int orcpt = 0, timeout_ms = 120000, ch, fd, nrcpt;
	char id[QUEUE_ID_SIZE];
	struct deliver_request req;
	struct attr_list l;
	struct str path = STR_INIT, err = STR_INIT;

	msg_init("smtpq");
	msg_to_stderr(1);
	while ((ch = getopt(argc, argv, "q:n:f:8UE:R:N:Os:T:x:u:")) != -1) {
		switch (ch) {
		case 'q':
			queue = optarg;
			break;
		case 'n':
			nexthop = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		case '8':
			flags |= QUEUE_FLAG_8BITMIME;
			break;
		case 'U':
			flags |= QUEUE_FLAG_SMTPUTF8;
			break;
		case 'E':
			envid = optarg;
			break;
		case 'R':
			ret = strcmp(optarg, "hdrs") == 0 ? QUEUE_RET_HDRS : QUEUE_RET_FULL;
			break;
		case 'N':
			if (deliver_notify_parse(optarg, &notify) < 0)
				usage();
			break;
		case 'O':
			orcpt = 1;
			break;
		case 's':
			sock = optarg;
			break;
		case 'T':
			timeout_ms = atoi(optarg) * 1000;
			break;
		case 'u':
			owner = optarg;
			break;
		case 'x': {
			char *eq = strchr(optarg, '=');
			int i = atoi(optarg);

			if (eq == NULL || i < 0 || i >= SMTPQ_OVERRIDE_MAX)
				usage();
			override[i] = eq + 1;
			break;
		}
		default:
			usage();
		}
	}
	nrcpt = argc - optind;
	if (queue == NULL || nexthop == NULL || nrcpt < 1 || nrcpt > SMTPQ_RCPT_MAX)
		usage();
	write_queue_file(queue, sender, flags, envid, ret, argv + optind, nrcpt, notify, orcpt, id);
	if (owner) {
		struct passwd *pw = getpwnam(owner);
		struct str qf = STR_INIT;

		if (pw == NULL)
			msg_fatal("no user %s", owner);
		str_printf(&qf, "%s/active/%s", queue, id);
		if (chown(str_cstr(&qf), pw->pw_uid, pw->pw_gid) < 0)
			msg_fatal("chown %s: %m", str_cstr(&qf));
		str_free(&qf);
	}
	printf("queue_id=%s\n", id);
	fflush(stdout);

	deliver_request_init(&req);
	deliver_request_set(&req, id, "smtp", nexthop, sender,
	        ((flags & QUEUE_FLAG_8BITMIME) ? DELIVER_FLAG_8BITMIME : 0) |
	                ((flags & QUEUE_FLAG_SMTPUTF8) ? DELIVER_FLAG_SMTPUTF8 : 0));
	for (int i = 0; i < nrcpt; i++) {
		const char *a = argv[optind + i];
		const char *type = NULL;

		if (orcpt)
			type = addr_is_ascii(a, strlen(a)) ? "rfc822" : "utf-8";
		deliver_request_add_rcpt(&req, (size_t)i,
		        i < SMTPQ_OVERRIDE_MAX && override[i] ? override[i] : a, type,
		        orcpt ? a : NULL, notify);
	}
	attr_list_init(&l);
	deliver_request_encode(&req, &l);
	if (sock)
		str_setz(&path, sock);
	else
		str_printf(&path, "%s/private/smtp", queue);
	fd = connect_unix(str_cstr(&path));
	if (attr_send(fd, &l, timeout_ms, &err) < 0)
		msg_fatal("send: %s", str_cstr(&err));
	for (;;) {
		struct deliver_result res;
		struct deliver_done done;
		enum deliver_reply_kind kind;
		int rc;

		if ((rc = attr_recv(fd, &l, DELIVER_REPLY_MAX, timeout_ms, &err)) != 0)
			msg_fatal("receive: %s", rc > 0 ? "end of file" : str_cstr(&err));
		deliver_result_init(&res);
		deliver_done_init(&done);
		if (deliver_reply_decode(&l, &kind, &res, &done, &err) < 0)
			msg_fatal("bad answer: %s", str_cstr(&err));
		if (kind == DELIVER_REPLY_RCPT) {
			printf("rcpt index=%zu status=%s dsn=%s relay=%s conn_use=%ld relayed=%d "
			       "delay_conn=%lld delay_xmit=%lld",
			        res.index, deliver_status_name(res.status), res.dsn,
			        str_cstr(&res.relay), res.conn_use, res.dsn_relayed,
			        res.delay_conn_ms, res.delay_xmit_ms);
			print_text("reason", &res.reason);
			printf("\n");
		} else {
			printf("done status=%s dsn=%s relay=%s",
			        done.status == DELIVER_DONE_OK ? "ok" : "defer", done.dsn,
			        str_cstr(&done.relay));
			print_text("reason", &done.reason);
			printf("\n");
		}
		fflush(stdout);
		deliver_result_free(&res);
		deliver_done_free(&done);
		if (kind == DELIVER_REPLY_DONE)
			break;
	}
	close(fd);
	attr_list_free(&l);
	deliver_request_free(&req);
	str_free(&path);
	str_free(&err);
	return 0;
}
