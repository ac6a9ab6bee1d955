/*
 * smtp_sink.c - an SMTP server that accepts every message and keeps
 * none, for the relay benchmark when Postfix's smtp-sink is not
 * installed (bench/relay.py).  A bench tool for loopback use: never
 * installed, never run by the tests; "make bench" builds it.
 *
 *	smtp_sink [-c] HOST:PORT
 *
 * Announces PIPELINING and 8BITMIME, answers 250 to every command but
 * DATA (354) and QUIT (221), and 250 at each end of data.  With -c it
 * prints "mesg=N" on a line of its own (flushed) as each message ends,
 * the counter that bench/benchlib.py also reads from smtp-sink -c.  On
 * SIGTERM or SIGINT it prints "received N" and exits 0.
 *
 * Trusts nothing from its clients: lines are cut at SINK_LINE_MAX, input
 * is only scanned, never stored beyond one partial line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem.h"
#include "msg.h"
#include "parse.h"
#include "str.h"

#define SINK_EVENTS_MAX 256   /* epoll events per wait */
#define SINK_READ_CHUNK 65536 /* octets per read(2) */
#define SINK_LINE_MAX   1000  /* RFC 5321 line length, CRLF included */
#define SINK_BACKLOG    1024  /* listen(2) backlog */

enum sink_state { SINK_COMMAND, SINK_MESSAGE, SINK_DONE };

struct sink_conn {
	struct sink_conn *prev, *next; /* every open connection, for the exit */
	int fd;
	int listener;
	enum sink_state state;
	struct str line; /* the partial line carried between reads */
	struct str out;  /* replies not yet written */
};

static int epfd = -1;
static struct sink_conn *conns;
static int show_counter;
static long messages;
static volatile sig_atomic_t stop_requested;

static void
usage(void)
{
	fprintf(stderr, "usage: smtp_sink [-c] IPV4-ADDRESS:PORT\n");
	exit(2);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void
parse_endpoint(const char *arg, struct sockaddr_in *sin)
{
	const char *colon = strrchr(arg, ':');
	char host[INET_ADDRSTRLEN];
	long long port;
	const char *why;
	size_t n;

	if (colon == NULL || (n = (size_t)(colon - arg)) == 0 || n >= sizeof(host))
		msg_fatal("%s: expected IPV4-ADDRESS:PORT", arg);
	memcpy(host, arg, n);
	host[n] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		msg_fatal("%s: not an IPv4 address", host);
	if (parse_int(colon + 1, 1, 65535, &port, &why) < 0)
		msg_fatal("port %s: %s", colon + 1, why);
	sin->sin_port = htons((unsigned short)port);
}

static struct sink_conn *
conn_add(int fd, int listener)
{
	struct sink_conn *c = xcalloc(1, sizeof(*c));
	struct epoll_event ev;

	c->fd = fd;
	c->listener = listener;
	c->state = SINK_COMMAND;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	memset(&ev, 0, sizeof(ev));
	ev.events = listener ? EPOLLIN : EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		msg_fatal("epoll_ctl: %m");
	return c;
}

static void
conn_close(struct sink_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	str_free(&c->line);
	str_free(&c->out);
	free(c);
}

/* Writes what the socket takes; -1 when the client is gone. */
static int
conn_flush(struct sink_conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = write(c->fd, c->out.data, c->out.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		str_consume(&c->out, (size_t)n);
	}
	return 0;
}

static void
message_done(struct sink_conn *c)
{
	messages++;
	c->state = SINK_COMMAND;
	str_appendz(&c->out, "250 2.0.0 Ok: queued\r\n");
	if (show_counter) {
		printf("mesg=%ld\n", messages);
		fflush(stdout);
	}
}

/* One complete line (CRLF removed) in the state it arrived in. */
static void
handle_line(struct sink_conn *c, const char *line)
{
	if (c->state == SINK_MESSAGE) {
		if (strcmp(line, ".") == 0)
			message_done(c);
	} else if (strncasecmp(line, "EHLO", 4) == 0) {
		str_appendz(&c->out,
		        "250-sink.bench.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
		        "250 SIZE 0\r\n");
	} else if (strncasecmp(line, "DATA", 4) == 0) {
		c->state = SINK_MESSAGE;
		str_appendz(&c->out, "354 End data with <CR><LF>.<CR><LF>\r\n");
	} else if (strncasecmp(line, "QUIT", 4) == 0) {
		str_appendz(&c->out, "221 2.0.0 Bye\r\n");
		c->state = SINK_DONE;
	} else {
		str_appendz(&c->out, "250 2.0.0 Ok\r\n");
	}
}

/* Splits buf into lines, carrying a partial one in c->line. */
static void
scan_input(struct sink_conn *c, const char *buf, size_t n)
{
	while (n > 0 && c->state != SINK_DONE) {
		const char *nl = memchr(buf, '\n', n);
		size_t take = nl ? (size_t)(nl - buf) : n;

		if (c->line.len + take < SINK_LINE_MAX)
			str_append(&c->line, buf, take);
		if (nl == NULL)
			return;
		if (c->line.len > 0 && c->line.data[c->line.len - 1] == '\r')
			str_truncate(&c->line, c->line.len - 1);
		handle_line(c, str_cstr(&c->line));
		str_reset(&c->line);
		buf += take + 1;
		n -= take + 1;
	}
}

static void
client_event(struct sink_conn *c, unsigned events)
{
	char buf[SINK_READ_CHUNK];
	int gone = 0;

	while (!gone && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		ssize_t n = read(c->fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			gone = 1;
		else
			scan_input(c, buf, (size_t)n);
	}
	if (conn_flush(c) < 0)
		gone = 1;
	if (gone || (c->state == SINK_DONE && c->out.len == 0))
		conn_close(c);
}

static void
accept_clients(struct sink_conn *l)
{
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct sink_conn *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				msg_warn("accept: %m");
			return;
		}
		c = conn_add(fd, 0);
		str_appendz(&c->out, "220 sink.bench.test ESMTP\r\n");
		if (conn_flush(c) < 0)
			conn_close(c);
	}
}

static int
open_listener(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;

	if (fd < 0)
		msg_fatal("socket: %m");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
		msg_fatal("bind %s:%u: %m", inet_ntoa(sin->sin_addr), ntohs(sin->sin_port));
	if (listen(fd, SINK_BACKLOG) < 0)
		msg_fatal("listen: %m");
	return fd;
}

int
main(int argc, char **argv)
{
	struct epoll_event events[SINK_EVENTS_MAX];
	struct sockaddr_in sin;
	struct sigaction sa;
	int ch;

	msg_init("smtp_sink");
	msg_to_stderr(1);
	while ((ch = getopt(argc, argv, "c")) != -1) {
		if (ch != 'c')
			usage();
		show_counter = 1;
	}
	if (optind != argc - 1)
		usage();
	parse_endpoint(argv[optind], &sin);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		msg_fatal("epoll_create1: %m");
	conn_add(open_listener(&sin), 1);
	while (!stop_requested) {
		int n = epoll_wait(epfd, events, SINK_EVENTS_MAX, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			msg_fatal("epoll_wait: %m");
		for (int i = 0; i < n; i++) {
			struct sink_conn *c = events[i].data.ptr;

			if (c->listener)
				accept_clients(c);
			else
				client_event(c, events[i].events);
		}
	}
	while (conns)
		conn_close(conns);
	close(epfd);
	printf("received %ld\n", messages);
	return 0;
}
