/*
 * attr.c - the framed attribute protocol; see attr.h and docs/ipc.md.
 *
 * Trusts nothing it decodes.  Called by every process that talks to
 * another over a UNIX socket.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "attr.h"
#include "mem.h"
#include "msg.h"
#include "parse.h"

void
attr_list_init(struct attr_list *l)
{
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
	str_init(&l->buf);
}

void
attr_list_reset(struct attr_list *l)
{
	l->n = 0;
	str_reset(&l->buf);
}

void
attr_list_free(struct attr_list *l)
{
	free(l->v);
	str_free(&l->buf);
	attr_list_init(l);
}

static int
name_valid(const char *name, size_t len)
{
	if (len == 0 || len > ATTR_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

static void
attr_push(struct attr_list *l, const char *name, size_t name_len, const void *value, size_t len)
{
	struct attr *a;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	a = &l->v[l->n++];
	a->name = l->buf.len;
	a->name_len = name_len;
	str_append(&l->buf, name, name_len);
	str_appendc(&l->buf, '\0');
	a->value = l->buf.len;
	a->value_len = len;
	str_append(&l->buf, value, len);
	str_appendc(&l->buf, '\0');
}

void
attr_put(struct attr_list *l, const char *name, const void *value, size_t len)
{
	size_t name_len = strlen(name);

	if (!name_valid(name, name_len))
		msg_panic("attr_put: bad attribute name \"%s\"", name);
	if (l->n >= ATTR_COUNT_MAX)
		msg_panic("attr_put: too many attributes");
	attr_push(l, name, name_len, value, len);
}

void
attr_put_str(struct attr_list *l, const char *name, const char *value)
{
	attr_put(l, name, value, strlen(value));
}

void
attr_put_int(struct attr_list *l, const char *name, long long value)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%lld", value);

	attr_put(l, name, buf, (size_t)n);
}

static void
put_u32(struct str *out, uint32_t v)
{
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};

	str_append(out, b, 4);
}

static uint32_t
get_u32(const char *p)
{
	const unsigned char *b = (const unsigned char *)p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

void
attr_encode(const struct attr_list *l, struct str *out)
{
	size_t start = out->len, body;

	put_u32(out, 0);
	for (size_t i = 0; i < l->n; i++) {
		const struct attr *a = &l->v[i];

		str_appendc(out, (int)a->name_len);
		str_append(out, l->buf.data + a->name, a->name_len);
		put_u32(out, (uint32_t)a->value_len);
		str_append(out, l->buf.data + a->value, a->value_len);
	}
	body = out->len - start - ATTR_HEADER_SIZE;
	if (body > UINT32_MAX)
		msg_panic("attr_encode: frame too large");
	out->data[start] = (char)(body >> 24);
	out->data[start + 1] = (char)(body >> 16);
	out->data[start + 2] = (char)(body >> 8);
	out->data[start + 3] = (char)body;
}

int
attr_decode(const char *buf, size_t len, size_t max_frame, struct attr_list *l, size_t *used,
        const char **why)
{
	size_t body, pos, end;

	if (len < ATTR_HEADER_SIZE)
		return 0;
	body = get_u32(buf);
	if (body > max_frame) {
		*why = "attribute frame too large";
		return -1;
	}
	if (len - ATTR_HEADER_SIZE < body)
		return 0;
	attr_list_reset(l);
	pos = ATTR_HEADER_SIZE;
	end = ATTR_HEADER_SIZE + body;
	while (pos < end) {
		size_t name_len, value_len;
		const char *name;

		name_len = (unsigned char)buf[pos++];
		if (name_len > end - pos) {
			*why = "attribute name runs past the frame";
			return -1;
		}
		name = buf + pos;
		if (!name_valid(name, name_len)) {
			*why = "bad attribute name";
			return -1;
		}
		pos += name_len;
		if (end - pos < 4) {
			*why = "attribute length runs past the frame";
			return -1;
		}
		value_len = get_u32(buf + pos);
		pos += 4;
		if (value_len > end - pos) {
			*why = "attribute value runs past the frame";
			return -1;
		}
		if (l->n >= ATTR_COUNT_MAX) {
			*why = "too many attributes in frame";
			return -1;
		}
		attr_push(l, name, name_len, buf + pos, value_len);
		pos += value_len;
	}
	*used = end;
	return 1;
}

const struct attr *
attr_find(const struct attr_list *l, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].name_len == len && memcmp(l->buf.data + l->v[i].name, name, len) == 0)
			return &l->v[i];
	return NULL;
}

const char *
attr_name(const struct attr_list *l, const struct attr *a)
{
	return l->buf.data + a->name;
}

const char *
attr_value(const struct attr_list *l, const struct attr *a)
{
	return l->buf.data + a->value;
}

const char *
attr_get_str(const struct attr_list *l, const char *name)
{
	const struct attr *a = attr_find(l, name);
	const char *v;

	if (a == NULL)
		return NULL;
	v = l->buf.data + a->value;
	if (memchr(v, '\0', a->value_len) != NULL)
		return NULL;
	return v;
}

int
attr_get_int(
        const struct attr_list *l, const char *name, long long min, long long max, long long *value)
{
	const char *v = attr_get_str(l, name), *why;

	if (v == NULL)
		return -1;
	return parse_int(v, min, max, value, &why);
}

/* Wait until fd is ready for events, or the deadline passes. */
static int
wait_fd(int fd, short events, long long deadline, struct str *err)
{
	struct pollfd pfd = {.fd = fd, .events = events};

	for (;;) {
		long long left = deadline - clock_ms();
		int n;

		if (left <= 0) {
			str_appendz(err, "timeout");
			return -1;
		}
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			str_printf(err, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

int
attr_send(int fd, const struct attr_list *l, int timeout_ms, struct str *err)
{
	struct str out = STR_INIT;
	long long deadline = clock_ms() + timeout_ms;
	size_t done = 0;
	int rc = 0;

	attr_encode(l, &out);
	while (done < out.len) {
		ssize_t n = send(fd, out.data + done, out.len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, out.data + done, out.len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline, err) < 0) {
				rc = -1;
				break;
			}
			continue;
		}
		str_printf(err, "write: %s", n < 0 ? strerror(errno) : "no progress");
		rc = -1;
		break;
	}
	str_free(&out);
	return rc;
}

int
attr_recv(int fd, struct attr_list *l, size_t max_frame, int timeout_ms, struct str *err)
{
	long long deadline = clock_ms() + timeout_ms;
	char hdr[ATTR_HEADER_SIZE];
	struct str frame = STR_INIT;
	size_t want = ATTR_HEADER_SIZE, body = 0, used;
	const char *why = NULL;
	int rc;

	while (frame.len < want) {
		char buf[8192];
		size_t ask = want - frame.len;
		ssize_t n;

		/* Never read past this frame: the next one belongs to the caller. */
		if (wait_fd(fd, POLLIN, deadline, err) < 0) {
			str_free(&frame);
			return -1;
		}
		n = read(fd, buf, ask < sizeof(buf) ? ask : sizeof(buf));
		if (n > 0) {
			str_append(&frame, buf, (size_t)n);
			if (want == ATTR_HEADER_SIZE && frame.len == ATTR_HEADER_SIZE) {
				memcpy(hdr, frame.data, sizeof(hdr));
				body = get_u32(hdr);
				if (body > max_frame) {
					str_appendz(err, "attribute frame too large");
					str_free(&frame);
					return -1;
				}
				want += body;
			}
			continue;
		}
		if (n == 0) {
			rc = frame.len == 0 ? 1 : -1;
			if (rc < 0)
				str_appendz(err, "unexpected end of file inside a frame");
			str_free(&frame);
			return rc;
		}
		if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(fd, POLLIN, deadline, err) < 0) {
				str_free(&frame);
				return -1;
			}
			continue;
		}
		str_printf(err, "read: %s", strerror(errno));
		str_free(&frame);
		return -1;
	}
	rc = attr_decode(frame.data, frame.len, max_frame, l, &used, &why);
	str_free(&frame);
	if (rc == 1)
		return 0;
	str_appendz(err, why ? why : "incomplete frame");
	return -1;
}
