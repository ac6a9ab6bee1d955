/*
 * smtp_load.c - Tern's own SMTP load generator, for bench/ (never
 * installed, never used by tests).
 *
 *	smtp_load -p PORT [-H ADDR] -s SESSIONS -m MESSAGES [-z SIZE]
 *		[-f FROM] [-t TO] [-b SOURCENET]
 *	smtp_load -p PORT [-H ADDR] -i IDLE -b SOURCENET [-w SECONDS]
 *		[-f FROM] [-t TO]
 *
 * Load mode: SESSIONS threads, each on one connection, send MESSAGES
 * messages of SIZE octets (default 4096) in all, pipelining MAIL, RCPT
 * and DATA, each acknowledged by "250 ... queued as" before the next;
 * prints the messages accepted, the time and the rate.
 *
 * Idle mode: opens IDLE connections from source addresses spread over
 * SOURCENET (a.b.c.d/len, e.g. 127.0.0.0/8), sends EHLO on each and waits
 * until every one is answered; then times one fresh session with a full
 * transaction; prints both and holds the idle sessions for SECONDS (so a
 * script can measure the server meanwhile) before closing them.
 *
 * Every reply is read whole; an unexpected reply is counted as an error
 * and reported.  Trusts nothing from the server beyond reading lines of
 * at most LOAD_LINE_MAX octets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOAD_LINE_MAX     4096  /* octets of one reply line */
#define LOAD_SESSIONS_MAX 1000  /* load mode threads */
#define LOAD_IDLE_MAX     65000 /* idle mode connections */
#define LOAD_TIMEOUT_MS   60000 /* per reply */
#define LOAD_EVENTS       256   /* epoll events taken at once */

struct options {
	const char *host;
	int port;
	int sessions;
	long messages;
	size_t size;
	const char *from;
	const char *to;
	int idle;
	int hold;
	uint32_t net, mask; /* source network, host order */
	int have_net;
};

static struct options opt = {
        "127.0.0.1", 0, 1, 0, 4096, "load@example.org", "root@tern.test", 0, 0, 0, 0, 0};
static char *message; /* the content, nothing to dot-stuff, then ".\r\n" */
static size_t message_len;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long next_message, accepted, failed;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a blocking connection ---- */

struct conn {
	int fd;
	char buf[LOAD_LINE_MAX];
	size_t len;
};

static int
source_for(long i, struct sockaddr_in *sin)
{
	uint32_t hosts = ~opt.mask, host;

	if (!opt.have_net)
		return 0;
	/* Skip the network and broadcast addresses of the range. */
	host = hosts > 2 ? (uint32_t)(i % (hosts - 1)) + 1 : 1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(opt.net | host);
	return 1;
}

static int
conn_open(struct conn *c, long index)
{
	struct sockaddr_in sin, src;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &sin.sin_addr) != 1) {
		fprintf(stderr, "smtp_load: bad address %s\n", opt.host);
		exit(2);
	}
	c->len = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (source_for(index, &src) && bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
		close(c->fd);
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(c->fd);
		return -1;
	}
	return 0;
}

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One reply; returns its code (the last line's), or -1. */
static int
read_reply(struct conn *c, char *last, size_t lastsize)
{
	struct pollfd p;
	ssize_t r;
	char *nl;

	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t linelen = (size_t)(nl - c->buf) + 1;
			int final = linelen >= 4 && c->buf[3] == ' ';
			int code = atoi(c->buf);

			if (final && last) {
				size_t n = linelen < lastsize ? linelen : lastsize - 1;

				memcpy(last, c->buf, n);
				last[n] = '\0';
			}
			memmove(c->buf, nl + 1, c->len - linelen);
			c->len -= linelen;
			if (final)
				return code;
			continue;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		p.fd = c->fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, LOAD_TIMEOUT_MS) <= 0)
			return -1;
		r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r <= 0)
			return -1;
		c->len += (size_t)r;
	}
}

static int
expect(struct conn *c, int want, const char *what)
{
	char last[LOAD_LINE_MAX];
	int code = read_reply(c, last, sizeof(last));

	if (code != want) {
		fprintf(stderr, "smtp_load: %s: expected %d, got %d %s", what, want, code,
		        code > 0 ? last : "(no reply)\n");
		return -1;
	}
	return 0;
}

