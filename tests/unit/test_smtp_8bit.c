/*
 * test_smtp_8bit.c - the smtp client's MIME walker (smtp/smtp_8bit.c):
 * the scan of what a message holds, quoted-printable conversion of 8-bit
 * leaf parts for peers without 8BITMIME, and the header hook.  Each
 * sample is fed whole and one octet at a time; both must give the same
 * output.  The walker is a file of the smtp program, compiled in here.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../smtp/smtp_8bit.c"

#define S(lit) lit, sizeof(lit) - 1

/* Scan in, then convert (or copy); the output text. */
static void
run(const char *in, size_t len, enum smtp_mime_mode mode, smtp_header_hook hook, size_t step,
        struct smtp_mime_scan *scan, struct str *out)
{
	struct smtp_mime *m;
	struct str scratch = STR_INIT;

	memset(scan, 0, sizeof(*scan));
	m = smtp_mime_new(scan, SMTP_MIME_SCAN, hook);
	for (size_t i = 0; i < len; i += step)
		smtp_mime_feed(m, in + i, len - i < step ? len - i : step, &scratch);
	smtp_mime_end(m, &scratch);
	smtp_mime_free(m);
	str_free(&scratch);
	if (mode == SMTP_MIME_SCAN)
		return;
	m = smtp_mime_new(scan, mode, hook);
	for (size_t i = 0; i < len; i += step)
		smtp_mime_feed(m, in + i, len - i < step ? len - i : step, out);
	smtp_mime_end(m, out);
	smtp_mime_free(m);
}

/* Whole and octet by octet: the same output, returned in out. */
static void
convert(const char *in, size_t len, enum smtp_mime_mode mode, smtp_header_hook hook,
        struct smtp_mime_scan *scan, struct str *out)
{
	struct smtp_mime_scan scan1;
	struct str one = STR_INIT;

	run(in, len, mode, hook, 1, &scan1, &one);
	run(in, len, mode, hook, len ? len : 1, scan, out);
	cr_assert_eq(one.len, out->len, "octet-by-octet output differs in length");
	cr_assert(one.len == 0 || memcmp(one.data, out->data, one.len) == 0,
	        "octet-by-octet output differs:\n%s\n---\n%s", str_cstr(&one), str_cstr(out));
	cr_assert_eq(scan1.body_8bit, scan->body_8bit);
	cr_assert_eq(scan1.header_8bit, scan->header_8bit);
	cr_assert_eq(scan1.lines, scan->lines);
	cr_assert_eq(scan1.wire_size, scan->wire_size);
	smtp_mime_scan_free(&scan1);
	str_free(&one);
}

static int
all_7bit(const struct str *s)
{
	for (size_t i = 0; i < s->len; i++)
		if ((unsigned char)s->data[i] >= 0x80)
			return 0;
	return 1;
}

static int
hexval(int c)
{
	return c >= 'A' ? c - 'A' + 10 : c - '0';
}

/* Decode quoted-printable text (LF line ends). */
static void
qp_decode(const char *p, size_t len, struct str *out)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '=' && i + 1 < len && p[i + 1] == '\n') {
			i++;
		} else if (p[i] == '=' && i + 2 < len) {
			str_appendc(out, (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2])));
			i += 2;
		} else {
			str_appendc(out, p[i]);
		}
	}
}

static size_t
longest_line(const struct str *s)
{
	size_t max = 0, cur = 0;

	for (size_t i = 0; i < s->len; i++) {
		if (s->data[i] == '\n') {
			if (cur > max)
				max = cur;
			cur = 0;
		} else {
			cur++;
		}
	}
	return cur > max ? cur : max;
}

Test(smtp_qp, encodes_line)
{
	struct str out = STR_INIT;
	size_t col = 0;

	smtp_qp_encode_line(S("Caf\xc3\xa9 = 1 "), 1, &col, &out);
	cr_assert_str_eq(str_cstr(&out), "Caf=C3=A9 =3D 1=20\n");
	str_reset(&out);
	smtp_qp_encode_line(S("tab\t"), 1, &col, &out);
	cr_assert_str_eq(str_cstr(&out), "tab=09\n");
	str_reset(&out);
	smtp_qp_encode_line(S("a\rb"), 1, &col, &out);
	cr_assert_str_eq(str_cstr(&out), "a=0Db\n");
	str_free(&out);
}

Test(smtp_qp, soft_breaks)
{
	struct str out = STR_INIT, back = STR_INIT;
	char line[300];
	size_t col = 0;

	for (size_t i = 0; i < sizeof(line); i++)
		line[i] = (char)(i % 3 == 0 ? 0xe9 : 'x');
	smtp_qp_encode_line(line, sizeof(line), 1, &col, &out);
	cr_assert_leq(longest_line(&out), SMTP_QP_LINE_MAX);
	qp_decode(out.data, out.len, &back);
	cr_assert_eq(back.len, sizeof(line) + 1);
	cr_assert(memcmp(back.data, line, sizeof(line)) == 0);
	str_free(&out);
	str_free(&back);
}

