/*
 * test_stream.c - the buffered stream in plain text: lines as received,
 * over-long lines, deadlines, the data rate, event mode with pipelining,
 * corking, drain and error callbacks, freeing inside callbacks, discard.
 * Over real socketpairs and loopback TCP; writers that trickle run in
 * child processes.  TLS is in test_stream_tls.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"
#include "stream_private.h"

static void
pair(int fds[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
}

/* A connected loopback TCP pair: fds[0] accepted, fds[1] the client. */
static void
tcp_pair(int fds[2])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int lfd;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert(lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	fds[1] = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(fds[1], (struct sockaddr *)&sin, sizeof(sin)), 0);
	fds[0] = accept(lfd, NULL, NULL);
	cr_assert(fds[0] >= 0);
	close(lfd);
}

static void
write_all(int fd, const void *p, size_t n)
{
	const char *cp = p;
	ssize_t r;

	while (n > 0) {
		r = write(fd, cp, n);
		if (r < 0 && errno == EINTR)
			continue;
		cr_assert(r > 0, "write: %s", strerror(errno));
		cp += r;
		n -= (size_t)r;
	}
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Fork a child that writes text one byte every gap_ms, then closes. */
static pid_t
trickle(int fd, const char *text, int gap_ms)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		for (; *text; text++) {
			if (write(fd, text, 1) != 1)
				_exit(1);
			sleep_ms(gap_ms);
		}
		sleep_ms(200);
		_exit(0);
	}
	return pid;
}

static void
reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
expect_line(struct stream *s, const char *want)
{
	const char *line;
	size_t len;

	cr_assert_eq(
	        stream_read_line(s, 0, &line, &len), STREAM_LINE_OK, "%s", stream_error_text(s));
	cr_assert_eq(len, strlen(want), "line length %zu, want %zu", len, strlen(want));
	cr_assert(memcmp(line, want, len) == 0);
}

Test(stream, terminators_preserved)
{
	const char *in = "crlf\r\nbare lf\nbare cr\rinside\r\n\r\nlast\n";
	int fds[2];
	struct stream *s;

	pair(fds);
	s = stream_new(fds[0], 0);
	write_all(fds[1], in, strlen(in));
	expect_line(s, "crlf\r\n");
	expect_line(s, "bare lf\n");
	expect_line(s, "bare cr\rinside\r\n");
	expect_line(s, "\r\n");
	expect_line(s, "last\n");
	cr_assert_eq(stream_bytes_in(s), strlen(in));
	close(fds[1]);
	stream_set_read_deadline(s, 2000);
	cr_assert_eq(stream_fill(s), -1);
	cr_assert_eq(stream_error(s), STREAM_ERR_EOF);
	stream_free(s);
}

Test(stream, nonblocking_get_line_needs_terminator)
{
	int fds[2];
	struct stream *s;
	const char *line;
	size_t len;

	pair(fds);
	s = stream_new(fds[0], 0);
	write_all(fds[1], "no end\r", 7);
	cr_assert_eq(stream_fill(s), 7);
	cr_assert_eq(stream_get_line(s, 0, &line, &len), STREAM_LINE_NONE,
	        "a bare CR does not end a line");
	write_all(fds[1], "\n", 1);
	cr_assert_eq(stream_fill(s), 1);
	cr_assert_eq(stream_get_line(s, 0, &line, &len), STREAM_LINE_OK);
	cr_assert_eq(len, 8);
	cr_assert(memcmp(line, "no end\r\n", 8) == 0);
	stream_free(s);
	close(fds[1]);
}

Test(stream, line_split_across_many_reads)
{
	int fds[2];
	struct stream *s;
	pid_t pid;

	tcp_pair(fds);
	s = stream_new(fds[0], 0);
	pid = trickle(fds[1], "MAIL FROM:<a@example.org>\r\nNEXT\n", 5);
	stream_set_read_deadline(s, 10000);
	expect_line(s, "MAIL FROM:<a@example.org>\r\n");
	expect_line(s, "NEXT\n");
	reap(pid);
	stream_free(s);
	close(fds[1]);
}

