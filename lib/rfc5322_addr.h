/*
 * rfc5322_addr.h - addresses in message headers (RFC 5322 3.4): read the
 * address lists of To:, Cc:, Bcc: and friends, and write a mailbox for
 * From:.
 *
 * Reading is lenient, as a mail system must be with what users' programs
 * write: an address list is items separated by ",", each item
 *
 *	addr-spec				user@example.com
 *	display-name <addr-spec>		John Doe <john@example.com>
 *	"quoted name" <[@route,@route:]addr>	the route is dropped
 *	addr-spec (comment)			old style: the comment is the name
 *	group-name: item, item ... ;		the members are taken, the
 *						group's name dropped
 *
 * Comments (nested, with quoted pairs) are allowed between any tokens;
 * blanks and comments inside an addr-spec are ignored ("john . doe @
 * example.com" is john.doe@example.com, RFC 5322 4.4).  A quoted local
 * part is unquoted: addresses come out in the internal form that the
 * envelope and the queue file use, local part without quotes or escapes,
 * "@", domain as written ("a b"@example.com is "a b@example.com").  An
 * address without "@" is returned as it is (the caller qualifies it).
 * Empty items, "<>", and items that are not addresses (a stray special,
 * an unclosed quote or comment) are skipped and counted.  Octets of 0x80
 * and above are taken as text (RFC 6532); control characters are skipped
 * items.
 *
 * Writing: rfc5322_format_mailbox() appends "name <addr>" with the name
 * as atoms when it can be, else as a quoted string, and as RFC 2047
 * encoded words (UTF-8, base64) when it holds non-ASCII; the local part
 * is quoted when it is not a dot-atom (addr_quote_local).
 */
#ifndef TERN_RFC5322_ADDR_H
#define TERN_RFC5322_ADDR_H

#include <stddef.h>

#include "str.h"

#define RFC5322_ADDR_TEXT_MAX 4096 /* octets of an address or a name; longer items are skipped */

struct rfc5322_addr {
	struct str addr; /* internal form: local part unquoted, "@", domain */
	struct str name; /* display name (unquoted, blanks collapsed), "" when none */
};

struct rfc5322_addr_list {
	struct rfc5322_addr *v;
	size_t n;
	size_t cap;
};

void rfc5322_addr_list_init(struct rfc5322_addr_list *l);
void rfc5322_addr_list_free(struct rfc5322_addr_list *l);

/*
 * Parse the address list value[0..len) (a header value, folded or not)
 * and append its addresses to l, at most max of them.  Returns the
 * number appended; *skipped (when not NULL) gets the number of items that
 * were not addresses, plus those beyond max.
 */
size_t rfc5322_addr_parse(
        const char *value, size_t len, struct rfc5322_addr_list *l, size_t max, size_t *skipped);

/* Append "name <addr>", or addr alone when name is "" (see above). */
void rfc5322_format_mailbox(const char *name, const char *addr, struct str *out);

#endif
