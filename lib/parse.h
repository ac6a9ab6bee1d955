/*
 * parse.h - parse the typed values of parameters and protocol fields.
 *
 * Each function accepts the whole string or fails: no leading or trailing
 * junk, no overflow, no negative values where none make sense.  On
 * failure it returns -1 and sets *why to a static description.
 *
 *	parse_duration("10m", 's', &secs, &why)   units s m h d w; a bare
 *						   number takes default_unit
 *	parse_size("10240000", &bytes, &why)	   bytes; suffix k, m, g
 *						   (powers of 1024)
 *	parse_bool("yes", &b, &why)		   yes/no true/false on/off 1/0
 *	parse_int("42", min, max, &v, &why)	   decimal, within [min, max]
 */
#ifndef TERN_PARSE_H
#define TERN_PARSE_H

int parse_duration(const char *s, int default_unit, long long *seconds, const char **why);
int parse_size(const char *s, long long *bytes, const char **why);
int parse_bool(const char *s, int *value, const char **why);
int parse_int(const char *s, long long min, long long max, long long *value, const char **why);
void format_duration(long long seconds, char *buf, unsigned long size);

#endif