Test(stream, overlong_line_discarded_through_lf)
{
	int fds[2];
	struct stream *s;
	const char *line;
	size_t len;
	char *big;
	size_t n = 200000;
	pid_t pid;

	tcp_pair(fds);
	/* An input buffer far smaller than the line: it must never grow past it. */
	s = stream_new(fds[0], 4096);
	big = malloc(n + 32);
	memset(big, 'x', n);
	memcpy(big + n, "\r\nNOOP\r\n", 9);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		for (size_t off = 0; off < n + 8; off += 1000) {
			size_t k = n + 8 - off < 1000 ? n + 8 - off : 1000;
			if (write(fds[1], big + off, k) != (ssize_t)k)
				_exit(1);
		}
		_exit(0);
	}
	stream_set_read_deadline(s, 10000);
	cr_assert_eq(stream_read_line(s, 512, &line, &len), STREAM_LINE_TOO_LONG);
	cr_assert(s->in_cap <= 4096, "input buffer grew to %zu", s->in_cap);
	cr_assert_eq(stream_read_line(s, 512, &line, &len), STREAM_LINE_OK);
	cr_assert_eq(len, 6);
	cr_assert(memcmp(line, "NOOP\r\n", 6) == 0);
	waitpid(pid, NULL, 0);
	free(big);
	stream_free(s);
	close(fds[1]);
}

Test(stream, overlong_line_exact_limit)
{
	int fds[2];
	struct stream *s;
	const char *line;
	size_t len;
	char buf[64];

	pair(fds);
	s = stream_new(fds[0], 0);
	/* 10 bytes with CRLF is exactly the limit; 11 is one too many. */
	memcpy(buf, "12345678\r\n123456789\r\nok\r\n", 25);
	write_all(fds[1], buf, 25);
	cr_assert_eq(stream_read_line(s, 10, &line, &len), STREAM_LINE_OK);
	cr_assert_eq(len, 10);
	cr_assert_eq(stream_read_line(s, 10, &line, &len), STREAM_LINE_TOO_LONG);
	cr_assert_eq(stream_read_line(s, 10, &line, &len), STREAM_LINE_OK);
	cr_assert_eq(len, 4);
	stream_free(s);
	close(fds[1]);
}

Test(stream, read_deadline_not_extended_by_trickle)
{
	int fds[2];
	struct stream *s;
	const char *line;
	size_t len;
	long long t0, dt;
	pid_t pid;

	tcp_pair(fds);
	s = stream_new(fds[0], 0);
	/* A byte every 50 ms never completes a line within 400 ms. */
	pid = trickle(fds[1], "EHLO slowly.example.org and on and on and on\r\n", 50);
	stream_set_idle_timeout(s, 300); /* bytes keep coming: idle never passes */
	stream_set_read_deadline(s, 400);
	t0 = now_ms();
	cr_assert_eq(stream_read_line(s, 0, &line, &len), -1);
	dt = now_ms() - t0;
	cr_assert_eq(stream_error(s), STREAM_ERR_TIMEOUT);
	cr_assert_str_eq(stream_error_text(s), "read deadline passed");
	cr_assert(dt >= 390 && dt < 1500, "deadline after %lld ms", dt);
	cr_assert(stream_bytes_in(s) >= 3, "bytes did arrive meanwhile");
	reap(pid);
	stream_free(s);
	close(fds[1]);
}

Test(stream, idle_timeout)
{
	int fds[2];
	struct stream *s;
	const char *line;
	size_t len;
	long long t0, dt;

	pair(fds);
	s = stream_new(fds[0], 0);
	stream_set_idle_timeout(s, 150);
	t0 = now_ms();
	cr_assert_eq(stream_read_line(s, 0, &line, &len), -1);
	dt = now_ms() - t0;
	cr_assert_eq(stream_error(s), STREAM_ERR_TIMEOUT);
	cr_assert_str_eq(stream_error_text(s), "idle timeout");
	cr_assert(dt >= 140 && dt < 1000, "idle timeout after %lld ms", dt);
	stream_free(s);
	close(fds[1]);
}