Test(smtp_mime, scan_plain_ascii)
{
	static const char msg[] = "Subject: x\n\nhello\nworld";
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;

	convert(S(msg), SMTP_MIME_SCAN, NULL, &scan, &out);
	cr_assert_eq(scan.body_8bit, 0);
	cr_assert_eq(scan.header_8bit, 0);
	cr_assert_null(scan.convert);
	cr_assert_eq(scan.lines, 4);
	cr_assert_eq(scan.wire_size, sizeof(msg) - 1 + 4);
	smtp_mime_scan_free(&scan);
	str_free(&out);
}

Test(smtp_mime, scan_header_and_body)
{
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;

	convert(S("Subject: gr\xc3\xbc\xc3\x9f\n\nascii\n"), SMTP_MIME_SCAN, NULL, &scan, &out);
	cr_assert_eq(scan.header_8bit, 1);
	cr_assert_eq(scan.body_8bit, 0);
	smtp_mime_scan_free(&scan);
	convert(S("Subject: x\n\ncaf\xc3\xa9\n"), SMTP_MIME_SCAN, NULL, &scan, &out);
	cr_assert_eq(scan.header_8bit, 0);
	cr_assert_eq(scan.body_8bit, 1);
	cr_assert_not_null(scan.convert);
	smtp_mime_scan_free(&scan);
	str_free(&out);
}

Test(smtp_mime, converts_non_mime_message)
{
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;

	convert(S("Subject: x\n\ncaf\xc3\xa9\n"), SMTP_MIME_CONVERT, NULL, &scan, &out);
	cr_assert_str_eq(str_cstr(&out),
	        "Subject: x\nMIME-Version: 1.0\nContent-Type: text/plain; charset=unknown-8bit\n"
	        "Content-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9\n");
	smtp_mime_scan_free(&scan);
	str_free(&out);
}

