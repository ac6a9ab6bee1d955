/*
 * rfc5322_addr.c - addresses in message headers; see rfc5322_addr.h.
 *
 * Trusts nothing in the header value: it comes from whoever wrote the
 * message.  Every token and every item is bounded; a malformed item is
 * skipped, never guessed at.  Called by cleanup (recipients from the
 * headers for "sendmail -t", the From: header of local submissions).
 */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "mem.h"
#include "rfc5322_addr.h"

#define RFC5322_TOKEN_MAX    16384 /* tokens read from one header value */
#define RFC5322_COMMENT_NEST 32    /* nesting of comments */
#define RFC2047_CHUNK        45    /* input octets per encoded word (60 in base64) */

enum tok_type {
	TOK_ATOM,
	TOK_QSTRING, /* text without the quotes and escapes */
	TOK_LITERAL, /* "[...]" as written */
	TOK_SPECIAL, /* one of ()<>[]:;@\,." */
	TOK_COMMENT, /* text without the parentheses */
};

struct tok {
	enum tok_type type;
	size_t start, len; /* in the token text buffer */
	int blank_before;  /* white space or a comment came before it */
};

struct toks {
	struct tok *v;
	size_t n, cap;
	struct str text;
	int bad; /* an unclosed quote, comment or literal, or a control character */
};

void
rfc5322_addr_list_init(struct rfc5322_addr_list *l)
{
	l->v = NULL;
	l->n = 0;
	l->cap = 0;
}

void
rfc5322_addr_list_free(struct rfc5322_addr_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		str_free(&l->v[i].addr);
		str_free(&l->v[i].name);
	}
	free(l->v);
	rfc5322_addr_list_init(l);
}

static int
is_special(unsigned char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL && c != '\0';
}

static int
is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static int
is_control(unsigned char c)
{
	return c < 32 || c == 127;
}

static void
push(struct toks *t, enum tok_type type, size_t start, int blank)
{
	struct tok *k;

	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	k = &t->v[t->n++];
	k->type = type;
	k->start = start;
	k->len = t->text.len - start;
	k->blank_before = blank;
	str_appendc(&t->text, '\0');
}

/* A comment from p (after its "("); returns the octets used, 0 when unclosed. */
static size_t
read_comment(const char *p, size_t len, struct toks *t)
{
	size_t i, start = t->text.len;
	int depth = 1;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\' && i + 1 < len) {
			str_appendc(&t->text, p[++i]);
			continue;
		}
		if (c == '(') {
			if (++depth > RFC5322_COMMENT_NEST)
				return 0;
		} else if (c == ')') {
			if (--depth == 0)
				break;
		}
		if (is_control(c) && !is_blank(c))
			t->bad = 1;
		str_appendc(&t->text, is_blank(c) ? ' ' : (char)c);
	}
	if (i >= len)
		return 0;
	push(t, TOK_COMMENT, start, 1);
	return i + 1;
}

/* A quoted string from p (after its quote); returns the octets used, 0 when unclosed. */
static size_t
read_qstring(const char *p, size_t len, struct toks *t, int blank)
{
	size_t i, start = t->text.len;

	for (i = 0; i < len && p[i] != '"'; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\\' && i + 1 < len)
			c = (unsigned char)p[++i];
		if (c == '\r' || c == '\n')
			continue; /* folding inside the quotes */
		if (is_control(c) && c != '\t')
			t->bad = 1;
		str_appendc(&t->text, (char)c);
	}
	if (i >= len)
		return 0;
	push(t, TOK_QSTRING, start, blank);
	return i + 1;
}