Test(stream, min_rate_fails_a_slow_sender)
{
	int fds[2];
	struct stream *s;
	char buf[4096];
	pid_t pid;

	tcp_pair(fds);
	s = stream_new(fds[0], 0);
	/* About 50 bytes/s against a minimum of 1000 bytes/s. */
	pid = trickle(fds[1],
	        "0123456789012345678901234567890123456789012345678901234567890123456789", 20);
	stream_set_min_rate(s, 1000, 200);
	stream_set_read_deadline(s, 5000);
	cr_assert_eq(stream_read_exact(s, buf, 70), -1);
	cr_assert_eq(stream_error(s), STREAM_ERR_SLOW);
	cr_assert(stream_rate_bytes(s) < 70);
	cr_assert(stream_rate_elapsed_ms(s) >= 200);
	reap(pid);
	stream_free(s);
	close(fds[1]);
}

Test(stream, min_rate_passes_a_fast_sender)
{
	int fds[2];
	struct stream *s;
	static char buf[300000];
	pid_t pid;

	tcp_pair(fds);
	s = stream_new(fds[0], 0);
	memset(buf, 'd', sizeof(buf));
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 30; i++) {
			if (write(fds[1], buf, 10000) != 10000)
				_exit(1);
			sleep_ms(10);
		}
		_exit(0);
	}
	stream_set_min_rate(s, 1000, 200);
	stream_set_read_deadline(s, 10000);
	cr_assert_eq(stream_read_exact(s, buf, sizeof(buf)), 0, "%s", stream_error_text(s));
	cr_assert_eq(stream_rate_bytes(s), sizeof(buf));
	waitpid(pid, NULL, 0);
	stream_free(s);
	close(fds[1]);
}

Test(stream, read_exact_chunk_and_peek)
{
	int fds[2];
	struct stream *s;
	static char out[100000], in[100000];
	const char *p;
	size_t len;
	pid_t pid;

	pair(fds);
	s = stream_new(fds[0], 8192);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		write_all(fds[1], out, sizeof(out));
		write_all(fds[1], "QUIT\r\n", 6);
		_exit(0);
	}
	stream_set_read_deadline(s, 10000);
	cr_assert_eq(stream_read_exact(s, in, sizeof(in)), 0);
	cr_assert(memcmp(in, out, sizeof(in)) == 0);
	while ((p = stream_peek(s, &len)), len < 6)
		cr_assert(stream_fill(s) > 0);
	cr_assert(memcmp(p, "QUIT\r\n", 6) == 0);
	stream_consume(s, 4);
	cr_assert_eq(stream_read_bytes(s, in, 10), 2);
	cr_assert(memcmp(in, "\r\n", 2) == 0);
	waitpid(pid, NULL, 0);
	stream_free(s);
	close(fds[1]);
}

Test(stream, discard_input)
{
	int fds[2];
	struct stream *s;
	const char *line;
	size_t len;

	pair(fds);
	s = stream_new(fds[0], 0);
	write_all(fds[1], "STARTTLS\r\nMAIL FROM:<evil>\r\nRCPT TO:<x>\r\n", 41);
	expect_line(s, "STARTTLS\r\n");
	stream_discard_input(s);
	cr_assert_eq(stream_get_line(s, 0, &line, &len), STREAM_LINE_NONE);
	write_all(fds[1], "EHLO again\r\n", 12);
	expect_line(s, "EHLO again\r\n");
	stream_free(s);
	close(fds[1]);
}

Test(stream, blocking_write_flush_and_write_deadline)
{
	int fds[2];
	struct stream *s;
	static char big[256 * 1024];
	char buf[64];

	pair(fds);
	s = stream_new(fds[0], 0);
	cr_assert_eq(stream_printf(s, "250 %s\r\n", "ok"), 0);
	cr_assert_eq(stream_output_pending(s), 8);
	cr_assert_eq(stream_flush(s), 0);
	cr_assert_eq(stream_output_pending(s), 0);
	cr_assert_eq(read(fds[1], buf, sizeof(buf)), 8);
	cr_assert(memcmp(buf, "250 ok\r\n", 8) == 0);
	cr_assert_eq(stream_bytes_out(s), 8);

	/* Nobody reads: the flush must give up at the write deadline. */
	memset(big, 'z', sizeof(big));
	stream_set_write_deadline(s, 200);
	for (int i = 0; i < 40; i++)
		cr_assert_eq(stream_write(s, big, sizeof(big)) == 0 || stream_error(s), 1);
	cr_assert_eq(stream_flush(s), -1);
	cr_assert_eq(stream_error(s), STREAM_ERR_TIMEOUT);
	cr_assert_str_eq(stream_error_text(s), "write deadline passed");
	cr_assert_eq(stream_write(s, "x", 1), -1, "errors are sticky");
	stream_free(s);
	close(fds[1]);
}

