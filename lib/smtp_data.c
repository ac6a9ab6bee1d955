/*
 * smtp_data.c - the DATA/BDAT receiving state machine and the outbound
 * dot-stuffer; the contract is smtp_data.h.
 *
 * Trusts nothing: the input is message content from an SMTP client, split
 * wherever the network split it.  The state lives in struct smtp_data,
 * never in the caller's buffer, so a split at any octet gives the same
 * result.  Nothing is buffered inside: each octet is either content
 * (appended at once) or a CR or "." whose meaning the next octet decides,
 * which the state remembers.  Called by smtpd (receiving) and smtp
 * (sending).
 */
#include <ctype.h>
#include <string.h>

#include "smtp_data.h"

/* Where the machine is in a line. */
enum {
	S_BOL,   /* at the start of a line (after a real CRLF) */
	S_TEXT,  /* inside a line */
	S_CR,    /* a CR was seen: LF makes a line end, anything else a bare CR */
	S_DOT,   /* DATA: a "." at the start of a line, dropped */
	S_DOT_CR /* DATA: "." CR at the start of a line: LF ends the data */
};

/* Where the header reader is in a header line. */
enum {
	H_START,   /* start of a line inside the header */
	H_NAME,    /* in a field name */
	H_NAME_WS, /* blanks after a field name, before the colon */
	H_VALUE,   /* after the colon, or in a continuation line */
	H_BODY     /* the header has ended */
};

static const char received_name[] = "received";

void
smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode, const struct smtp_data_limits *limits)
{
	memset(d, 0, sizeof(*d));
	if (limits != NULL)
		d->limits = *limits;
	d->mode = mode;
	d->in_header = 1;
	d->state = S_BOL;
	d->hstate = H_START;
}

static void
header_end(struct smtp_data *d)
{
	d->in_header = 0;
	d->hstate = H_BODY;
	d->line_bytes = 0;
}

static void
header_size_check(struct smtp_data *d)
{
	if (d->limits.header_size != 0 && d->header_bytes + d->line_bytes > d->limits.header_size)
		d->errors |= SMTP_DATA_ERR_HEADER_SIZE;
}

/* A colon after a field name: one more header field. */
static void
header_field(struct smtp_data *d)
{
	d->hstate = H_VALUE;
	d->header_count++;
	if (d->limits.header_count != 0 && d->header_count > d->limits.header_count)
		d->errors |= SMTP_DATA_ERR_HEADER_COUNT;
	if (d->name_received && d->name_len == sizeof(received_name) - 1) {
		d->received_count++;
		if (d->limits.hop_count != 0 && d->received_count > d->limits.hop_count)
			d->errors |= SMTP_DATA_ERR_HOPS;
	}
}

/* One octet at the start of a header line or in a field name. */
static void
header_octet(struct smtp_data *d, unsigned char c)
{
	int name_char = c >= 33 && c <= 126 && c != ':';

	switch (d->hstate) {
	case H_START:
		if (c == ' ' || c == '\t') {
			if (d->header_count == 0)
				header_end(d); /* a continuation of nothing */
			else
				d->hstate = H_VALUE;
		} else if (name_char) {
			d->hstate = H_NAME;
			d->name_len = 1;
			d->name_received = tolower(c) == received_name[0];
		} else {
			header_end(d);
		}
		break;
	case H_NAME:
		if (name_char) {
			d->name_len++;
			d->name_received = d->name_received &&
			        d->name_len < sizeof(received_name) &&
			        tolower(c) == received_name[d->name_len - 1];
		} else if (c == ':') {
			header_field(d);
		} else if (c == ' ' || c == '\t') {
			d->hstate = H_NAME_WS;
		} else {
			header_end(d);
		}
		break;
	case H_NAME_WS:
		if (c == ':')
			header_field(d);
		else if (c != ' ' && c != '\t')
			header_end(d);
		break;
	}
}

/* Content octets of the current line (never its CRLF), for the header reader. */
static void
header_content(struct smtp_data *d, const unsigned char *p, size_t n)
{
	while (n > 0 && d->in_header) {
		if (d->hstate == H_VALUE) {
			d->line_bytes += n;
			header_size_check(d);
			return;
		}
		d->line_bytes++;
		header_octet(d, *p);
		p++;
		n--;
	}
}

/* A real CRLF, for the header reader. */
static void
header_line_end(struct smtp_data *d)
{
	if (!d->in_header)
		return;
	if (d->hstate != H_VALUE) {
		header_end(d); /* an empty line, or a line without a colon */
		return;
	}
	d->line_bytes += 2;
	header_size_check(d);
	d->header_bytes += d->line_bytes;
	d->line_bytes = 0;
	d->hstate = H_START;
}

/* Count content octets and store them while all is well. */
static void
store(struct smtp_data *d, const void *p, size_t n, struct str *out)
{
	d->bytes += n;
	if (d->limits.message_size != 0 && d->bytes > d->limits.message_size)
		d->errors |= SMTP_DATA_ERR_SIZE;
	if (d->errors == 0)
		str_append(out, p, n);
}

static void
content(struct smtp_data *d, const unsigned char *p, size_t n, struct str *out)
{
	header_content(d, p, n);
	store(d, p, n, out);
}

