/*
 * smtp_8bit.c - a small MIME walker over a message's text, run twice per
 * delivery: once to scan (what the message holds, before anything is
 * sent) and, when the peer lacks 8BITMIME or header rewriting is on,
 * again to write the text that goes out.
 *
 * The text arrives in any pieces, with LF line ends (the queue file's
 * form); output keeps LF line ends (the stuffer of lib/smtp_data.c makes
 * them CRLF and dot-stuffs).  The walker knows:
 *
 *	- header fields (a field and its continuation lines) of the message
 *	  and of each MIME part; the header ends at an empty line or at the
 *	  first line that is neither a field nor a continuation;
 *	- Content-Type: multipart/<any> with its boundary parameter (parts
 *	  are found at "--boundary" lines, the end at "--boundary--",
 *	  trailing blanks allowed; multipart/digest parts default to
 *	  message/rfc822), and message/rfc822, whose body is a message;
 *	- Content-Transfer-Encoding: a leaf part (any other type) whose
 *	  encoding is absent, 7bit, 8bit or binary can be converted.
 *
 * Scan (SMTP_MIME_SCAN): counts lines and the size on the wire, notes 8-bit
 * octets in the top-level header (header_8bit: the SMTPUTF8 rule) and
 * after it (body_8bit), and marks each convertible leaf part that holds
 * an 8-bit octet in its body (scan->convert, one bit per part number).
 * The header hook runs on the top-level fields too, so that a failing
 * table is found before the session starts (smtp_mime_hook_failed).
 *
 * Copy (SMTP_MIME_COPY) runs the header hook only.  Convert
 * (SMTP_MIME_CONVERT): the marked parts get "Content-Transfer-Encoding:
 * quoted-printable" (replacing the field or added to the part's header)
 * and their body is encoded (RFC 2045 6.7: lines of at most 76 octets
 * with soft breaks, "=XX" for "=", controls, 8-bit octets and a blank at
 * the end of a line).  A multipart or message/rfc822 part that declared
 * 8bit or binary is relabelled 7bit.  A converted message (the top
 * level, or the body of a message/rfc822 part) without MIME-Version gets
 * "MIME-Version: 1.0" and, without
 * Content-Type, "Content-Type: text/plain; charset=unknown-8bit"
 * (RFC 1428).  Both passes number parts the same way, since they read
 * the same text.
 *
 * Limits, each named in smtp.h: nesting (multiparts plus message/rfc822
 * bodies) SMTP_MIME_DEPTH_MAX; SMTP_MIME_PARTS_MAX parts may be converted
 * (later ones are sent as they are); a part's header is analysed up to
 * SMTP_MIME_HEADER_MAX octets (a longer header is passed through and its
 * part treated as opaque); lines longer than SMTP_MIME_LINE_MAX are
 * handled in pieces (a piece is never a boundary or a field start);
 * boundaries of at most SMTP_MIME_BOUNDARY_MAX octets.  8-bit octets in
 * header fields are never converted (RFC 2047 encoding would need the
 * charset): such a message goes out as it is.  Parts with base64 or
 * quoted-printable encodings are already 7-bit and pass untouched.
 *
 * Trusts nothing in the text: every length is bounded, and a malformed
 * structure only makes parts opaque.  Called by smtp_session.c (sending)
 * and smtp_deliver.c (scan).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "mem.h"
#include "smtp.h"

enum mime_state {
	MIME_HEADER,    /* collecting a part's header */
	MIME_BODY_PASS, /* copied: preamble, epilogue, opaque or unconverted body */
	MIME_BODY_QP,   /* a leaf body being encoded */
};

struct mime_level {
	char boundary[SMTP_MIME_BOUNDARY_MAX + 1];
	size_t blen;
	int digest;
};