/*
 * Event mode.
 */

struct ev_test {
	struct event_base *base;
	struct stream *s;
	int peer;
	int reads;
	int drained;
	int errors;
	enum stream_error why;
	int reads_after_error;
	int free_in; /* 1: free in on_read, 2: in on_drained, 3: in on_error */
	uint64_t out_at_drain;
	char lines[1024];
};

static void
ev_on_read(struct stream *s, void *arg)
{
	struct ev_test *t = arg;
	const char *line;
	size_t len;
	int r;

	t->reads++;
	if (t->errors)
		t->reads_after_error++;
	while ((r = stream_get_line(s, 64, &line, &len)) != STREAM_LINE_NONE) {
		if (r == STREAM_LINE_TOO_LONG) {
			strcat(t->lines, "[too long]");
			stream_printf(s, "500 5.5.2 too long\r\n");
			continue;
		}
		strncat(t->lines, line, len);
		stream_printf(s, "250 %.*s\r\n", (int)(len - 2), line);
	}
	if (t->free_in == 1) {
		stream_free(s);
		t->s = NULL;
		event_base_loopbreak(t->base);
	}
}

static void
ev_on_drained(struct stream *s, void *arg)
{
	struct ev_test *t = arg;

	t->drained++;
	t->out_at_drain = stream_bytes_out(s);
	if (t->free_in == 2) {
		stream_free(s);
		t->s = NULL;
		event_base_loopbreak(t->base);
	}
}

static void
ev_on_error(struct stream *s, enum stream_error why, void *arg)
{
	struct ev_test *t = arg;

	t->errors++;
	t->why = why;
	if (t->free_in == 3) {
		stream_free(s);
		t->s = NULL;
	}
	event_base_loopbreak(t->base);
}

static const struct stream_callbacks ev_callbacks = {
        ev_on_read,
        ev_on_drained,
        NULL,
        ev_on_error,
};

static void
ev_setup(struct ev_test *t)
{
	int fds[2];

	memset(t, 0, sizeof(*t));
	pair(fds);
	t->base = event_base_new();
	cr_assert_not_null(t->base);
	t->s = stream_new(fds[0], 0);
	t->peer = fds[1];
	cr_assert_eq(stream_attach(t->s, t->base, &ev_callbacks, t), 0);
}

static void
ev_teardown(struct ev_test *t)
{
	stream_free(t->s);
	close(t->peer);
	event_base_free(t->base);
}

static void
loop_for(struct ev_test *t, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(t->base, &tv);
	event_base_dispatch(t->base);
}

/* Read what the peer received within ms. */
static size_t
peer_read(struct ev_test *t, char *buf, size_t size, int ms)
{
	struct pollfd pfd = {t->peer, POLLIN, 0};
	ssize_t r;

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	r = read(t->peer, buf, size - 1);
	cr_assert(r >= 0);
	buf[r] = '\0';
	return (size_t)r;
}

Test(stream_event, pipelined_lines_replies_leave_together)
{
	struct ev_test t;
	char buf[256];
	const char *cmds = "MAIL FROM:<a>\r\nRCPT TO:<b>\r\nDATA\r\n";
	const char *want = "250 MAIL FROM:<a>\r\n250 RCPT TO:<b>\r\n250 DATA\r\n";

	ev_setup(&t);
	write_all(t.peer, cmds, strlen(cmds));
	loop_for(&t, 200);
	cr_assert_eq(t.reads, 1);
	cr_assert_str_eq(t.lines, cmds);
	cr_assert_eq(t.drained, 1, "three replies, one write");
	cr_assert_eq(t.out_at_drain, strlen(want));
	cr_assert_eq(peer_read(&t, buf, sizeof(buf), 1000), strlen(want));
	cr_assert_str_eq(buf, want);
	cr_assert_eq(t.errors, 0);
	ev_teardown(&t);
}

