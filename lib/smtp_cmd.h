/*
 * smtp_cmd.h - the SMTP server's command parser: one command line in, one
 * struct out; plus the standard reply for every way a line can be wrong.
 *
 * Lines.  smtp_cmd_find_line() finds the next line in the input buffer:
 * a line ends at the first LF, and the limit counts every octet up to and
 * including it.  smtp_cmd_parse() takes that line WITH its terminator and
 * refuses (before anything else) a line that does not end in CRLF
 * (SMTP_CMD_ERR_NO_CRLF), that ends in a bare LF or holds an LF before
 * its end (SMTP_CMD_ERR_BARE_LF: the caller passes exactly one line, so
 * an inner LF is bare), that holds a CR not followed by LF
 * (SMTP_CMD_ERR_BARE_CR), or a NUL (SMTP_CMD_ERR_NUL).  Trailing blanks
 * (SP, HT) before the CRLF are ignored.
 *
 * Verbs.  The verb is the text up to the first SP, case-insensitive:
 * HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP STARTTLS
 * AUTH ETRN TURN ATRN; anything else is SMTP_CMD_ERR_UNKNOWN.  One or
 * more SP separate the verb from its argument (cmd->arg).
 *
 *	HELO, EHLO, VRFY, EXPN, ETRN, AUTH	argument required
 *	NOOP, HELP, ATRN			argument optional
 *	DATA, RSET, QUIT, STARTTLS, TURN	no argument
 *	MAIL	"FROM:" [SP] reverse-path *( 1*SP esmtp-param )
 *	RCPT	"TO:" [SP] forward-path *( 1*SP esmtp-param )
 *	BDAT	chunk-size [ 1*SP "LAST" ]
 *
 * "FROM:", "TO:" and "LAST" are case-insensitive.  The path is parsed by
 * addr.h; a bad path is SMTP_CMD_ERR_ADDRESS with the reason in
 * cmd->addr_status.  The ESMTP parameters are checked before the path,
 * because SMTPUTF8 among them decides whether the path may hold UTF-8;
 * for RCPT the caller says whether the transaction's MAIL had SMTPUTF8
 * (SMTP_CMD_OPT_SMTPUTF8).
 *
 * ESMTP parameters (keywords and the values named below case-insensitive):
 *
 *	MAIL	SIZE=1*20DIGIT (RFC 1870; a value past 2^64-1 saturates,
 *		so the caller answers 552, not 555)
 *		BODY=7BIT|8BITMIME|BINARYMIME (RFC 6152, 3030)
 *		SMTPUTF8 (RFC 6531; takes no value)
 *		RET=FULL|HDRS, ENVID=xtext of at most 100 octets (RFC 3461)
 *		AUTH=<> or AUTH=xtext (RFC 4954; checked, then ignored)
 *	RCPT	NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY (RFC 3461)
 *		ORCPT=rfc822;xtext or ORCPT=utf-8;utf-8-addr (RFC 3461, 6533),
 *		at most 500 octets
 *
 * Each parameter at most once (SMTP_CMD_ERR_PARAM_DUP); one that is not
 * listed for the verb is SMTP_CMD_ERR_PARAM_UNKNOWN; a keyword or value
 * that does not fit esmtp-param is SMTP_CMD_ERR_PARAM_SYNTAX; a bad value
 * for a known keyword has its own status.  At most SMTP_CMD_PARAMS_MAX
 * parameters.  All of them are answered 555 5.5.4.
 *
 * The parser returns structures, not replies.  smtp_cmd_reply() gives the
 * standard reply for a status, so the server answers every error the same
 * way; docs/smtp-protocol.md lists them all.
 */
#ifndef TERN_SMTP_CMD_H
#define TERN_SMTP_CMD_H

#include <stddef.h>

#include "addr.h"
#include "str.h"

