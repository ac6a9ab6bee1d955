/*
 * header.h - RFC 5322 header fields: recognise them, read their values,
 * and write new ones folded into lines of legal length.
 *
 * A header field is one line "Name: value" followed by any number of
 * continuation lines, each starting with SP or HT.  The functions here
 * take a field as one buffer whose lines are separated by LF (or CRLF),
 * without the final line end: the form in which cleanup keeps a message's
 * header and the queue file stores it.
 *
 *	header_field_name	length of the name when a line starts a field:
 *				printable ASCII other than ":", then optional
 *				blanks, then ":" (RFC 5322 3.6.8, with the
 *				obsolete blanks before the colon); else 0
 *	header_is_continuation	the line starts with SP or HT
 *	header_field_is		the field has this name (any case)
 *	header_field_value	the value: after the colon, unfolded, without
 *				leading and trailing blanks
 *	header_fold		append "Name: value" folded at blanks so that
 *				lines stay near HEADER_LINE_SOFT octets and
 *				never exceed HEADER_LINE_MAX
 *	header_fold_phrases	the same, keeping each phrase (a clause of
 *				Received:) on one line where it fits
 *
 * Nothing here allocates except through struct str; nothing is trusted:
 * every length is the caller's buffer length.
 */
#ifndef TERN_HEADER_H
#define TERN_HEADER_H

#include <stddef.h>

#include "str.h"

#define HEADER_LINE_MAX  998 /* octets in one line without its line end (RFC 5322 2.1.1) */
#define HEADER_LINE_SOFT 78  /* what folding aims at (RFC 5322 2.1.1 "SHOULD") */
#define HEADER_NAME_MAX  256 /* a longer name is not taken for a header field */

/* The length of the name when line[0..len) starts a header field, else 0. */
size_t header_field_name(const char *line, size_t len);

/* 1 when line[0..len) starts with SP or HT, else 0. */
int header_is_continuation(const char *line, size_t len);

/* 1 when field[0..len) is a header field named name (ASCII case ignored). */
int header_field_is(const char *field, size_t len, const char *name);

/*
 * Append the value of field[0..len) to out: the text after the colon with
 * every line end (LF or CRLF) removed, and without leading and trailing
 * blanks.  Appends nothing when field is not a header field.
 */
void header_field_value(const char *field, size_t len, struct str *out);

/*
 * Append the field "name: value" to out, each line ended by LF.  value is
 * words separated by single spaces (no line ends); a space becomes a fold
 * ("\n\t") where the line would otherwise pass HEADER_LINE_SOFT octets.
 * Words are never split.  Returns 0, or -1 (out unchanged) when value
 * holds a CR or LF, or a word cannot fit within HEADER_LINE_MAX.
 */
int header_fold(struct str *out, const char *name, const char *value);

/*
 * Append the field "name: p1 p2 ...", each phrase on the current line
 * when it fits within HEADER_LINE_SOFT, else at the start of a new
 * continuation line; a phrase longer than that is folded at its blanks
 * like header_fold.  Same results as header_fold.
 */
int header_fold_phrases(struct str *out, const char *name, const char *const *phrases, size_t n);

#endif