struct smtp_mime {
	struct smtp_mime_scan *scan;
	int scanning; /* SMTP_MIME_SCAN: fill scan */
	int convert;  /* SMTP_MIME_CONVERT: encode the parts scan marked */
	smtp_header_hook hook;
	int hook_failed;
	/* line assembly */
	struct str line;
	int midline; /* the next piece continues a line already processed */
	/* structure */
	struct mime_level stack[SMTP_MIME_DEPTH_MAX];
	size_t depth;
	size_t nested_messages;
	enum mime_state state;
	size_t part;          /* number of the current part; 0 is the message */
	int default_rfc822;   /* the current part's default type is message/rfc822 */
	int leaf_convertible; /* scan: the current body is a convertible leaf */
	int in_top_header;
	int message_header; /* the current header is a message's, not a part's */
	/* the current part's header */
	struct str hdr;
	int hdr_overflow;
	size_t qp_col;
};

static void
set_bit(struct smtp_mime_scan *scan, size_t part)
{
	if (part >= SMTP_MIME_PARTS_MAX) {
		scan->overflow = 1;
		return;
	}
	if (scan->convert == NULL)
		scan->convert = xcalloc(SMTP_MIME_PARTS_MAX / 8 + 1, 1);
	scan->convert[part / 8] |= (unsigned char)(1u << (part % 8));
}

static int
get_bit(const struct smtp_mime_scan *scan, size_t part)
{
	if (scan->convert == NULL || part >= SMTP_MIME_PARTS_MAX)
		return 0;
	return (scan->convert[part / 8] >> (part % 8)) & 1;
}

struct smtp_mime *
smtp_mime_new(struct smtp_mime_scan *scan, enum smtp_mime_mode mode, smtp_header_hook hook)
{
	struct smtp_mime *m = xcalloc(1, sizeof(*m));

	m->scan = scan;
	m->scanning = mode == SMTP_MIME_SCAN;
	m->convert = mode == SMTP_MIME_CONVERT;
	m->hook = hook;
	m->state = MIME_HEADER;
	m->in_top_header = 1;
	m->message_header = 1;
	if (m->scanning) {
		free(scan->convert);
		memset(scan, 0, sizeof(*scan));
	}
	return m;
}

void
smtp_mime_free(struct smtp_mime *m)
{
	if (m == NULL)
		return;
	str_free(&m->line);
	str_free(&m->hdr);
	free(m);
}

void
smtp_mime_scan_free(struct smtp_mime_scan *scan)
{
	free(scan->convert);
	memset(scan, 0, sizeof(*scan));
}

int
smtp_mime_hook_failed(const struct smtp_mime *m)
{
	return m->hook_failed;
}

static int
has_8bit(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* ---- quoted-printable ---- */

void
smtp_qp_encode_line(const char *p, size_t len, int eol, size_t *col, struct str *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		char tok[3];
		size_t t;

		if ((c == ' ' || c == '\t') && !(eol && i == len - 1)) {
			tok[0] = (char)c;
			t = 1;
		} else if (c >= 33 && c <= 126 && c != '=') {
			tok[0] = (char)c;
			t = 1;
		} else {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			t = 3;
		}
		if (*col + t > SMTP_QP_LINE_MAX - 1) {
			str_append(out, "=\n", 2);
			*col = 0;
		}
		str_append(out, tok, t);
		*col += t;
	}
	if (eol) {
		str_appendc(out, '\n');
		*col = 0;
	}
}

/* ---- header analysis ---- */

/* The value of a parameter (boundary="...") of a Content-Type value. */
static int
param_value(const char *v, const char *name, struct str *out)
{
	size_t nlen = strlen(name);
	const char *p = v;
	int inq = 0;

	/* Skip to each ';' outside quotes. */
	for (; *p; p++) {
		if (*p == '"')
			inq = !inq;
		if (*p != ';' || inq)
			continue;
		const char *q = p + 1;

		q += strspn(q, " \t");
		if (strncasecmp(q, name, nlen) != 0)
			continue;
		q += nlen;
		q += strspn(q, " \t");
		if (*q != '=')
			continue;
		q++;
		q += strspn(q, " \t");
		str_reset(out);
		if (*q == '"') {
			for (q++; *q && *q != '"'; q++) {
				if (*q == '\\' && q[1])
					q++;
				str_appendc(out, *q);
			}
		} else {
			while (*q && *q != ';' && *q != ' ' && *q != '\t')
				str_appendc(out, *q++);
		}
		return 1;
	}
	return 0;
}