/* A CR that was not followed by LF, or an LF without CR: content, refused in text. */
static void
bare(struct smtp_data *d, unsigned char c, struct str *out)
{
	if (d->mode != SMTP_DATA_BDAT_BINARY)
		d->errors |= c == '\n' ? SMTP_DATA_ERR_BARE_LF : SMTP_DATA_ERR_BARE_CR;
	content(d, &c, 1, out);
}

size_t
smtp_data_feed(struct smtp_data *d, const void *buf, size_t len, struct str *out)
{
	const unsigned char *start = buf, *p = buf, *end = p + len, *q;

	if (d->done)
		return 0;
	while (p < end && !d->done) {
		switch (d->state) {
		case S_BOL:
			if (*p == '.' && d->mode == SMTP_DATA_DOT) {
				d->state = S_DOT;
				p++;
			} else {
				d->state = S_TEXT;
			}
			break;
		case S_TEXT:
			for (q = p; q < end && *q != '\r' && *q != '\n'; q++)
				;
			if (q > p) {
				content(d, p, (size_t)(q - p), out);
				p = q;
			} else if (*p == '\r') {
				d->state = S_CR;
				p++;
			} else {
				bare(d, '\n', out);
				p++;
			}
			break;
		case S_CR:
			if (*p == '\n') {
				store(d, "\r\n", 2, out);
				header_line_end(d);
				d->state = S_BOL;
				p++;
			} else {
				bare(d, '\r', out);
				d->state = S_TEXT;
			}
			break;
		case S_DOT:
			if (*p == '\r') {
				d->state = S_DOT_CR;
				p++;
			} else {
				d->state = S_TEXT;
			}
			break;
		case S_DOT_CR:
			if (*p == '\n') {
				d->done = 1;
				p++;
			} else {
				bare(d, '\r', out);
				d->state = S_TEXT;
			}
			break;
		}
	}
	d->input_bytes += (size_t)(p - start);
	return (size_t)(p - start);
}

void
smtp_data_finish(struct smtp_data *d, struct str *out)
{
	if (d->done)
		return;
	if (d->state == S_CR || d->state == S_DOT_CR)
		bare(d, '\r', out);
	if (d->in_header && d->hstate == H_VALUE) {
		header_size_check(d);
		d->header_bytes += d->line_bytes;
		d->line_bytes = 0;
	}
	d->state = S_BOL;
	d->done = 1;
}

int
smtp_data_reply(const struct smtp_data *d, struct smtp_reply *r)
{
	static const struct {
		unsigned error;
		struct smtp_reply reply;
	} replies[] = {
	        {SMTP_DATA_ERR_BARE_LF,
	                {554, "5.5.2", "Error: bare <LF> received in message data", NULL}},
	        {SMTP_DATA_ERR_BARE_CR,
	                {554, "5.5.2", "Error: bare <CR> received in message data", NULL}},
	        {SMTP_DATA_ERR_SIZE, {552, "5.3.4", "Message size exceeds fixed limit", NULL}},
	        {SMTP_DATA_ERR_HEADER_SIZE,
	                {552, "5.3.4", "Message header size exceeds limit", NULL}},
	        {SMTP_DATA_ERR_HEADER_COUNT,
	                {552, "5.3.4", "Too many message header fields", NULL}},
	        {SMTP_DATA_ERR_HOPS, {554, "5.4.6", "Too many hops", NULL}},
	};
	size_t i;

	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		if (d->errors & replies[i].error) {
			*r = replies[i].reply;
			return -1;
		}
	}
	r->code = 250;
	r->dsn = "2.0.0";
	r->text = "Ok";
	r->detail = NULL;
	return 0;
}

void
smtp_data_stuff_init(struct smtp_data_stuffer *st, int dot_stuff)
{
	st->dot_stuff = dot_stuff;
	st->at_bol = 1;
	st->pending_cr = 0;
	st->repaired = 0;
}

void
smtp_data_stuff(struct smtp_data_stuffer *st, const void *buf, size_t len, struct str *out)
{
	const unsigned char *p = buf, *end = p + len, *q;

	while (p < end) {
		if (st->pending_cr) {
			st->pending_cr = 0;
			str_append(out, "\r\n", 2);
			st->at_bol = 1;
			if (*p == '\n') {
				p++;
				continue;
			}
			st->repaired++; /* a lone CR */
		}
		if (*p == '\r') {
			st->pending_cr = 1;
			p++;
		} else if (*p == '\n') {
			str_append(out, "\r\n", 2); /* a lone LF */
			st->repaired++;
			st->at_bol = 1;
			p++;
		} else {
			if (st->at_bol && *p == '.' && st->dot_stuff)
				str_appendc(out, '.');
			st->at_bol = 0;
			for (q = p; q < end && *q != '\r' && *q != '\n'; q++)
				;
			str_append(out, p, (size_t)(q - p));
			p = q;
		}
	}
}

void
smtp_data_stuff_end(struct smtp_data_stuffer *st, struct str *out)
{
	if (st->pending_cr) {
		st->pending_cr = 0;
		st->repaired++;
		str_append(out, "\r\n", 2);
		st->at_bol = 1;
	}
	if (!st->at_bol) {
		str_append(out, "\r\n", 2);
		st->at_bol = 1;
	}
	if (st->dot_stuff)
		str_append(out, ".\r\n", 3);
}
