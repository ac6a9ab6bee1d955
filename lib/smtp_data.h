/*
 * smtp_data.h - message content on the wire: the server's DATA and BDAT
 * state machine, and the client's dot-stuffing.
 *
 * Receiving (smtp_data_feed).  The server feeds the octets that follow
 * "354" in whatever pieces the network delivers them.  The machine
 *
 * - ends the message ONLY at CRLF "." CRLF (the first CRLF may be the one
 *   that ended the DATA command, so ".\r\n" at once is an empty message);
 *   smtp_data_feed() then returns how many octets it took, through that
 *   final LF, and the rest of the buffer (pipelined commands) is the
 *   command parser's;
 * - removes the leading "." of every line that starts with one;
 * - refuses a bare LF (an LF without CR before it) and a bare CR (a CR
 *   without LF after it) by setting SMTP_DATA_ERR_BARE_LF / _BARE_CR.
 *   Such an octet does not end a line: <LF>.<CR><LF>, <CR>.<CR>,
 *   <LF>.<LF>, <CR><LF>.<LF> and the like are never an end of data (the
 *   CVE-2023-51764 class), and the machine keeps reading until the real
 *   CRLF.CRLF, after which the server answers 5xx (smtp_data_reply);
 * - counts the content octets (after unstuffing, CRLFs included) against
 *   the size limit: past it, SMTP_DATA_ERR_SIZE, and reading goes on;
 * - reads the header: it ends at the first empty line, or at the first
 *   line that is neither a header field ("name:" with name of printable
 *   ASCII but ":", blanks allowed before the colon) nor a continuation (a
 *   line starting with SP or HT after a field).  It counts the header's
 *   octets (header lines with their CRLFs) against header_size, its
 *   fields against header_count, and its Received: fields against
 *   hop_count (more than hop_count is an error).
 *
 * The content goes to `out` (CRLF line ends, unstuffed) as long as no
 * error is set.  Once one is, nothing more is stored (so `out` never
 * grows past the size limit) and what was stored is an unspecified prefix
 * of the content, to be discarded; the counting and the search for the
 * end go on.  The server then replies with smtp_data_reply(), which picks
 * the most important error.
 *
 * BDAT (RFC 3030).  The caller cuts the input into chunks by their
 * announced sizes and feeds each chunk's octets; there is no dot
 * handling and no end marker.  After the LAST chunk the caller calls
 * smtp_data_finish().  With SMTP_DATA_BDAT (BODY=7BIT or 8BITMIME, or no
 * BODY) the same bare CR / bare LF refusal applies, across chunk
 * boundaries too: a body that must be lines of text cannot carry them.
 * With SMTP_DATA_BDAT_BINARY (BODY=BINARYMIME) every octet is content.
 *
 * Sending (smtp_data_stuff).  The SMTP client feeds message content in any
 * pieces; the stuffer writes CRLF line ends only (a lone LF or a lone CR
 * becomes CRLF, counted in `repaired`), doubles a leading "." on every
 * line when dot-stuffing, and smtp_data_stuff_end() completes the last
 * line and appends ".\r\n".  It never emits a bare CR or LF.
 */
#ifndef TERN_SMTP_DATA_H
#define TERN_SMTP_DATA_H

#include <stddef.h>

#include "smtp_cmd.h"
#include "str.h"

enum smtp_data_mode {
	SMTP_DATA_DOT,        /* DATA: dot-unstuffing, ends at CRLF.CRLF */
	SMTP_DATA_BDAT,       /* BDAT chunks of a text body: bare CR/LF refused */
	SMTP_DATA_BDAT_BINARY /* BDAT chunks of BODY=BINARYMIME */
};

/* The limits; 0 means no limit. */
struct smtp_data_limits {
	unsigned long long message_size; /* content octets: message_size_limit */
	unsigned long long header_size;  /* header octets: header_size_limit */
	unsigned long header_count;      /* header fields: header_count_limit */
	unsigned long hop_count;         /* Received: fields: hopcount_limit */
};

/* smtp_data.errors */
#define SMTP_DATA_ERR_BARE_LF      0x01
#define SMTP_DATA_ERR_BARE_CR      0x02
#define SMTP_DATA_ERR_SIZE         0x04
#define SMTP_DATA_ERR_HEADER_SIZE  0x08
#define SMTP_DATA_ERR_HEADER_COUNT 0x10
#define SMTP_DATA_ERR_HOPS         0x20

struct smtp_data {
	struct smtp_data_limits limits;
	enum smtp_data_mode mode;
	int done;                        /* the end was seen (DATA) or finished (BDAT) */
	unsigned errors;                 /* SMTP_DATA_ERR_* */
	unsigned long long input_bytes;  /* octets consumed from the client */
	unsigned long long bytes;        /* content octets, counted even when not stored */
	unsigned long long header_bytes; /* octets of the header lines */
	unsigned long header_count;      /* header fields */
	unsigned long received_count;    /* Received: fields */
	int in_header;                   /* still reading the header */
	/* private */
	int state;                     /* where in a line: see smtp_data.c */
	int hstate;                    /* where in a header line */
	unsigned long long line_bytes; /* octets of the current header line */
	size_t name_len;               /* octets of the current field name */
	int name_received;             /* the field name so far matches "Received" */
};

void smtp_data_init(
        struct smtp_data *d, enum smtp_data_mode mode, const struct smtp_data_limits *limits);

/*
 * Feed buf[0..len).  Appends content to out and returns the octets taken:
 * all of them, except in DATA mode when the end of data is among them,
 * where it returns the count through the final LF and sets d->done.
 * Returns 0 once d->done is set.
 */
size_t smtp_data_feed(struct smtp_data *d, const void *buf, size_t len, struct str *out);

/*
 * BDAT: the LAST chunk has been fed.  A CR still waiting for its LF is a
 * bare CR (text body) or content (binary body).  Sets d->done.
 */
void smtp_data_finish(struct smtp_data *d, struct str *out);

/*
 * The reply for the transfer's outcome: 250 2.0.0 when no error (the
 * server replaces it with its "queued as"), else the reply for the most
 * important error: bare LF or CR (554 5.5.2), size (552 5.3.4), header
 * size and count (552 5.3.4), hops (554 5.4.6).  Returns 0 when no error,
 * -1 otherwise.
 */
int smtp_data_reply(const struct smtp_data *d, struct smtp_reply *r);

/* Outbound content with CRLF line ends and, if dot_stuff, dot-stuffing. */
struct smtp_data_stuffer {
	int dot_stuff;          /* DATA: 1; BDAT: 0 */
	int at_bol;             /* the next octet starts a line */
	int pending_cr;         /* a CR waits to see whether LF follows */
	unsigned long repaired; /* lone CRs and LFs turned into CRLF */
};

void smtp_data_stuff_init(struct smtp_data_stuffer *st, int dot_stuff);
void smtp_data_stuff(struct smtp_data_stuffer *st, const void *buf, size_t len, struct str *out);

/* Complete the last line (CRLF if needed) and, if dot-stuffing, add ".\r\n". */
void smtp_data_stuff_end(struct smtp_data_stuffer *st, struct str *out);

#endif