struct part_info {
	struct str type;     /* "text/plain", lower case; "" when absent */
	struct str boundary; /* multipart boundary, "" when none */
	struct str cte;      /* lower case; "" when absent */
	int has_mime_version;
};

/* Call fn for each field of the collected header hdr (LF-ended lines). */
static void
each_field(const struct str *hdr, void (*fn)(const char *f, size_t len, void *arg), void *arg)
{
	size_t start = 0, i = 0;

	if (hdr->len == 0)
		return;
	while (i < hdr->len) {
		const char *nl = memchr(hdr->data + i, '\n', hdr->len - i);
		size_t end = nl ? (size_t)(nl - hdr->data) : hdr->len;
		size_t next = nl ? end + 1 : end;

		/* The field ends here unless the next line continues it. */
		if (next >= hdr->len || !(hdr->data[next] == ' ' || hdr->data[next] == '\t')) {
			fn(hdr->data + start, end - start, arg);
			start = next;
		}
		i = next;
	}
}

static void
analyse_field(const char *f, size_t len, void *arg)
{
	struct part_info *pi = arg;
	struct str v = STR_INIT;

	if (header_field_is(f, len, "Content-Type")) {
		size_t n;

		header_field_value(f, len, &v);
		n = strcspn(str_cstr(&v), "; \t");
		str_set(&pi->type, v.data, n);
		str_lower(&pi->type);
		if (!param_value(str_cstr(&v), "boundary", &pi->boundary))
			str_reset(&pi->boundary);
	} else if (header_field_is(f, len, "Content-Transfer-Encoding")) {
		size_t n;

		header_field_value(f, len, &v);
		n = strcspn(str_cstr(&v), "; \t(");
		str_set(&pi->cte, v.data, n);
		str_lower(&pi->cte);
	} else if (header_field_is(f, len, "MIME-Version")) {
		pi->has_mime_version = 1;
	}
	str_free(&v);
}

struct emit_arg {
	struct smtp_mime *m;
	struct str *out;
	const char *new_cte; /* replace Content-Transfer-Encoding, or NULL */
	int top;             /* run the hook */
	int cte_written;
};

static void
emit_field(const char *f, size_t len, void *arg)
{
	struct emit_arg *ea = arg;
	struct str tmp = STR_INIT;
	int r;

	if (ea->new_cte && header_field_is(f, len, "Content-Transfer-Encoding")) {
		if (!ea->cte_written) {
			str_appendz(ea->out, "Content-Transfer-Encoding: ");
			str_appendz(ea->out, ea->new_cte);
			str_appendc(ea->out, '\n');
			ea->cte_written = 1;
		}
		return;
	}
	if (ea->top && ea->m->hook) {
		r = ea->m->hook(f, len, &tmp);
		if (r < 0)
			ea->m->hook_failed = 1;
		if (r > 0) {
			str_append(ea->out, tmp.data, tmp.len);
			str_appendc(ea->out, '\n');
			str_free(&tmp);
			return;
		}
	}
	str_free(&tmp);
	str_append(ea->out, f, len);
	str_appendc(ea->out, '\n');
}

static int
is_multipart(const struct part_info *pi)
{
	return pi->type.len > 10 && memcmp(pi->type.data, "multipart/", 10) == 0;
}

static void body_line(struct smtp_mime *m, const char *p, size_t len, int eol, struct str *out);

/*
 * The header of the current part is complete: decide what its body is,
 * and write the header (changed if need be), then the empty line when
 * blank says one ended it.
 */