Test(smtp_mime, replaces_8bit_label)
{
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;

	convert(S("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	          "Content-Transfer-Encoding: 8bit\n\n\xc3\xa9t\xc3\xa9\n"),
	        SMTP_MIME_CONVERT, NULL, &scan, &out);
	cr_assert_str_eq(str_cstr(&out),
	        "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	        "Content-Transfer-Encoding: quoted-printable\n\n=C3=A9t=C3=A9\n");
	smtp_mime_scan_free(&scan);
	str_free(&out);
}

Test(smtp_mime, ascii_message_unchanged)
{
	static const char msg[] =
	        "MIME-Version: 1.0\nContent-Transfer-Encoding: 8bit\n\nplain = text\n";
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;

	convert(S(msg), SMTP_MIME_CONVERT, NULL, &scan, &out);
	cr_assert_str_eq(str_cstr(&out), msg);
	smtp_mime_scan_free(&scan);
	str_free(&out);
}

static const char multipart[] = "MIME-Version: 1.0\n"
                                "Content-Type: multipart/mixed;\n boundary=\"outer\"\n"
                                "\n"
                                "preamble \xc3\xa9\n"
                                "--outer\n"
                                "Content-Type: multipart/alternative; boundary=inner\n"
                                "\n"
                                "--inner\n"
                                "Content-Type: text/plain; charset=utf-8\n"
                                "\n"
                                "na\xc3\xafve\n"
                                "--inner\n"
                                "Content-Type: text/html\n"
                                "\n"
                                "<p>ascii</p>\n"
                                "--inner--\n"
                                "--outer\n"
                                "Content-Type: application/octet-stream\n"
                                "Content-Transfer-Encoding: base64\n"
                                "\n"
                                "AAEC\n"
                                "--outer  \n"
                                "Content-Type: message/rfc822\n"
                                "Content-Transfer-Encoding: 8bit\n"
                                "\n"
                                "Subject: inner\n"
                                "\n"
                                "inside \xc3\xa9\n"
                                "--outer--\n"
                                "epilogue\n";

Test(smtp_mime, multipart_converts_only_8bit_leaves)
{
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;
	const char *o;

	convert(S(multipart), SMTP_MIME_CONVERT, NULL, &scan, &out);
	o = str_cstr(&out);
	cr_assert(strstr(o,
	                  "Content-Type: text/plain; charset=utf-8\n"
	                  "Content-Transfer-Encoding: quoted-printable\n\nna=C3=AFve\n--inner\n"),
	        "%s", o);
	cr_assert(strstr(o, "Content-Type: text/html\n\n<p>ascii</p>\n"), "%s", o);
	cr_assert(strstr(o, "Content-Transfer-Encoding: base64\n\nAAEC\n--outer  \n"), "%s", o);
	/* message/rfc822: relabelled 7bit, its own body converted */
	cr_assert(strstr(o,
	                  "Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n\n"
	                  "Subject: inner\nMIME-Version: 1.0\n"),
	        "%s", o);
	cr_assert(strstr(o, "inside =C3=A9\n--outer--\nepilogue\n"), "%s", o);
	/* the preamble is not a part: left alone */
	cr_assert(strstr(o, "preamble \xc3\xa9\n"), "%s", o);
	smtp_mime_scan_free(&scan);
	str_free(&out);
}

Test(smtp_mime, digest_parts_are_messages)
{
	static const char msg[] = "Content-Type: multipart/digest; boundary=d\n\n"
	                          "--d\n\nSubject: one\n\nbody \xc3\xa9\n--d--\n";
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;

	convert(S(msg), SMTP_MIME_CONVERT, NULL, &scan, &out);
	cr_assert(
	        strstr(str_cstr(&out), "Subject: one\nMIME-Version: 1.0\n"), "%s", str_cstr(&out));
	cr_assert(strstr(str_cstr(&out), "body =C3=A9\n--d--\n"), "%s", str_cstr(&out));
	smtp_mime_scan_free(&scan);
	str_free(&out);
}

Test(smtp_mime, long_lines_in_pieces)
{
	struct str msg = STR_INIT, out = STR_INIT, back = STR_INIT;
	struct smtp_mime_scan scan;
	const char *body;
	size_t n = SMTP_MIME_LINE_MAX * 3 + 17;

	str_appendz(&msg, "Subject: long\n\n");
	for (size_t i = 0; i < n; i++)
		str_appendc(&msg, (char)(i % 7 == 0 ? 0xc3 : 'a' + (char)(i % 26)));
	str_appendz(&msg, "\nend\n");
	convert(msg.data, msg.len, SMTP_MIME_CONVERT, NULL, &scan, &out);
	cr_assert(all_7bit(&out));
	cr_assert_leq(longest_line(&out), SMTP_QP_LINE_MAX);
	body = strstr(str_cstr(&out), "\n\n");
	cr_assert_not_null(body);
	body += 2;
	qp_decode(body, out.len - (size_t)(body - out.data), &back);
	cr_assert_eq(back.len, n + 5);
	cr_assert(memcmp(back.data, msg.data + 15, n + 5) == 0);
	smtp_mime_scan_free(&scan);
	str_free(&msg);
	str_free(&out);
	str_free(&back);
}

Test(smtp_mime, oversized_header_is_opaque)
{
	struct str msg = STR_INIT, out = STR_INIT;
	struct smtp_mime_scan scan;

	str_appendz(&msg, "Content-Type: text/plain\n");
	while (msg.len < SMTP_MIME_HEADER_MAX + 100)
		str_appendz(&msg, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	str_appendz(&msg, "\ncaf\xc3\xa9\n");
	convert(msg.data, msg.len, SMTP_MIME_CONVERT, NULL, &scan, &out);
	cr_assert_eq(out.len, msg.len);
	cr_assert(memcmp(out.data, msg.data, msg.len) == 0);
	smtp_mime_scan_free(&scan);
	str_free(&msg);
	str_free(&out);
}

Test(smtp_mime, deep_nesting_is_bounded)
{
	struct str msg = STR_INIT, out = STR_INIT;
	struct smtp_mime_scan scan;

	for (int i = 0; i < SMTP_MIME_DEPTH_MAX + 10; i++)
		str_printf(&msg, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	str_appendz(&msg, "\n\xc3\xa9\n");
	convert(msg.data, msg.len, SMTP_MIME_CONVERT, NULL, &scan, &out);
	cr_assert_gt(out.len, 0);
	smtp_mime_scan_free(&scan);
	str_free(&msg);
	str_free(&out);
}

static int hook_calls;

static int
upper_subject(const char *field, size_t len, struct str *out)
{
	hook_calls++;
	if (len >= 8 && strncmp(field, "Subject:", 8) == 0) {
		str_set(out, field, len);
		for (size_t i = 8; i < out->len; i++)
			if (out->data[i] >= 'a' && out->data[i] <= 'z')
				out->data[i] = (char)(out->data[i] - 32);
		return 1;
	}
	return 0;
}

Test(smtp_mime, hook_on_top_level_fields_only)
{
	static const char msg[] = "Subject: hello\nTo: x@y\n"
	                          "Content-Type: multipart/mixed; boundary=b\n\n"
	                          "--b\nSubject: part\n\ntext\n--b--\n";
	struct smtp_mime_scan scan;
	struct str out = STR_INIT;

	hook_calls = 0;
	run(msg, sizeof(msg) - 1, SMTP_MIME_COPY, upper_subject, 4096, &scan, &out);
	cr_assert(strstr(str_cstr(&out), "Subject: HELLO\nTo: x@y\n"), "%s", str_cstr(&out));
	cr_assert(strstr(str_cstr(&out), "--b\nSubject: part\n"), "%s", str_cstr(&out));
	cr_assert_eq(hook_calls, 6); /* three fields, scan and copy */
	smtp_mime_scan_free(&scan);
	str_free(&out);
}