Test(stream_event, cork_holds_output)
{
	struct ev_test t;
	char buf[256];

	ev_setup(&t);
	stream_cork(t.s);
	write_all(t.peer, "NOOP\r\n", 6);
	loop_for(&t, 150);
	cr_assert_eq(t.reads, 1);
	cr_assert_eq(stream_output_pending(t.s), 10);
	cr_assert_eq(peer_read(&t, buf, sizeof(buf), 50), 0, "nothing leaves while corked");
	stream_uncork(t.s);
	loop_for(&t, 100);
	cr_assert_eq(peer_read(&t, buf, sizeof(buf), 1000), 10);
	cr_assert_str_eq(buf, "250 NOOP\r\n");
	cr_assert_eq(t.drained, 1);
	ev_teardown(&t);
}

Test(stream_event, overlong_line_in_event_mode)
{
	struct ev_test t;
	static char big[10000];
	char buf[256];

	ev_setup(&t);
	memset(big, 'y', sizeof(big));
	write_all(t.peer, big, sizeof(big));
	loop_for(&t, 100);
	write_all(t.peer, "\r\nQUIT\r\n", 8);
	loop_for(&t, 100);
	cr_assert_str_eq(t.lines, "[too long]QUIT\r\n");
	peer_read(&t, buf, sizeof(buf), 1000);
	cr_assert_str_eq(buf, "500 5.5.2 too long\r\n250 QUIT\r\n");
	ev_teardown(&t);
}

Test(stream_event, eof_after_data_then_no_more_reads)
{
	struct ev_test t;

	ev_setup(&t);
	write_all(t.peer, "QUIT\r\n", 6);
	shutdown(t.peer, SHUT_WR);
	loop_for(&t, 1000);
	cr_assert_eq(t.errors, 1);
	cr_assert_eq(t.why, STREAM_ERR_EOF);
	cr_assert_str_eq(t.lines, "QUIT\r\n");
	loop_for(&t, 100);
	cr_assert_eq(t.errors, 1, "on_error only once");
	cr_assert_eq(t.reads_after_error, 0);
	cr_assert_eq(stream_write(t.s, "x", 1), -1);
	ev_teardown(&t);
}

Test(stream_event, read_deadline_fires)
{
	struct ev_test t;
	long long t0, dt;

	ev_setup(&t);
	stream_set_read_deadline(t.s, 200);
	t0 = now_ms();
	loop_for(&t, 3000);
	dt = now_ms() - t0;
	cr_assert_eq(t.errors, 1);
	cr_assert_eq(t.why, STREAM_ERR_TIMEOUT);
	cr_assert(dt >= 190 && dt < 2000, "fired after %lld ms", dt);
	ev_teardown(&t);
}

Test(stream_event, deadline_moved_later_does_not_fire_early)
{
	struct ev_test t;
	long long t0, dt;

	ev_setup(&t);
	t0 = now_ms();
	stream_set_read_deadline(t.s, 100);
	stream_set_read_deadline(t.s, 400);
	loop_for(&t, 3000);
	dt = now_ms() - t0;
	cr_assert_eq(t.why, STREAM_ERR_TIMEOUT);
	cr_assert(dt >= 390, "fired after %lld ms", dt);
	ev_teardown(&t);
}

Test(stream_event, free_inside_on_read)
{
	struct ev_test t;

	ev_setup(&t);
	t.free_in = 1;
	/* Data and EOF together: after the free, nothing may touch it. */
	write_all(t.peer, "RSET\r\n", 6);
	shutdown(t.peer, SHUT_WR);
	loop_for(&t, 1000);
	cr_assert_null(t.s);
	cr_assert_eq(t.reads, 1);
	cr_assert_eq(t.errors, 0);
	loop_for(&t, 100);
	ev_teardown(&t);
}

Test(stream_event, free_inside_on_drained)
{
	struct ev_test t;

	ev_setup(&t);
	t.free_in = 2;
	write_all(t.peer, "NOOP\r\n", 6);
	loop_for(&t, 1000);
	cr_assert_null(t.s);
	cr_assert_eq(t.drained, 1);
	loop_for(&t, 100);
	ev_teardown(&t);
}

