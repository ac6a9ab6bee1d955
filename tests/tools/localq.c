/*
 * localq.c - drive the local delivery agent directly, for the system
 * tests: writes a queue file into QUEUE/active/ with lib's writer (as
 * cleanup would) and sends local one delivery request (as qmgr would,
 * docs/delivery-protocol.md), then prints local's answers.
 *
 *	localq -q QUEUE [-s SOCKET] [-f sender] [-A seconds] [-n]
 *		-r rcpt [-O type;address] [-N notify]... < message
 *	localq -q QUEUE [-s SOCKET] -I QUEUEID [-f sender] -r rcpt ... [-i index]
 *
 *	-q	the queue directory (the queue file goes to active/)
 *	-s	the agent's socket (default QUEUE/private/local)
 *	-f	the envelope sender (default: empty, the null sender)
 *	-r	a recipient; -O and -N give its ORCPT and NOTIFY
 *	-A	the message arrived this many seconds ago
 *	-n	write the queue file only, do not deliver
 *	-I	deliver the existing queue file active/QUEUEID again
 *	-i	with -I: the index of the next -r recipient (default: its place)
 *
 * Prints "queue_id=ID", then one line per answer:
 *	"rcpt=INDEX status=S dsn=D relay=R reason=TEXT"
 *	"done status=S dsn=D reason=TEXT"
 * Exits 0 after a final frame, 2 when local broke the protocol or went
 * away, 1 on usage or local errors.  A test tool, never installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "unix_connect.h"
#include "attr.h"
#include "deliver.h"
#include "mem.h"
#include "msg.h"
#include "queue_file.h"
#include "str.h"

#define LOCALQ_RCPT_MAX   1000
#define LOCALQ_TIMEOUT_MS (300 * 1000)

struct rcpt {
	const char *address;
	const char *orcpt;
	unsigned notify;
	long index;
};

static void
usage(void)
{
	fprintf(stderr,
	        "usage: localq -q queue [-s socket] [-f sender] [-A seconds] [-n] "
	        "[-I id] -r rcpt [-O type;addr] [-N notify] [-i index]... < message\n");
	exit(1);
}

static int
connect_to(const char *path)
{
	struct str err = STR_INIT;
	int fd = unix_connect(path, 0, &err);

	if (fd < 0)
		msg_fatal("%s", str_cstr(&err));
	str_free(&err);
	return fd;
}

static void
split_orcpt(const char *orcpt, char **type, char **addr)
{
	const char *semi = orcpt ? strchr(orcpt, ';') : NULL;

	if (semi == NULL) {
		*type = xstrdup("");
		*addr = xstrdup("");
		return;
	}
	*type = xstrndup(orcpt, (size_t)(semi - orcpt));
	*addr = xstrdup(semi + 1);
}

static void
write_queue_file(const char *queue, const char *sender, long long ago, struct rcpt *r, int n,
        char id[QUEUE_ID_SIZE])
{
	struct queue_writer *w;
	struct str dir = STR_INIT, err = STR_INIT;
	struct timeval tv;
	char buf[65536];
	ssize_t got;

	str_printf(&dir, "%s/active", queue);
	if (queue_file_create(dir.data, &w, &err) != QUEUE_OK)
		msg_fatal("%s", str_cstr(&err));
	gettimeofday(&tv, NULL);
	if (ago > 0 &&
	        queue_file_put_arrival(w, ((long long)tv.tv_sec - ago) * 1000000 + tv.tv_usec) !=
	                QUEUE_OK)
		msg_fatal("arrival refused");
	if (queue_file_put_sender(w, sender) != QUEUE_OK)
		msg_fatal("sender refused");
	for (int i = 0; i < n; i++) {
		char *type, *addr;

		split_orcpt(r[i].orcpt, &type, &addr);
		if (queue_file_put_rcpt(w, r[i].address, type, addr, r[i].notify) != QUEUE_OK)
			msg_fatal("recipient %s refused", r[i].address);
		free(type);
		free(addr);
	}
	while ((got = read(0, buf, sizeof(buf))) > 0)
		if (queue_file_put_content(w, buf, (size_t)got) != QUEUE_OK)
			break;
	if (queue_file_commit(w, id, &err) != QUEUE_OK)
		msg_fatal("commit: %s", str_cstr(&err));
	str_free(&dir);
	str_free(&err);
}

static int
deliver(const char *sock, const char *id, const char *sender, struct rcpt *r, int n)
{
	struct deliver_request req;
	struct deliver_result res;
	struct deliver_done done;
	enum deliver_reply_kind kind;
	struct attr_list l;
	struct str err = STR_INIT;
	const char *at = strrchr(r[0].address, '@');
	int fd = connect_to(sock), rc = 2;

	deliver_request_init(&req);
	deliver_request_set(&req, id, "local", at ? at + 1 : "", sender, 0);
	for (int i = 0; i < n; i++) {
		char *type, *addr;

		split_orcpt(r[i].orcpt, &type, &addr);
		deliver_request_add_rcpt(
		        &req, (size_t)r[i].index, r[i].address, type, addr, r[i].notify);
		free(type);
		free(addr);
	}
	attr_list_init(&l);
	deliver_request_encode(&req, &l);
	if (attr_send(fd, &l, LOCALQ_TIMEOUT_MS, &err) < 0)
		msg_fatal("send: %s", str_cstr(&err));
	for (;;) {
		deliver_result_init(&res);
		deliver_done_init(&done);
		if (attr_recv(fd, &l, DELIVER_REPLY_MAX, LOCALQ_TIMEOUT_MS, &err) != 0) {
			fprintf(stderr, "localq: no final frame: %s\n", str_cstr(&err));
			break;
		}
		if (deliver_reply_decode(&l, &kind, &res, &done, &err) < 0) {
			fprintf(stderr, "localq: bad answer: %s\n", str_cstr(&err));
			break;
		}
		if (kind == DELIVER_REPLY_RCPT) {
			printf("rcpt=%zu status=%s dsn=%s relay=%s reason=%s\n", res.index,
			        deliver_status_name(res.status), res.dsn, str_cstr(&res.relay),
			        str_cstr(&res.reason));
		} else {
			printf("done status=%s dsn=%s reason=%s\n",
			        done.status == DELIVER_DONE_OK ? "ok" : "defer", done.dsn,
			        str_cstr(&done.reason));
			rc = 0;
		}
		fflush(stdout);
		deliver_result_free(&res);
		deliver_done_free(&done);
		if (rc == 0)
			break;
	}
	deliver_result_free(&res);
	deliver_done_free(&done);
	deliver_request_free(&req);
	attr_list_free(&l);
	str_free(&err);
	close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	static struct rcpt rcpts[LOCALQ_RCPT_MAX];
	const char *queue = NULL, *sock = NULL, *sender = "", *again = NULL;
	char id[QUEUE_ID_SIZE];
	struct str path = STR_INIT;
	long long ago = 0;
	int n = 0, ch, only_write = 0, rc;

	msg_init("localq");
	msg_to_stderr(1);
	msg_stderr_plain(1);
	while ((ch = getopt(argc, argv, "q:s:f:A:nI:r:O:N:i:")) != -1) {
		switch (ch) {
		case 'q':
			queue = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		case 'A':
			ago = strtoll(optarg, NULL, 10);
			break;
		case 'n':
			only_write = 1;
			break;
		case 'I':
			again = optarg;
			break;
		case 'r':
			if (n >= LOCALQ_RCPT_MAX)
				usage();
			rcpts[n].address = optarg;
			rcpts[n].index = n;
			n++;
			break;
		case 'O':
			if (n == 0)
				usage();
			rcpts[n - 1].orcpt = optarg;
			break;
		case 'N':
			if (n == 0 || deliver_notify_parse(optarg, &rcpts[n - 1].notify) < 0)
				usage();
			break;
		case 'i':
			if (n == 0)
				usage();
			rcpts[n - 1].index = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (queue == NULL || n == 0 || optind != argc)
		usage();
	if (again != NULL) {
		if (!queue_id_valid(again))
			usage();
		snprintf(id, sizeof(id), "%s", again);
	} else {
		write_queue_file(queue, sender, ago, rcpts, n, id);
	}
	printf("queue_id=%s\n", id);
	fflush(stdout);
	if (only_write)
		return 0;
	if (sock == NULL) {
		str_printf(&path, "%s/private/local", queue);
		sock = path.data;
	}
	rc = deliver(sock, id, sender, rcpts, n);
	str_free(&path);
	return rc;
}
