/*
 * cleanupq.c - a client of the cleanup protocol (docs/cleanup.md) for the
 * system tests: sends one message read from standard input.
 *
 *	cleanupq -s SOCKET [-f sender] [-r rcpt [-R name=value]...]...
 *		[-l] [-t] [-8] [-U] [-F fullname] [-a name=value]...
 *		[-b chunk] [-w ms] [-x bytes] [-C] [-T seconds] < message
 *
 *	-s	the cleanup socket (private/cleanup)
 *	-f	the envelope sender (default: empty, the null sender)
 *	-r	a recipient; -R adds an attribute (notify=, orcpt=) to the
 *		last one
 *	-l -t -8 -U	flags local, extract, 8bitmime, smtputf8
 *	-F	the sender's full name
 *	-a	any attribute of the open request (helo=, client_addr=, ...)
 *	-b	octets per data frame (default 65536; larger ones test the
 *		server's refusal)
 *	-w	milliseconds to sleep before each data frame
 *	-x	send only this many octets of the message, then exit without
 *		request=end (an aborted submission)
 *	-C	turn each LF not preceded by CR into CRLF
 *	-T	deadline of each frame (default 30 s)
 *
 * Prints the replies one attribute per line, "open.NAME=VALUE" and
 * "end.NAME=VALUE".  Exits 0 when the final status is ok (or after -x),
 * 2 when the server answered anything else, 1 on usage or I/O errors.
 * Trusts its peer only as far as the attribute decoder does; it is a
 * test tool, never installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "unix_connect.h"
#include "attr.h"
#include "mem.h"
#include "msg.h"
#include "str.h"

#define CLEANUPQ_ARGS_MAX  10000
#define CLEANUPQ_CHUNK     65536
#define CLEANUPQ_CHUNK_MAX (4 * 1024 * 1024)
#define CLEANUPQ_REPLY_MAX 65536

struct rcpt {
	const char *address;
	const char *extra[CLEANUPQ_ARGS_MAX / 100];
	int nextra;
};

static void
usage(void)
{
	fprintf(stderr,
	        "usage: cleanupq -s socket [-f sender] [-r rcpt [-R name=value]...]... "
	        "[-l] [-t] [-8] [-U] [-F fullname] [-a name=value]... [-b chunk] "
	        "[-w ms] [-x bytes] [-C] [-T seconds] < message\n");
	exit(1);
}

static void
put_pair(struct attr_list *l, const char *pair)
{
	const char *eq = strchr(pair, '=');
	char *name;

	if (eq == NULL || eq == pair)
		usage();
	name = xstrndup(pair, (size_t)(eq - pair));
	attr_put_str(l, name, eq + 1);
	free(name);
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
read_stdin(struct str *msg, int crlf)
{
	char buf[65536];
	ssize_t n;
	int prev_cr = 0;

	while ((n = read(0, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (crlf && buf[i] == '\n' && !prev_cr)
				str_appendc(msg, '\r');
			str_appendc(msg, buf[i]);
			prev_cr = buf[i] == '\r';
		}
	}
	if (n < 0)
		msg_fatal("read standard input: %m");
}

/* Print a reply; returns 1 when its status is ok. */
static int
print_reply(const char *prefix, const struct attr_list *l)
{
	const char *status = attr_get_str(l, "status");

	for (size_t i = 0; i < l->n; i++)
		printf("%s.%s=%s\n", prefix, attr_name(l, &l->v[i]), attr_value(l, &l->v[i]));
	fflush(stdout);
	return status != NULL && strcmp(status, "ok") == 0;
}

/* After a failed send the server may have said why before it closed. */
static int
final_reply(int fd, const char *prefix, int timeout_ms)
{
	struct attr_list rep;
	struct str err = STR_INIT;
	int ok = 0, rc;

	attr_list_init(&rep);
	rc = attr_recv(fd, &rep, CLEANUPQ_REPLY_MAX, timeout_ms, &err);
	if (rc == 0)
		ok = print_reply(prefix, &rep);
	else
		fprintf(stderr, "cleanupq: no %s reply: %s\n", prefix,
		        rc == 1 ? "connection closed" : str_cstr(&err));
	attr_list_free(&rep);
	str_free(&err);
	if (rc != 0)
		exit(1);
	return ok;
}

static void
send_or_reply(int fd, const struct attr_list *l, int timeout_ms)
{
	struct str err = STR_INIT;

	if (attr_send(fd, l, timeout_ms, &err) < 0) {
		fprintf(stderr, "cleanupq: send: %s\n", str_cstr(&err));
		exit(final_reply(fd, "end", timeout_ms) ? 0 : 2);
	}
	str_free(&err);
}

