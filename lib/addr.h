/*
 * addr.h - RFC 5321 mail addresses: the reverse-path of MAIL FROM and the
 * forward-path of RCPT TO, and the small predicates that policy code needs.
 *
 * Grammar accepted by addr_parse_path() (RFC 5321 4.1.2, RFC 6531 3.3):
 *
 *	path       = "<" [ route ":" ] mailbox ">"
 *		   | "<>"			reverse-path only: the null sender
 *		   | "<" "postmaster" ">"	forward-path only, any case
 *	route      = "@" domain-or-literal *( "," "@" domain-or-literal )
 *	mailbox    = local-part "@" ( domain | address-literal )
 *	local-part = dot-atom | quoted-string
 *
 * - A source route is checked, then dropped (ADDR_HAD_ROUTE is set).
 * - The angle brackets are required; nothing but the path may be between
 *   them (no spaces, no comments).  The path, "<" and ">" included, is at
 *   most ADDR_PATH_MAX octets; the local part, as written, at most
 *   ADDR_LOCAL_MAX; the domain ADDR_DOMAIN_MAX, each label ADDR_LABEL_MAX.
 * - A dot-atom is atext and "." (RFC 5322 3.2.3).  As Postfix does, the
 *   dots are not policed: ".a", "a." and "a..b" are accepted (real
 *   mailboxes of that form exist); addr_quote_local() writes them back
 *   out as quoted strings, which is the RFC's form.
 * - A quoted string holds printable ASCII (and UTF-8 under SMTPUTF8);
 *   "\" escapes one printable ASCII character.  It must not be empty.
 * - A domain is labels of letters, digits, "-" and "_" ("_" is not LDH but
 *   exists in the wild; Postfix allows it too), no label starting or
 *   ending with "-", no empty label, no trailing dot, not all-numeric
 *   (an IP address must be written as a literal).
 * - An address literal is [dotted-quad] or [IPv6:address], validated with
 *   inet_pton(); the "IPv6" tag is case-insensitive; other tags of the
 *   General-address-literal form are refused.
 * - Non-ASCII octets (local part or domain) are allowed only with
 *   ADDR_OPT_SMTPUTF8, and then must be well-formed UTF-8 (no overlong
 *   forms, no surrogates, nothing above U+10FFFF).  Without the option any
 *   non-ASCII octet gives ADDR_ERR_UTF8_NOT_ALLOWED (553 5.6.7); with it,
 *   malformed UTF-8 gives ADDR_ERR_UTF8_INVALID (a syntax error).
 *
 * Results: the local part both unquoted (the canonical form that tables
 * and comparisons use) and as written; the domain as written and with its
 * ASCII letters lower-cased (non-ASCII is compared octet for octet).
 *
 * Errors are distinct values; smtp_cmd.h maps them to replies: 501 5.1.7
 * (sender) or 501 5.1.3 (recipient), and 553 5.6.7 for non-ASCII without
 * SMTPUTF8.  Nothing here allocates except the struct str fields.
 */
#ifndef TERN_ADDR_H
#define TERN_ADDR_H

#include <stddef.h>

#include "str.h"

#define ADDR_LOCAL_MAX   64  /* octets of a local part as written (RFC 5321 4.5.3.1.1) */
#define ADDR_DOMAIN_MAX  255 /* octets of a domain or address literal (4.5.3.1.2) */
#define ADDR_LABEL_MAX   63  /* octets of one domain label (RFC 1035 2.3.4) */
#define ADDR_PATH_MAX    256 /* octets of a path, "<" and ">" included (4.5.3.1.3) */
#define ADDR_LITERAL_MAX 64  /* octets inside "[...]": room for any IPv6 text form */

enum addr_path_type {
	ADDR_REVERSE_PATH, /* MAIL FROM: "<>" allowed */
	ADDR_FORWARD_PATH  /* RCPT TO: "<postmaster>" allowed */
};

#define ADDR_OPT_SMTPUTF8 0x01 /* the client gave SMTPUTF8: UTF-8 is allowed */