static void
tokenize(const char *p, size_t len, struct toks *t)
{
	size_t i = 0, used;
	int blank = 0;

	while (i < len && t->n < RFC5322_TOKEN_MAX && !t->bad) {
		unsigned char c = (unsigned char)p[i];
		size_t start = t->text.len;

		if (is_blank(c)) {
			blank = 1;
			i++;
		} else if (c == '(') {
			if ((used = read_comment(p + i + 1, len - i - 1, t)) == 0)
				t->bad = 1;
			i += used + 1;
			blank = 1;
		} else if (c == '"') {
			if ((used = read_qstring(p + i + 1, len - i - 1, t, blank)) == 0)
				t->bad = 1;
			i += used + 1;
			blank = 0;
		} else if (c == '[') {
			const char *close = memchr(p + i, ']', len - i);

			if (close == NULL) {
				t->bad = 1;
				break;
			}
			str_append(&t->text, p + i, (size_t)(close - (p + i)) + 1);
			for (size_t k = start; k < t->text.len; k++)
				if (is_control((unsigned char)t->text.data[k]))
					t->bad = 1;
			push(t, TOK_LITERAL, start, blank);
			i = (size_t)(close - p) + 1;
			blank = 0;
		} else if (is_special(c)) {
			str_appendc(&t->text, (char)c);
			push(t, TOK_SPECIAL, start, blank);
			i++;
			blank = 0;
		} else if (is_control(c)) {
			t->bad = 1;
		} else {
			while (i < len && !is_blank((unsigned char)p[i]) &&
			        !is_special((unsigned char)p[i]) &&
			        !is_control((unsigned char)p[i]))
				str_appendc(&t->text, p[i++]);
			push(t, TOK_ATOM, start, blank);
			blank = 0;
		}
	}
	if (i < len)
		t->bad = 1;
}

static const char *
tok_text(const struct toks *t, size_t i)
{
	return t->text.data + t->v[i].start;
}

static int
is_char(const struct toks *t, size_t i, char c)
{
	return t->v[i].type == TOK_SPECIAL && tok_text(t, i)[0] == c;
}

/* The addr-spec of tokens [a, b): 0, or -1 when they are not one. */
static int
build_addr(const struct toks *t, size_t a, size_t b, struct str *out)
{
	for (size_t i = a; i < b; i++) {
		const struct tok *k = &t->v[i];

		if (k->type == TOK_COMMENT)
			continue;
		if (k->type == TOK_SPECIAL && !is_char(t, i, '.') && !is_char(t, i, '@'))
			return -1;
		str_append(out, tok_text(t, i), k->len);
	}
	return out->len <= RFC5322_ADDR_TEXT_MAX ? 0 : -1;
}

/* The display name of tokens [a, b): words with single blanks. */
static void
build_name(const struct toks *t, size_t a, size_t b, struct str *out)
{
	for (size_t i = a; i < b; i++) {
		const struct tok *k = &t->v[i];

		if (k->type == TOK_COMMENT)
			continue;
		if (out->len > 0 && k->blank_before)
			str_appendc(out, ' ');
		str_append(out, tok_text(t, i), k->len);
	}
}

/* One item, tokens [a, b): 1 when an address was appended, 0 when the item
 * was empty, -1 when it was not an address. */
static int
take_item(const struct toks *t, size_t a, size_t b, struct rfc5322_addr_list *l)
{
	struct str addr = STR_INIT, name = STR_INIT;
	size_t open = b, close, start, comment = b, words = 0;
	int ok;

	for (size_t i = a; i < b; i++) {
		if (t->v[i].type == TOK_COMMENT)
			comment = i;
		else
			words++;
		if (open == b && is_char(t, i, '<'))
			open = i;
	}
	if (words == 0)
		return 0;
	if (open < b) {
		for (close = open + 1; close < b && !is_char(t, close, '>'); close++)
			;
		/* Only comments may follow the ">". */
		for (size_t i = close + 1; i < b; i++)
			if (t->v[i].type != TOK_COMMENT)
				return -1;
		/* A route "@a,@b:" before the mailbox is dropped. */
		start = open + 1;
		for (size_t i = open + 1; i < close; i++)
			if (is_char(t, i, ':'))
				start = i + 1;
		ok = build_addr(t, start, close, &addr);
		build_name(t, a, open, &name);
		if (ok == 0 && addr.len == 0) {
			str_free(&addr);
			str_free(&name);
			return 0; /* "<>" */
		}
	} else {
		ok = build_addr(t, a, b, &addr);
		if (comment < b)
			str_append(&name, tok_text(t, comment), t->v[comment].len);
	}
	if (ok < 0 || name.len > RFC5322_ADDR_TEXT_MAX) {
		str_free(&addr);
		str_free(&name);
		return -1;
	}
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].addr = addr;
	l->v[l->n].name = name;
	l->n++;
	return 1;
}

