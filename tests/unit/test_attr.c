/*
 * test_attr.c - the framed attribute protocol: round trips, every
 * truncation point, corrupted lengths and names, socket I/O.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attr.h"

static void
sample(struct attr_list *l)
{
	attr_list_init(l);
	attr_put_str(l, "request", "commit");
	attr_put_int(l, "size", 12345);
	attr_put(l, "data", "a\0b", 3);
	attr_put_str(l, "empty", "");
}

Test(attr, round_trip)
{
	struct attr_list l, m;
	struct str wire = STR_INIT;
	size_t used;
	const char *why;
	long long v;

	sample(&l);
	attr_encode(&l, &wire);
	attr_list_init(&m);
	cr_assert_eq(attr_decode(wire.data, wire.len, ATTR_FRAME_MAX, &m, &used, &why), 1);
	cr_assert_eq(used, wire.len);
	cr_assert_eq(m.n, 4);
	cr_assert_str_eq(attr_get_str(&m, "request"), "commit");
	cr_assert_eq(attr_get_int(&m, "size", 0, 100000, &v), 0);
	cr_assert_eq(v, 12345);
	cr_assert_eq(attr_get_int(&m, "size", 0, 100, &v), -1);
	cr_assert_null(attr_get_str(&m, "data"), "a value with NUL is not a string");
	cr_assert_eq(attr_find(&m, "data")->value_len, 3);
	cr_assert_str_eq(attr_get_str(&m, "empty"), "");
	cr_assert_null(attr_find(&m, "missing"));
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&wire);
}

Test(attr, every_truncation_needs_more)
{
	struct attr_list l, m;
	struct str wire = STR_INIT;
	size_t used;
	const char *why;

	sample(&l);
	attr_encode(&l, &wire);
	attr_list_init(&m);
	for (size_t cut = 0; cut < wire.len; cut++)
		cr_assert_eq(attr_decode(wire.data, cut, ATTR_FRAME_MAX, &m, &used, &why), 0,
		        "cut at %zu", cut);
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&wire);
}

Test(attr, corrupted_lengths_and_names)
{
	struct attr_list l, m;
	struct str wire = STR_INIT;
	size_t used;
	const char *why;

	attr_list_init(&l);
	attr_list_init(&m);
	attr_put_str(&l, "name", "value");
	attr_encode(&l, &wire);
	/* frame: 4 len, 1 namelen, "name", 4 vlen, "value" */
	wire.data[4] = 60; /* name length past the frame */
	cr_assert_eq(attr_decode(wire.data, wire.len, ATTR_FRAME_MAX, &m, &used, &why), -1);
	wire.data[4] = 4;
	wire.data[5] = 'N'; /* upper case is not a valid name */
	cr_assert_eq(attr_decode(wire.data, wire.len, ATTR_FRAME_MAX, &m, &used, &why), -1);
	wire.data[5] = 'n';
	wire.data[12] = 9; /* value length past the frame */
	cr_assert_eq(attr_decode(wire.data, wire.len, ATTR_FRAME_MAX, &m, &used, &why), -1);
	wire.data[12] = 5;
	cr_assert_eq(attr_decode(wire.data, wire.len, ATTR_FRAME_MAX, &m, &used, &why), 1);
	cr_assert_eq(attr_decode(wire.data, wire.len, 3, &m, &used, &why), -1, "over the limit");
	wire.data[4] = 0; /* empty name */
	cr_assert_eq(attr_decode(wire.data, wire.len, ATTR_FRAME_MAX, &m, &used, &why), -1);
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&wire);
}

Test(attr, oversized_frame_header)
{
	struct attr_list m;
	size_t used;
	const char *why = NULL;
	const char hdr[4] = {(char)0x7f, (char)0xff, (char)0xff, (char)0xff};

	attr_list_init(&m);
	cr_assert_eq(attr_decode(hdr, 4, ATTR_FRAME_MAX, &m, &used, &why), -1);
	cr_assert_str_eq(why, "attribute frame too large");
	attr_list_free(&m);
}

Test(attr, socket_send_recv_and_eof)
{
	struct attr_list l, m;
	struct str err = STR_INIT;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sample(&l);
	attr_list_init(&m);
	cr_assert_eq(attr_send(sv[0], &l, 1000, &err), 0);
	cr_assert_eq(attr_send(sv[0], &l, 1000, &err), 0);
	cr_assert_eq(attr_recv(sv[1], &m, ATTR_FRAME_MAX, 1000, &err), 0);
	cr_assert_str_eq(attr_get_str(&m, "request"), "commit");
	cr_assert_eq(attr_recv(sv[1], &m, ATTR_FRAME_MAX, 1000, &err), 0, "second frame intact");
	cr_assert_eq(attr_recv(sv[1], &m, ATTR_FRAME_MAX, 100, &err), -1, "timeout");
	cr_assert_str_eq(str_cstr(&err), "timeout");
	close(sv[0]);
	cr_assert_eq(attr_recv(sv[1], &m, ATTR_FRAME_MAX, 1000, &err), 1, "clean EOF");
	close(sv[1]);
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&err);
}

Test(attr, truncated_frame_then_eof)
{
	struct attr_list l, m;
	struct str wire = STR_INIT, err = STR_INIT;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	sample(&l);
	attr_list_init(&m);
	attr_encode(&l, &wire);
	cr_assert_eq(write(sv[0], wire.data, wire.len - 3), (ssize_t)wire.len - 3);
	close(sv[0]);
	cr_assert_eq(attr_recv(sv[1], &m, ATTR_FRAME_MAX, 1000, &err), -1);
	close(sv[1]);
	attr_list_free(&l);
	attr_list_free(&m);
	str_free(&wire);
	str_free(&err);
}