#define SMTP_CMD_PARAMS_MAX   16   /* ESMTP parameters on one MAIL or RCPT */
#define SMTP_CMD_SIZE_DIGITS  20   /* RFC 1870 size-value = 1*20DIGIT */
#define SMTP_CMD_BDAT_DIGITS  20   /* digits of a BDAT chunk size */
#define SMTP_CMD_ENVID_MAX    100  /* octets of ENVID xtext (RFC 3461 4.4) */
#define SMTP_CMD_ORCPT_MAX    500  /* octets of the ORCPT value (RFC 3461 4.2) */
#define SMTP_CMD_DETAIL_MAX   64   /* octets of client text quoted in a reply */
#define SMTP_CMD_OPT_SMTPUTF8 0x01 /* RCPT: the transaction's MAIL gave SMTPUTF8 */

enum smtp_verb {
	SMTP_VERB_NONE = 0, /* empty or unrecognised */
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_ETRN,
	SMTP_VERB_TURN,
	SMTP_VERB_ATRN,
	SMTP_VERB_COUNT
};

enum smtp_cmd_status {
	SMTP_CMD_OK = 0,
	SMTP_CMD_ERR_TOO_LONG,       /* from smtp_cmd_find_line(): over the limit */
	SMTP_CMD_ERR_NO_CRLF,        /* no line terminator at all */
	SMTP_CMD_ERR_BARE_LF,        /* LF without CR before it */
	SMTP_CMD_ERR_BARE_CR,        /* CR without LF after it */
	SMTP_CMD_ERR_NUL,            /* a NUL octet in the line */
	SMTP_CMD_ERR_EMPTY,          /* nothing before the CRLF */
	SMTP_CMD_ERR_UNKNOWN,        /* not a verb we know */
	SMTP_CMD_ERR_SYNTAX,         /* wrong arguments for the verb */
	SMTP_CMD_ERR_ADDRESS,        /* MAIL/RCPT path: see addr_status */
	SMTP_CMD_ERR_PARAM_SYNTAX,   /* not keyword[=value] */
	SMTP_CMD_ERR_PARAM_UNKNOWN,  /* keyword not supported for this verb */
	SMTP_CMD_ERR_PARAM_DUP,      /* keyword given twice */
	SMTP_CMD_ERR_PARAM_TOO_MANY, /* over SMTP_CMD_PARAMS_MAX */
	SMTP_CMD_ERR_SIZE,           /* SIZE value */
	SMTP_CMD_ERR_BODY,           /* BODY value */
	SMTP_CMD_ERR_SMTPUTF8,       /* SMTPUTF8 with a value */
	SMTP_CMD_ERR_RET,            /* RET value */
	SMTP_CMD_ERR_ENVID,          /* ENVID: bad xtext or too long */
	SMTP_CMD_ERR_AUTH,           /* AUTH value: not <> and not xtext */
	SMTP_CMD_ERR_NOTIFY,         /* NOTIFY value */
	SMTP_CMD_ERR_ORCPT,          /* ORCPT: type, encoding or length */
	SMTP_CMD_ERR_BDAT_SIZE,      /* chunk size not 1*20DIGIT or over 2^64-1 */
	SMTP_CMD_STATUS_COUNT
};

enum smtp_body {
	SMTP_BODY_NONE = 0, /* no BODY parameter */
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME
};

enum smtp_ret { SMTP_RET_NONE = 0, SMTP_RET_FULL, SMTP_RET_HDRS };

/* smtp_params.notify */
#define SMTP_NOTIFY_NEVER   0x01
#define SMTP_NOTIFY_SUCCESS 0x02
#define SMTP_NOTIFY_FAILURE 0x04
#define SMTP_NOTIFY_DELAY   0x08

/* smtp_params.seen: one bit per parameter given */
#define SMTP_PARAM_SIZE     0x001
#define SMTP_PARAM_BODY     0x002
#define SMTP_PARAM_SMTPUTF8 0x004
#define SMTP_PARAM_RET      0x008
#define SMTP_PARAM_ENVID    0x010
#define SMTP_PARAM_AUTH     0x020
#define SMTP_PARAM_NOTIFY   0x040
#define SMTP_PARAM_ORCPT    0x080

enum smtp_orcpt_type { SMTP_ORCPT_NONE = 0, SMTP_ORCPT_RFC822, SMTP_ORCPT_UTF8 };