size_t
rfc5322_addr_parse(
        const char *value, size_t len, struct rfc5322_addr_list *l, size_t max, size_t *skipped)
{
	struct toks t = {NULL, 0, 0, STR_INIT, 0};
	size_t added = 0, bad = 0, item = 0;
	int depth = 0, in_group = 0;

	tokenize(value, len, &t);
	if (t.bad) {
		bad++;
		goto done;
	}
	for (size_t i = 0; i <= t.n; i++) {
		int end = i == t.n;
		int rc;

		if (!end) {
			if (is_char(&t, i, '<'))
				depth++;
			else if (is_char(&t, i, '>') && depth > 0)
				depth--;
			if (depth == 0 && !in_group && is_char(&t, i, ':')) {
				in_group = 1; /* the group's name is dropped */
				item = i + 1;
				continue;
			}
			if (depth > 0 ||
			        !(is_char(&t, i, ',') || (in_group && is_char(&t, i, ';'))))
				continue;
			if (is_char(&t, i, ';'))
				in_group = 0;
		}
		if (added >= max) {
			struct rfc5322_addr_list scratch;

			rfc5322_addr_list_init(&scratch);
			if (take_item(&t, item, i, &scratch) != 0)
				bad++;
			rfc5322_addr_list_free(&scratch);
		} else if ((rc = take_item(&t, item, i, l)) > 0) {
			added++;
		} else if (rc < 0) {
			bad++;
		}
		item = i + 1;
	}
done:
	free(t.v);
	str_free(&t.text);
	if (skipped)
		*skipped = bad;
	return added;
}

/* ---- writing ---- */

static int
phrase_atoms_ok(const char *name)
{
	const char *p;

	if (*name == '\0' || *name == ' ' || name[strlen(name) - 1] == ' ')
		return 0;
	for (p = name; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == ' ' && p[1] == ' ')
			return 0;
		if (c != ' ' && (is_special(c) || is_control(c) || c >= 128))
			return 0;
	}
	return 1;
}

static void
base64(const unsigned char *p, size_t len, struct str *out)
{
	static const char digits[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		str_appendc(out, digits[(v >> 18) & 63]);
		str_appendc(out, digits[(v >> 12) & 63]);
		str_appendc(out, i + 1 < len ? digits[(v >> 6) & 63] : '=');
		str_appendc(out, i + 2 < len ? digits[v & 63] : '=');
	}
}

/* RFC 2047 encoded words, each whole UTF-8 characters. */
static void
encode_words(const char *name, struct str *out)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), i = 0;

	while (i < len) {
		size_t n = len - i < RFC2047_CHUNK ? len - i : RFC2047_CHUNK;

		/* Do not cut a UTF-8 sequence: back up to a lead octet. */
		while (i + n < len && n > 1 && (p[i + n] & 0xc0) == 0x80)
			n--;
		if (i > 0)
			str_appendc(out, ' ');
		str_appendz(out, "=?UTF-8?B?");
		base64(p + i, n, out);
		str_appendz(out, "?=");
		i += n;
	}
}

static void
format_phrase(const char *name, struct str *out)
{
	const char *p;

	if (phrase_atoms_ok(name)) {
		str_appendz(out, name);
		return;
	}
	for (p = name; *p; p++)
		if ((unsigned char)*p >= 128)
			break;
	if (*p != '\0') {
		encode_words(name, out);
		return;
	}
	str_appendc(out, '"');
	for (p = name; *p; p++) {
		if (is_control((unsigned char)*p))
			continue;
		if (*p == '"' || *p == '\\')
			str_appendc(out, '\\');
		str_appendc(out, *p);
	}
	str_appendc(out, '"');
}

static void
format_addr(const char *addr, struct str *out)
{
	const char *at = strrchr(addr, '@');

	if (at == NULL) {
		addr_quote_local(addr, strlen(addr), out);
		return;
	}
	addr_quote_local(addr, (size_t)(at - addr), out);
	str_appendz(out, at);
}

void
rfc5322_format_mailbox(const char *name, const char *addr, struct str *out)
{
	if (name == NULL || *name == '\0') {
		format_addr(addr, out);
		return;
	}
	format_phrase(name, out);
	str_appendz(out, " <");
	format_addr(addr, out);
	str_appendc(out, '>');
}