/* MAIL, RCPT, DATA pipelined, then the content: 0 when queued. */
static int
transaction(struct conn *c)
{
	char cmds[1024];
	int n = snprintf(
	        cmds, sizeof(cmds), "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", opt.from, opt.to);

	if (send_all(c->fd, cmds, (size_t)n) < 0 || expect(c, 250, "MAIL") < 0 ||
	        expect(c, 250, "RCPT") < 0 || expect(c, 354, "DATA") < 0)
		return -1;
	if (send_all(c->fd, message, message_len) < 0 || expect(c, 250, "end of data") < 0)
		return -1;
	return 0;
}

static int
session_start(struct conn *c, long index)
{
	static const char ehlo[] = "EHLO load.example\r\n";

	if (conn_open(c, index) < 0)
		return -1;
	if (expect(c, 220, "greeting") < 0 || send_all(c->fd, ehlo, sizeof(ehlo) - 1) < 0 ||
	        expect(c, 250, "EHLO") < 0) {
		close(c->fd);
		return -1;
	}
	return 0;
}

static void
session_end(struct conn *c)
{
	(void)send_all(c->fd, "QUIT\r\n", 6);
	(void)expect(c, 221, "QUIT");
	close(c->fd);
}

/* ---- load mode ---- */

static void *
load_thread(void *arg)
{
	long index = (long)(intptr_t)arg;
	struct conn *c = malloc(sizeof(*c));
	int ok;

	if (c == NULL || session_start(c, index) < 0) {
		fprintf(stderr, "smtp_load: session %ld: cannot start\n", index);
		free(c);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&lock);
		ok = next_message < opt.messages;
		if (ok)
			next_message++;
		pthread_mutex_unlock(&lock);
		if (!ok)
			break;
		ok = transaction(c) == 0;
		pthread_mutex_lock(&lock);
		if (ok)
			accepted++;
		else
			failed++;
		pthread_mutex_unlock(&lock);
		if (!ok) {
			close(c->fd);
			if (session_start(c, index) < 0) {
				free(c);
				return NULL;
			}
		}
	}
	session_end(c);
	free(c);
	return NULL;
}

static int
load_mode(void)
{
	pthread_t *threads = calloc((size_t)opt.sessions, sizeof(*threads));
	double start = now(), elapsed;

	for (int i = 0; i < opt.sessions; i++)
		pthread_create(&threads[i], NULL, load_thread, (void *)(intptr_t)i);
	for (int i = 0; i < opt.sessions; i++)
		pthread_join(threads[i], NULL);
	elapsed = now() - start;
	printf("sessions=%d messages=%ld size=%zu accepted=%ld failed=%ld seconds=%.2f "
	       "rate=%.1f/s\n",
	        opt.sessions, opt.messages, opt.size, accepted, failed, elapsed,
	        elapsed > 0 ? (double)accepted / elapsed : 0.0);
	free(threads);
	return failed == 0 && accepted == opt.messages ? 0 : 1;
}

/* ---- idle mode ---- */

struct idle {
	int fd;
	int replies;  /* final replies seen: the greeting, then EHLO's */
	int line_pos; /* octets of the current line so far */
};

/* Count final reply lines ("NNN " at a line start) in buf. */
static void
idle_scan(struct idle *s, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s->line_pos == 3 && buf[i] == ' ')
			s->replies++;
		s->line_pos = buf[i] == '\n' ? 0 : s->line_pos + 1;
	}
}

/* Read what arrived on some idle sessions; returns the number that
 * became ready (both replies seen) or -1 for each that closed. */
static int
idle_take(int ep, struct idle *v, int timeout_ms, int *closed)
{
	struct epoll_event events[LOAD_EVENTS];
	char buf[LOAD_LINE_MAX];
	int n = epoll_wait(ep, events, LOAD_EVENTS, timeout_ms), ready = 0;

	for (int k = 0; k < n; k++) {
		struct idle *s = &v[events[k].data.u32];
		ssize_t r = recv(s->fd, buf, sizeof(buf), 0);

		if (r > 0) {
			idle_scan(s, buf, (size_t)r);
			if (s->replies == 2)
				ready++;
		} else {
			(*closed)++;
		}
		if (r <= 0 || s->replies >= 2)
			epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
	}
	return n < 0 ? 0 : n == 0 && timeout_ms > 0 ? -1 : ready;
}