Test(stream_event, free_inside_on_error)
{
	struct ev_test t;

	ev_setup(&t);
	t.free_in = 3;
	close(t.peer);
	t.peer = -1;
	loop_for(&t, 1000);
	cr_assert_null(t.s);
	cr_assert_eq(t.errors, 1);
	cr_assert_eq(t.why, STREAM_ERR_EOF);
	loop_for(&t, 100);
	ev_teardown(&t);
}

struct drain_test {
	struct event_base *base;
	struct stream *s;
	int peer;
	size_t received;
	size_t want;
	int drained;
	size_t pending_before_read;
	struct event *peer_ev;
};

static void
drain_on_drained(struct stream *s, void *arg)
{
	struct drain_test *d = arg;

	(void)s;
	d->drained++;
}

static void
drain_on_error(struct stream *s, enum stream_error why, void *arg)
{
	struct drain_test *d = arg;

	(void)s;
	cr_assert_fail("unexpected error %d", why);
	event_base_loopbreak(d->base);
}

static void
drain_peer_read(evutil_socket_t fd, short what, void *arg)
{
	struct drain_test *d = arg;
	char buf[65536];
	ssize_t r;

	(void)what;
	r = read(fd, buf, sizeof(buf));
	cr_assert(r > 0);
	d->received += (size_t)r;
	if (d->received == d->want)
		event_base_loopbreak(d->base);
}

static void
drain_start_reading(evutil_socket_t fd, short what, void *arg)
{
	struct drain_test *d = arg;

	(void)fd;
	(void)what;
	d->pending_before_read = stream_output_pending(d->s);
	event_add(d->peer_ev, NULL);
}

Test(stream_event, write_buffering_and_drain)
{
	static const struct stream_callbacks cb = {NULL, drain_on_drained, NULL, drain_on_error};
	struct drain_test d;
	static char big[600000];
	struct timeval later = {0, 200000};
	struct event *start;
	int fds[2];

	memset(&d, 0, sizeof(d));
	pair(fds);
	d.base = event_base_new();
	d.s = stream_new(fds[0], 0);
	d.peer = fds[1];
	cr_assert_eq(stream_attach(d.s, d.base, &cb, &d), 0);
	memset(big, 'b', sizeof(big));
	cr_assert_eq(stream_write(d.s, big, sizeof(big)), 0);
	cr_assert_eq(stream_write(d.s, big, sizeof(big)), -1, "over the output limit");
	cr_assert_eq(errno, ENOBUFS);
	cr_assert_eq(stream_error(d.s), STREAM_OK, "a full buffer is not a failure");
	d.want = sizeof(big);
	d.peer_ev = event_new(d.base, d.peer, EV_READ | EV_PERSIST, drain_peer_read, &d);
	start = evtimer_new(d.base, drain_start_reading, &d);
	evtimer_add(start, &later);
	event_base_dispatch(d.base);
	cr_assert(d.pending_before_read > 0, "the socket buffer filled up first");
	cr_assert_eq(d.received, sizeof(big));
	cr_assert_eq(d.drained, 1);
	cr_assert_eq(stream_output_pending(d.s), 0);
	cr_assert_eq(stream_bytes_out(d.s), sizeof(big));
	event_free(start);
	event_free(d.peer_ev);
	stream_free(d.s);
	close(d.peer);
	event_base_free(d.base);
}

Test(stream_event, reading_paused_and_resumed)
{
	struct ev_test t;

	ev_setup(&t);
	stream_set_reading(t.s, 0);
	write_all(t.peer, "HELP\r\n", 6);
	loop_for(&t, 100);
	cr_assert_eq(t.reads, 0);
	stream_set_reading(t.s, 1);
	loop_for(&t, 100);
	cr_assert_eq(t.reads, 1);
	cr_assert_str_eq(t.lines, "HELP\r\n");
	ev_teardown(&t);
}

Test(stream_event, blocking_call_in_event_mode_is_a_bug, .signal = SIGABRT)
{
	struct ev_test t;

	ev_setup(&t);
	stream_fill(t.s);
}