static void
finish_header(struct smtp_mime *m, int blank, struct str *out)
{
	struct part_info pi = {STR_INIT, STR_INIT, STR_INIT, 0};
	struct emit_arg ea = {m, out, NULL, m->in_top_header, 0};
	int convert_this = 0, container = 0, top = m->message_header;
	const char *type;

	each_field(&m->hdr, analyse_field, &pi);
	type = str_cstr(&pi.type);
	if (type[0] == '\0' && m->default_rfc822)
		type = "message/rfc822";

	m->state = MIME_BODY_PASS;
	m->leaf_convertible = 0;
	if (m->hdr_overflow) {
		/* already written as it came; the part is opaque */
	} else if (is_multipart(&pi) && pi.boundary.len > 0 &&
	        pi.boundary.len <= SMTP_MIME_BOUNDARY_MAX && m->depth < SMTP_MIME_DEPTH_MAX &&
	        m->depth + m->nested_messages < SMTP_MIME_DEPTH_MAX) {
		struct mime_level *lv = &m->stack[m->depth++];

		memcpy(lv->boundary, pi.boundary.data, pi.boundary.len);
		lv->blen = pi.boundary.len;
		lv->boundary[lv->blen] = '\0';
		lv->digest = strcmp(type, "multipart/digest") == 0;
		container = 1;
	} else if (strcmp(type, "message/rfc822") == 0 &&
	        m->depth + m->nested_messages < SMTP_MIME_DEPTH_MAX) {
		container = 2;
	} else if (!is_multipart(&pi) &&
	        (pi.cte.len == 0 || str_eq(&pi.cte, "7bit") || str_eq(&pi.cte, "8bit") ||
	                str_eq(&pi.cte, "binary"))) {
		m->leaf_convertible = 1;
		if (m->convert && get_bit(m->scan, m->part))
			convert_this = 1;
	}

	if (!m->hdr_overflow) {
		if (m->convert && container &&
		        (str_eq(&pi.cte, "8bit") || str_eq(&pi.cte, "binary")))
			ea.new_cte = "7bit";
		if (convert_this)
			ea.new_cte = "quoted-printable";
		each_field(&m->hdr, emit_field, &ea);
		if (convert_this && !ea.cte_written) {
			if (top && !pi.has_mime_version)
				str_appendz(out, "MIME-Version: 1.0\n");
			if (top && pi.type.len == 0)
				str_appendz(
				        out, "Content-Type: text/plain; charset=unknown-8bit\n");
			str_appendz(out, "Content-Transfer-Encoding: quoted-printable\n");
		}
	}
	if (blank)
		str_appendc(out, '\n');
	str_reset(&m->hdr);
	m->hdr_overflow = 0;
	m->in_top_header = 0;
	m->message_header = 0;
	if (convert_this)
		m->state = MIME_BODY_QP;
	if (container == 2) {
		/* The body is a message: its header comes next. */
		m->nested_messages++;
		m->part++;
		m->default_rfc822 = 0;
		m->message_header = 1;
		m->state = MIME_HEADER;
		if (!blank)
			m->state = MIME_BODY_PASS;
	}
	m->qp_col = 0;
	str_free(&pi.type);
	str_free(&pi.boundary);
	str_free(&pi.cte);
}

/* A boundary of an enclosing multipart: its level, or -1. *close is set
 * for "--boundary--". */
static int
boundary_level(const struct smtp_mime *m, const char *p, size_t len, int *close)
{
	if (m->depth == 0 || len < 2 || p[0] != '-' || p[1] != '-')
		return -1;
	for (size_t k = m->depth; k-- > 0;) {
		const struct mime_level *lv = &m->stack[k];
		size_t i;

		if (len < 2 + lv->blen || memcmp(p + 2, lv->boundary, lv->blen) != 0)
			continue;
		i = 2 + lv->blen;
		*close = 0;
		if (len - i >= 2 && p[i] == '-' && p[i + 1] == '-') {
			*close = 1;
			i += 2;
		}
		while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'))
			i++;
		if (i == len)
			return (int)k;
	}
	return -1;
}

static void
body_line(struct smtp_mime *m, const char *p, size_t len, int eol, struct str *out)
{
	if (m->scanning && m->leaf_convertible && has_8bit(p, len))
		set_bit(m->scan, m->part);
	if (m->state == MIME_BODY_QP) {
		smtp_qp_encode_line(p, len, eol, &m->qp_col, out);
		return;
	}
	str_append(out, p, len);
	if (eol)
		str_appendc(out, '\n');
}