static int
idle_mode(void)
{
	static const char ehlo[] = "EHLO idle.example\r\n";
	struct idle *v = calloc((size_t)opt.idle, sizeof(*v));
	int ep = epoll_create1(EPOLL_CLOEXEC), opened = 0, ready = 0, closed = 0, got;
	struct epoll_event ev;
	double start = now(), t0;
	struct conn c, fresh;

	for (int i = 0; i < opt.idle; i++) {
		if (conn_open(&c, i) < 0) {
			fprintf(stderr, "smtp_load: connection %d: %s\n", i, strerror(errno));
			break;
		}
		v[i].fd = c.fd;
		if (send_all(c.fd, ehlo, sizeof(ehlo) - 1) < 0) {
			close(c.fd);
			v[i].fd = -1;
			break;
		}
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev);
		opened++;
		/* Take what has arrived meanwhile, so nothing backs up. */
		ready += idle_take(ep, v, 0, &closed);
	}
	while (ready + closed < opened) {
		got = idle_take(ep, v, LOAD_TIMEOUT_MS, &closed);
		if (got < 0) {
			fprintf(stderr, "smtp_load: %d of %d sessions never answered EHLO\n",
			        opened - ready - closed, opened);
			break;
		}
		ready += got;
	}
	printf("idle=%d ready=%d closed=%d seconds=%.2f\n", opened, ready, closed, now() - start);
	fflush(stdout);
	/* A fresh client meanwhile: connect, EHLO, one message, QUIT. */
	opt.have_net = 0;
	t0 = now();
	if (session_start(&fresh, 0) < 0 || transaction(&fresh) < 0) {
		printf("fresh transaction failed\n");
		return 1;
	}
	session_end(&fresh);
	printf("fresh_transaction_seconds=%.3f\n", now() - t0);
	fflush(stdout);
	if (opt.hold > 0)
		sleep((unsigned)opt.hold);
	for (int i = 0; i < opened; i++)
		if (v[i].fd >= 0)
			close(v[i].fd);
	free(v);
	return ready == opt.idle ? 0 : 1;
}

/* ---- main ---- */

static void
make_message(void)
{
	size_t head, left, line;
	char *p;

	message = malloc(opt.size + 256);
	if (message == NULL)
		exit(1);
	head = (size_t)snprintf(message, opt.size + 256,
	        "From: <%s>\r\nTo: <%s>\r\nSubject: load\r\n\r\n", opt.from, opt.to);
	p = message + head;
	left = opt.size > head ? opt.size - head : 0;
	while (left > 0) {
		line = left < 78 ? left : 78;
		if (line < 3) {
			*p++ = 'x';
			left--;
			continue;
		}
		memset(p, 'a' + (int)(left % 26), line - 2);
		p[line - 2] = '\r';
		p[line - 1] = '\n';
		p += line;
		left -= line;
	}
	if (p[-1] != '\n') {
		*p++ = '\r';
		*p++ = '\n';
	}
	memcpy(p, ".\r\n", 3);
	p += 3;
	message_len = (size_t)(p - message);
}

static int
parse_net(const char *text)
{
	char addr[32];
	const char *slash = strchr(text, '/');
	struct in_addr in;
	int bits;

	if (slash == NULL || (size_t)(slash - text) >= sizeof(addr))
		return -1;
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	bits = atoi(slash + 1);
	if (inet_pton(AF_INET, addr, &in) != 1 || bits < 1 || bits > 30)
		return -1;
	opt.mask = ~((1u << (32 - bits)) - 1);
	opt.net = ntohl(in.s_addr) & opt.mask;
	opt.have_net = 1;
	return 0;
}

static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: smtp_load -p PORT [-H ADDR] -s SESSIONS -m MESSAGES [-z SIZE] [-f FROM] "
	        "[-t TO] [-b NET/LEN]\n"
	        "       smtp_load -p PORT [-H ADDR] -i IDLE -b NET/LEN [-w SECONDS]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "H:p:s:m:z:f:t:i:b:w:")) != -1) {
		switch (ch) {
		case 'H':
			opt.host = optarg;
			break;
		case 'p':
			opt.port = atoi(optarg);
			break;
		case 's':
			opt.sessions = atoi(optarg);
			break;
		case 'm':
			opt.messages = atol(optarg);
			break;
		case 'z':
			opt.size = (size_t)atol(optarg);
			break;
		case 'f':
			opt.from = optarg;
			break;
		case 't':
			opt.to = optarg;
			break;
		case 'i':
			opt.idle = atoi(optarg);
			break;
		case 'b':
			if (parse_net(optarg) < 0)
				usage();
			break;
		case 'w':
			opt.hold = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (opt.port <= 0 || opt.port > 65535 || opt.sessions < 1 ||
	        opt.sessions > LOAD_SESSIONS_MAX || opt.idle < 0 || opt.idle > LOAD_IDLE_MAX ||
	        opt.size > 100 * 1024 * 1024 || (opt.idle == 0 && opt.messages <= 0))
		usage();
	raise_fd_limit();
	make_message();
	return opt.idle > 0 ? idle_mode() : load_mode();
}