enum addr_status {
	ADDR_OK = 0,
	ADDR_ERR_NO_OPEN,          /* does not start with "<" */
	ADDR_ERR_NO_CLOSE,         /* no ">" where the path should end */
	ADDR_ERR_TRAILING,         /* something other than SP after ">" */
	ADDR_ERR_NULL_NOT_ALLOWED, /* "<>" as a forward-path */
	ADDR_ERR_ROUTE,            /* malformed source route */
	ADDR_ERR_EMPTY_LOCAL,      /* "<@domain>" or '""@domain' */
	ADDR_ERR_LOCAL,            /* a character not allowed in a dot-atom */
	ADDR_ERR_QUOTED,           /* bad character, bad escape or no closing quote */
	ADDR_ERR_NO_DOMAIN,        /* no "@domain" (other than "<postmaster>") */
	ADDR_ERR_DOMAIN,           /* malformed domain or label */
	ADDR_ERR_NUMERIC_DOMAIN,   /* all-numeric domain: must be an address literal */
	ADDR_ERR_LITERAL,          /* malformed address literal or unknown tag */
	ADDR_ERR_LOCAL_TOO_LONG,   /* local part over ADDR_LOCAL_MAX */
	ADDR_ERR_DOMAIN_TOO_LONG,  /* domain over ADDR_DOMAIN_MAX */
	ADDR_ERR_LABEL_TOO_LONG,   /* a label over ADDR_LABEL_MAX */
	ADDR_ERR_PATH_TOO_LONG,    /* path over ADDR_PATH_MAX */
	ADDR_ERR_UTF8_INVALID,     /* malformed UTF-8 (with SMTPUTF8) */
	ADDR_ERR_UTF8_NOT_ALLOWED, /* non-ASCII without SMTPUTF8: 553 5.6.7 */
	ADDR_STATUS_COUNT
};

/* struct addr flags */
#define ADDR_IS_NULL           0x01 /* "<>": everything else is empty */
#define ADDR_IS_POSTMASTER     0x02 /* "<postmaster>" without a domain */
#define ADDR_LOCAL_POSTMASTER  0x04 /* local part is "postmaster" in any case, any domain */
#define ADDR_HAD_ROUTE         0x08 /* a source route was given (and dropped) */
#define ADDR_IS_LITERAL        0x10 /* the domain is an address literal */
#define ADDR_HAS_UTF8          0x20 /* a non-ASCII octet in the local part or domain */
#define ADDR_WAS_QUOTED        0x40 /* the local part was a quoted string */
#define ADDR_LOCAL_NEEDS_QUOTE 0x80 /* the unquoted local part is not a strict dot-atom */

struct addr {
	struct str local;      /* local part with quotes and escapes removed */
	struct str local_wire; /* local part exactly as the client wrote it */
	struct str domain;     /* domain or "[literal]" as written; "" when none */
	struct str domain_lc;  /* the same, ASCII letters lower-cased */
	unsigned flags;
	int literal_family;             /* AF_INET or AF_INET6 for a literal, else 0 */
	unsigned char literal_addr[16]; /* network byte order (4 octets for AF_INET) */
};

void addr_init(struct addr *a);
void addr_reset(struct addr *a);
void addr_free(struct addr *a);

/*
 * Parse a path that starts at s[0] ("<") and ends at the matching ">".
 * s need not be NUL-terminated; len bounds the scan.  On ADDR_OK, a holds
 * the result and *used (if not NULL) the octets from "<" to ">"
 * inclusive; the caller decides what may follow.  On error a is reset
 * and *used is undefined.
 */
enum addr_status addr_parse_path(const char *s, size_t len, enum addr_path_type type, unsigned opts,
        struct addr *a, size_t *used);

/*
 * Parse a bare mailbox (local-part "@" domain, no brackets, no route),
 * which must fill s[0..len) exactly: for VRFY arguments, the ORCPT
 * parameter and local submission.  Limits as above, without the path.
 */
enum addr_status addr_parse_mailbox(const char *s, size_t len, unsigned opts, struct addr *a);

/* A short static description of a status, for replies and logs. */
const char *addr_strerror(enum addr_status st);

/*
 * Append an unquoted local part in its RFC 5321 form: unchanged when it is
 * a strict dot-atom (UTF-8 counts as atext), else a quoted string with
 * "\" before each '"' and '\'.  The empty local part becomes '""'.
 */
void addr_quote_local(const char *local, size_t len, struct str *out);

/* Does this unquoted local part need quoting (not a strict dot-atom)? */
int addr_local_needs_quote(const char *local, size_t len);

/*
 * Append the address in RFC 5321 form without brackets: quoted local
 * part, "@", domain as written.  The null sender appends nothing;
 * "<postmaster>" appends the local part alone.
 */
void addr_format(const struct addr *a, struct str *out);

/*
 * The domain of an address in internal (unquoted) or external form: the
 * text after the last "@" (a domain never contains one), or NULL when
 * there is no "@".
 */
const char *addr_domain_of(const char *address);

/* 1 when s[0..len) holds only ASCII octets (0..127), else 0. */
int addr_is_ascii(const char *s, size_t len);

/* 1 when s[0..len) is well-formed UTF-8 (ASCII included), else 0. */
int addr_utf8_valid(const char *s, size_t len);

/*
 * 1 when an unquoted local part holds a character that some mailer would
 * take as routing: "%" (user%host), "!" (host!user) or "@" (a quoted "@",
 * or the remains of a source route).  The relay check uses it so that such
 * addresses in our own domains stay local and are never routed on.
 */
int addr_local_has_routing(const char *local, size_t len);

#endif