struct smtp_params {
	unsigned seen;           /* SMTP_PARAM_* */
	unsigned long long size; /* SIZE, saturated at ULLONG_MAX */
	enum smtp_body body;
	enum smtp_ret ret;
	struct str envid; /* ENVID, decoded */
	unsigned notify;  /* SMTP_NOTIFY_* */
	enum smtp_orcpt_type orcpt_type;
	struct str orcpt;     /* ORCPT address, decoded */
	struct str orcpt_raw; /* ORCPT value as given (type;xtext), to pass on */
};

struct smtp_cmd {
	enum smtp_verb verb;
	enum smtp_cmd_status status;
	enum addr_status addr_status; /* for SMTP_CMD_ERR_ADDRESS */
	struct str arg;               /* after the verb and its SPs, blanks trimmed */
	struct str bad_param;         /* the offending parameter, for replies and logs */
	struct addr addr;             /* MAIL, RCPT */
	struct smtp_params params;    /* MAIL, RCPT */
	unsigned long long bdat_size; /* BDAT */
	int bdat_last;                /* BDAT ... LAST */
};

/* A reply: "code dsn text[: detail]".  dsn is NULL where RFC 2034 has none. */
struct smtp_reply {
	int code;
	const char *dsn;
	const char *text;
	const char *detail; /* NULL, or client text (see smtp_reply_format) */
};

enum smtp_line_status {
	SMTP_LINE_PARTIAL = 0, /* no LF yet: read more */
	SMTP_LINE_COMPLETE,    /* *linelen octets, LF included */
	SMTP_LINE_TOO_LONG     /* no LF within max octets */
};

void smtp_cmd_init(struct smtp_cmd *cmd);
void smtp_cmd_free(struct smtp_cmd *cmd);

/*
 * Find the first line in buf[0..len).  COMPLETE when an LF is within the
 * first max octets (*linelen counts up to and including it); TOO_LONG
 * when max octets hold no LF (the server answers 500 5.5.2 and discards
 * through the next LF); else PARTIAL.
 */
enum smtp_line_status smtp_cmd_find_line(const char *buf, size_t len, size_t max, size_t *linelen);

/*
 * Parse one command line, terminator included.  Every field of cmd is
 * reset first; on error, cmd->verb says which verb was recognised (if
 * any) and the status says what was wrong.  opts: SMTP_CMD_OPT_*.
 */
enum smtp_cmd_status smtp_cmd_parse(
        struct smtp_cmd *cmd, const char *line, size_t len, unsigned opts);

/* The verb's name in upper case ("MAIL"); "" for SMTP_VERB_NONE. */
const char *smtp_verb_name(enum smtp_verb verb);

/* A short static description of a status, for logs. */
const char *smtp_cmd_strerror(enum smtp_cmd_status st);

/*
 * The standard reply for a failed parse.  smtp_cmd_status_reply() needs
 * only the status, the verb and (for SMTP_CMD_ERR_ADDRESS) the address
 * status; smtp_cmd_reply() takes them from cmd and adds the offending
 * parameter as detail (valid while cmd is).  SMTP_CMD_OK gives 250 2.0.0.
 */
void smtp_cmd_status_reply(
        enum smtp_cmd_status st, enum smtp_verb verb, enum addr_status ast, struct smtp_reply *r);
void smtp_cmd_reply(const struct smtp_cmd *cmd, struct smtp_reply *r);

/*
 * Append a reply line with CRLF.  Detail is client text: octets outside
 * printable ASCII become '?', and it is cut to SMTP_CMD_DETAIL_MAX.
 */
void smtp_reply_format(const struct smtp_reply *r, struct str *out);

/*
 * xtext (RFC 3461 4): "+" and two hex digits stand for one octet; other
 * octets "!".."~" except "+" and "=" stand for themselves.
 * smtp_xtext_decode() appends the decoded octets and returns 0, or -1 for
 * malformed input or an encoded NUL; upper- and lower-case hex are both
 * accepted.  smtp_xtext_encode() appends the encoding (upper-case hex).
 */
int smtp_xtext_decode(const char *s, size_t len, struct str *out);
void smtp_xtext_encode(const char *s, size_t len, struct str *out);

#endif