int
main(int argc, char **argv)
{
	static struct rcpt rcpts[CLEANUPQ_ARGS_MAX];
	const char *sock = NULL, *sender = "", *fullname = NULL, *opens[CLEANUPQ_ARGS_MAX];
	struct str flags = STR_INIT, msg = STR_INIT;
	long long chunk = CLEANUPQ_CHUNK, wait_ms = 0, stop_after = -1, timeout_s = 30;
	int nrcpt = 0, nopen = 0, crlf = 0, ch, fd, ok, timeout_ms;
	struct attr_list l;

	msg_init("cleanupq");
	msg_to_stderr(1);
	msg_stderr_plain(1);
	while ((ch = getopt(argc, argv, "s:f:r:R:lt8UF:a:b:w:x:CT:")) != -1) {
		switch (ch) {
		case 's':
			sock = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		case 'r':
			if (nrcpt >= CLEANUPQ_ARGS_MAX)
				usage();
			rcpts[nrcpt++].address = optarg;
			break;
		case 'R':
			if (nrcpt == 0 || rcpts[nrcpt - 1].nextra >= CLEANUPQ_ARGS_MAX / 100)
				usage();
			rcpts[nrcpt - 1].extra[rcpts[nrcpt - 1].nextra++] = optarg;
			break;
		case 'l':
			str_appendz(&flags, flags.len ? ",local" : "local");
			break;
		case 't':
			str_appendz(&flags, flags.len ? ",extract" : "extract");
			break;
		case '8':
			str_appendz(&flags, flags.len ? ",8bitmime" : "8bitmime");
			break;
		case 'U':
			str_appendz(&flags, flags.len ? ",smtputf8" : "smtputf8");
			break;
		case 'F':
			fullname = optarg;
			break;
		case 'a':
			if (nopen >= CLEANUPQ_ARGS_MAX)
				usage();
			opens[nopen++] = optarg;
			break;
		case 'b':
			chunk = strtoll(optarg, NULL, 10);
			break;
		case 'w':
			wait_ms = strtoll(optarg, NULL, 10);
			break;
		case 'x':
			stop_after = strtoll(optarg, NULL, 10);
			break;
		case 'C':
			crlf = 1;
			break;
		case 'T':
			timeout_s = strtoll(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (sock == NULL || optind != argc || chunk < 1 || chunk > CLEANUPQ_CHUNK_MAX ||
	        timeout_s < 1 || timeout_s > 3600)
		usage();
	timeout_ms = (int)(timeout_s * 1000);
	read_stdin(&msg, crlf);
	fd = connect_to(sock);
	attr_list_init(&l);

	attr_put_str(&l, "request", "open");
	attr_put_str(&l, "sender", sender);
	if (flags.len)
		attr_put_str(&l, "flags", str_cstr(&flags));
	if (fullname)
		attr_put_str(&l, "fullname", fullname);
	for (int i = 0; i < nopen; i++)
		put_pair(&l, opens[i]);
	send_or_reply(fd, &l, timeout_ms);
	ok = final_reply(fd, "open", timeout_ms);

	for (int i = 0; i < nrcpt && ok; i++) {
		attr_list_reset(&l);
		attr_put_str(&l, "request", "rcpt");
		attr_put_str(&l, "address", rcpts[i].address);
		for (int k = 0; k < rcpts[i].nextra; k++)
			put_pair(&l, rcpts[i].extra[k]);
		send_or_reply(fd, &l, timeout_ms);
	}
	for (size_t off = 0; off < msg.len && ok;) {
		size_t n = msg.len - off < (size_t)chunk ? msg.len - off : (size_t)chunk;

		if (stop_after >= 0 && off + n > (size_t)stop_after)
			n = (size_t)stop_after - off;
		if (n == 0)
			break;
		if (wait_ms > 0) {
			struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};

			nanosleep(&ts, NULL);
		}
		attr_list_reset(&l);
		attr_put_str(&l, "request", "data");
		attr_put(&l, "data", msg.data + off, n);
		send_or_reply(fd, &l, timeout_ms);
		off += n;
	}
	if (ok && stop_after < 0) {
		attr_list_reset(&l);
		attr_put_str(&l, "request", "end");
		send_or_reply(fd, &l, timeout_ms);
		ok = final_reply(fd, "end", timeout_ms);
	}
	attr_list_free(&l);
	str_free(&msg);
	str_free(&flags);
	close(fd);
	return ok ? 0 : 2;
}