/* One line (eol: it ended with LF) or a piece of a long one. */
static void
process(struct smtp_mime *m, const char *p, size_t len, int eol, struct str *out)
{
	int at_start = !m->midline, close, level;

	m->midline = !eol;
	if (m->scanning) {
		if (m->in_top_header) {
			if (has_8bit(p, len))
				m->scan->header_8bit = 1;
		} else if (has_8bit(p, len)) {
			m->scan->body_8bit = 1;
		}
	}
	/* A boundary ends whatever we are in. */
	if (at_start && (level = boundary_level(m, p, len, &close)) >= 0) {
		if (m->state == MIME_HEADER)
			finish_header(m, 0, out);
		if (m->state == MIME_BODY_QP && m->qp_col > 0)
			str_appendc(out, '\n');
		m->depth = (size_t)level + 1;
		str_append(out, p, len);
		if (eol)
			str_appendc(out, '\n');
		m->midline = !eol;
		m->leaf_convertible = 0;
		if (close) {
			m->default_rfc822 = 0;
			m->depth = (size_t)level;
			m->state = MIME_BODY_PASS;
		} else {
			m->default_rfc822 = m->stack[level].digest;
			m->message_header = 0;
			m->part++;
			m->state = MIME_HEADER;
		}
		return;
	}
	if (m->state != MIME_HEADER) {
		body_line(m, p, len, eol, out);
		return;
	}
	if (at_start && len == 0 && eol) {
		finish_header(m, 1, out);
		return;
	}
	if (at_start && header_field_name(p, len) == 0 &&
	        !(header_is_continuation(p, len) && m->hdr.len > 0)) {
		/* Not a header line: the header ended without an empty line. */
		finish_header(m, 0, out);
		body_line(m, p, len, eol, out);
		return;
	}
	if (m->hdr_overflow || m->hdr.len + len + 1 > SMTP_MIME_HEADER_MAX) {
		if (!m->hdr_overflow) {
			str_append(out, m->hdr.data, m->hdr.len);
			str_reset(&m->hdr);
			m->hdr_overflow = 1;
		}
		str_append(out, p, len);
		if (eol)
			str_appendc(out, '\n');
		return;
	}
	str_append(&m->hdr, p, len);
	if (eol)
		str_appendc(&m->hdr, '\n');
}

void
smtp_mime_feed(struct smtp_mime *m, const char *buf, size_t len, struct str *out)
{
	size_t i = 0;

	if (m->scanning) {
		for (size_t k = 0; k < len; k++)
			if (buf[k] == '\n')
				m->scan->lines++;
		m->scan->wire_size += len;
	}
	while (i < len) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;

		if (m->line.len == 0 && nl && n <= SMTP_MIME_LINE_MAX) {
			process(m, buf + i, n, 1, out);
			i += n + 1;
			continue;
		}
		/* Assemble in the line buffer, in pieces of at most LINE_MAX. */
		while (n > 0) {
			size_t room = SMTP_MIME_LINE_MAX - m->line.len;
			size_t take = n < room ? n : room;

			str_append(&m->line, buf + i, take);
			i += take;
			n -= take;
			if (m->line.len == SMTP_MIME_LINE_MAX && (n > 0 || !nl)) {
				process(m, m->line.data, m->line.len, 0, out);
				str_reset(&m->line);
			}
		}
		if (nl) {
			process(m, m->line.data ? m->line.data : "", m->line.len, 1, out);
			str_reset(&m->line);
			i++;
		}
	}
}

void
smtp_mime_end(struct smtp_mime *m, struct str *out)
{
	if (m->line.len > 0 || m->midline) {
		/* The last line had no line end. */
		if (m->scanning)
			m->scan->lines++;
		process(m, m->line.data ? m->line.data : "", m->line.len, m->state == MIME_BODY_QP,
		        out);
		str_reset(&m->line);
	}
	if (m->state == MIME_HEADER && (m->hdr.len > 0 || m->hdr_overflow))
		finish_header(m, 0, out);
	if (m->scanning)
		m->scan->wire_size += m->scan->lines;
}
