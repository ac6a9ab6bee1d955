/*
 * mastercf.c - parse master.cf into struct service entries; see
 * mastercf.h for the format and the diagnostics.
 *
 * Trusts master.cf as the administrator's file but bounds every line and
 * field and reports each fault with "file:line".  Called by master, by
 * `tern check`, and by daemons looking up their -o overrides.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "mastercf.h"
#include "mem.h"
#include "parse.h"
#include "str.h"

/* Well-known ports by name, so that master.cf does not depend on
 * /etc/services being installed. */
static const struct {
	const char *name;
	const char *port;
} known_ports[] = {
        {"smtp", "25"},
        {"submission", "587"},
        {"smtps", "465"},
        {"submissions", "465"},
};

const char *
service_type_name(enum service_type type)
{
	return type == SERVICE_INET ? "inet" : "unix";
}

static int
port_lookup(const char *s, char **port, struct str *why)
{
	struct servent *se;
	long long n;
	const char *reason;
	char buf[16];

	if (isdigit((unsigned char)*s)) {
		if (parse_int(s, 1, 65535, &n, &reason) < 0) {
			str_printf(why, "bad port \"%s\": %s", s, reason);
			return -1;
		}
		snprintf(buf, sizeof(buf), "%lld", n);
		*port = xstrdup(buf);
		return 0;
	}
	for (size_t i = 0; i < sizeof(known_ports) / sizeof(known_ports[0]); i++) {
		if (strcmp(s, known_ports[i].name) == 0) {
			*port = xstrdup(known_ports[i].port);
			return 0;
		}
	}
	if (*s && (se = getservbyname(s, "tcp")) != NULL) {
		snprintf(buf, sizeof(buf), "%d", ntohs((unsigned short)se->s_port));
		*port = xstrdup(buf);
		return 0;
	}
	str_printf(why, "unknown port \"%s\"", s);
	return -1;
}

int
mastercf_parse_inet(const char *name, char **host, char **port, struct str *why)
{
	const char *colon, *hstart = NULL, *pstart = name;
	size_t hlen = 0;

	*host = *port = NULL;
	if (*name == '[') {
		const char *end = strchr(name, ']');

		if (end == NULL || end[1] != ':' || end == name + 1) {
			str_printf(why, "bad inet service \"%s\" (expected [address]:port)", name);
			return -1;
		}
		hstart = name + 1;
		hlen = (size_t)(end - hstart);
		pstart = end + 2;
	} else if ((colon = strrchr(name, ':')) != NULL) {
		hstart = name;
		hlen = (size_t)(colon - name);
		pstart = colon + 1;
		if (hlen == 0 || memchr(name, ':', hlen) != NULL) {
			str_printf(why, "bad inet service \"%s\" (IPv6 addresses go in [])", name);
			return -1;
		}
		if (hlen == 1 && *name == '*')
			hstart = NULL;
	}
	if (port_lookup(pstart, port, why) < 0)
		return -1;
	if (hstart)
		*host = xstrndup(hstart, hlen);
	return 0;
}

/* Split a logical line into fields at white space. */
static int
split_fields(char *line, char **fields, int max)
{
	int n = 0;
	char *p = line;

	for (;;) {
		while (isspace((unsigned char)*p))
			*p++ = '\0';
		if (*p == '\0' || n == max)
			return *p ? -1 : n;
		fields[n++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
	}
}

static int
parse_yn(const char *s, int *v)
{
	if (strcmp(s, "y") == 0 || strcmp(s, "-") == 0)
		*v = 1;
	else if (strcmp(s, "n") == 0)
		*v = 0;
	else
		return -1;
	return 0;
}

static int
name_ok(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > MASTERCF_NAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && strchr("._-:[]*", *s) == NULL)
			return 0;
	return 1;
}

static void
service_free(struct service *s)
{
	free(s->name);
	free(s->command);
	if (s->argv)
		for (int i = 0; s->argv[i]; i++)
			free(s->argv[i]);
	free(s->argv);
	for (int i = 0; i < s->noverrides; i++) {
		free(s->overrides[i].name);
		free(s->overrides[i].value);
	}
	free(s->overrides);
	free(s->host);
	free(s->port);
	free(s->file);
	free(s->where);
}

void
mastercf_free(struct mastercf *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->count; i++)
		service_free(&m->services[i]);
	free(m->services);
	free(m);
}

/* Check one -o override; 0 or 1 error. */
static int
check_override(struct service *s, const char *arg, struct str *errors, struct str *warnings)
{
	const char *eq = strchr(arg, '=');
	const struct param_def *p;
	struct str why = STR_INIT;
	struct service_override *o;
	size_t nlen = eq ? (size_t)(eq - arg) : 0;
	int bad = 0;

	if (nlen == 0 || nlen > CONFIG_NAME_MAX) {
		str_printf(errors, "%s: expected -o name=value, not \"-o %s\"\n", s->where, arg);
		return 1;
	}
	for (size_t i = 0; i < nlen; i++) {
		if (!isalnum((unsigned char)arg[i]) && arg[i] != '_') {
			str_printf(errors, "%s: bad parameter name in \"-o %s\"\n", s->where, arg);
			return 1;
		}
	}
	s->overrides = xreallocarray(s->overrides, (size_t)s->noverrides + 1, sizeof(*o));
	o = &s->overrides[s->noverrides++];
	o->name = xstrndup(arg, nlen);
	o->value = xstrdup(eq + 1);
	if ((p = param_find(o->name)) == NULL) {
		if (warnings)
			str_printf(warnings, "%s: unknown parameter %s in -o\n", s->where, o->name);
	} else if (strchr(o->value, '$') == NULL && param_check_value(p, o->value, &why) < 0) {
		str_printf(errors, "%s: parameter %s: %s\n", s->where, o->name, str_cstr(&why));
		bad = 1;
	}
	str_free(&why);
	return bad;
}

/* Fill s from the fields of one entry; return the error count. */
static int
parse_service(struct service *s, char **f, int n, long long default_maxproc, struct str *errors,
        struct str *warnings)
{
	struct str why = STR_INIT;
	const char *reason;
	long long v;
	int nerr = 0;

	if (n < 8) {
		str_printf(errors,
		        "%s: expected at least 8 fields (service type private unpriv chroot wakeup "
		        "maxproc command), found %d\n",
		        s->where, n);
		return 1;
	}
	s->name = xstrdup(f[0]);
	if (strcmp(f[1], "inet") == 0) {
		s->type = SERVICE_INET;
	} else if (strcmp(f[1], "unix") == 0) {
		s->type = SERVICE_UNIX;
	} else {
		str_printf(errors, "%s: unknown service type \"%s\" (use inet or unix)\n", s->where,
		        f[1]);
		return 1;
	}
	if (s->type == SERVICE_INET) {
		if (mastercf_parse_inet(f[0], &s->host, &s->port, &why) < 0) {
			str_printf(errors, "%s: %s\n", s->where, str_cstr(&why));
			nerr++;
		}
	} else if (!name_ok(f[0]) || strpbrk(f[0], ":[]*") != NULL) {
		str_printf(errors, "%s: bad unix service name \"%s\"\n", s->where, f[0]);
		nerr++;
	}
	str_free(&why);
	if (parse_yn(f[2], &s->private) < 0 || parse_yn(f[3], &s->unpriv) < 0 ||
	        parse_yn(f[4], &s->chroot) < 0) {
		str_printf(errors,
		        "%s: private, unpriv and chroot must each be y, n or -, not \"%s %s %s\"\n",
		        s->where, f[2], f[3], f[4]);
		nerr++;
	}
	if (strcmp(f[5], "-") == 0) {
		s->wakeup = 0;
	} else {
		size_t len = strlen(f[5]);

		if (len > 1 && f[5][len - 1] == '?')
			f[5][len - 1] = '\0';
		if (parse_int(f[5], 0, MASTERCF_WAKEUP_MAX, &v, &reason) < 0) {
			str_printf(errors, "%s: bad wakeup \"%s\": %s (0..%d or -)\n", s->where,
			        f[5], reason, MASTERCF_WAKEUP_MAX);
			nerr++;
		} else {
			s->wakeup = (int)v;
		}
	}
	if (strcmp(f[6], "-") == 0) {
		s->maxproc = (int)default_maxproc;
		s->maxproc_default = 1;
	} else if (parse_int(f[6], 0, MASTERCF_MAXPROC_MAX, &v, &reason) < 0) {
		str_printf(errors, "%s: bad maxproc \"%s\": %s (0..%d or -)\n", s->where, f[6],
		        reason, MASTERCF_MAXPROC_MAX);
		nerr++;
	} else {
		s->maxproc = (int)v;
	}
	if (f[7][0] != '/' && (strchr(f[7], '/') != NULL || !name_ok(f[7]))) {
		str_printf(errors, "%s: bad command \"%s\" (a program in daemon_directory)\n",
		        s->where, f[7]);
		nerr++;
	}
	s->command = xstrdup(f[7]);
	s->argv = xcalloc((size_t)n - 6, sizeof(*s->argv));
	s->argv[s->argc++] = xstrdup(f[7]);
	for (int i = 8; i < n; i++) {
		if (strcmp(f[i], "-o") == 0) {
			if (i + 1 == n) {
				str_printf(errors, "%s: \"-o\" without name=value\n", s->where);
				nerr++;
			} else {
				nerr += check_override(s, f[++i], errors, warnings);
			}
		} else {
			s->argv[s->argc++] = xstrdup(f[i]);
		}
	}
	return nerr;
}

/* Same name and type, or the same inet address and port. */
static const struct service *
find_clash(const struct mastercf *m, const struct service *s)
{
	for (int i = 0; i < m->count; i++) {
		const struct service *o = &m->services[i];

		if (o->type != s->type)
			continue;
		if (strcmp(o->name, s->name) == 0)
			return o;
		if (s->type == SERVICE_INET && o->port && s->port &&
		        strcmp(o->port, s->port) == 0 &&
		        (o->host == NULL || s->host == NULL || strcmp(o->host, s->host) == 0))
			return o;
	}
	return NULL;
}

static int
add_entry(struct mastercf *m, const char *path, unsigned long line, struct str *text,
        long long default_maxproc, struct str *errors, struct str *warnings)
{
	char *fields[MASTERCF_FIELDS_MAX];
	struct service s;
	const struct service *clash;
	struct str where = STR_INIT;
	int n, nerr;

	memset(&s, 0, sizeof(s));
	s.file = xstrdup(path);
	s.line = line;
	str_printf(&where, "%s:%lu", path, line);
	s.where = str_steal(&where);
	if ((n = split_fields((char *)str_cstr(text), fields, MASTERCF_FIELDS_MAX)) < 0) {
		str_printf(errors, "%s: more than %d fields\n", s.where, MASTERCF_FIELDS_MAX);
		service_free(&s);
		return 1;
	}
	nerr = parse_service(&s, fields, n, default_maxproc, errors, warnings);
	if (nerr == 0 && (clash = find_clash(m, &s)) != NULL) {
		if (strcmp(clash->name, s.name) == 0)
			str_printf(errors,
			        "%s: duplicate service \"%s\" (%s), first defined at %s\n", s.where,
			        s.name, service_type_name(s.type), clash->where);
		else
			str_printf(errors,
			        "%s: service \"%s\" listens on the port of service \"%s\" at %s\n",
			        s.where, s.name, clash->name, clash->where);
		nerr++;
	}
	if (nerr) {
		service_free(&s);
		return nerr;
	}
	m->services = xreallocarray(m->services, (size_t)m->count + 1, sizeof(s));
	m->services[m->count++] = s;
	return 0;
}

static int
ignorable(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && isspace((unsigned char)s[i]))
		i++;
	return i == len || s[i] == '#';
}

struct mastercf *
mastercf_load(
        const char *path, struct config *c, struct str *errors, struct str *warnings, int *nerrors)
{
	struct mastercf *m = xcalloc(1, sizeof(*m));
	struct str entry = STR_INIT;
	unsigned long lineno = 0, start = 0;
	long long default_maxproc = 100;
	char *buf = NULL;
	size_t bufsize = 0;
	ssize_t n;
	int skipping = 0;
	FILE *fp;

	*nerrors = 0;
	if (c && config_valid(c, "default_process_limit", NULL)) {
		default_maxproc = config_int(c, "default_process_limit");
	} else {
		const struct param_def *p = param_find("default_process_limit");
		const char *reason;

		if (p)
			parse_int(p->defval, 0, MASTERCF_MAXPROC_MAX, &default_maxproc, &reason);
	}
	if ((fp = fopen(path, "r")) == NULL) {
		str_printf(errors, "%s: cannot open: %s\n", path, strerror(errno));
		*nerrors = 1;
		return m;
	}
	while ((n = getline(&buf, &bufsize, fp)) >= 0) {
		size_t len = (size_t)n;

		lineno++;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		if (ignorable(buf, len))
			continue;
		if (!isspace((unsigned char)buf[0])) {
			if (entry.len > 0 && !skipping)
				*nerrors += add_entry(
				        m, path, start, &entry, default_maxproc, errors, warnings);
			str_reset(&entry);
			skipping = 0;
			start = lineno;
		} else if (start == 0) {
			str_printf(errors,
			        "%s:%lu: continuation line without a service before it\n", path,
			        lineno);
			++*nerrors;
			skipping = 1;
			start = lineno;
			continue;
		}
		if (skipping)
			continue;
		if (memchr(buf, '\0', len) != NULL || entry.len + len + 1 > MASTERCF_LINE_MAX) {
			if (memchr(buf, '\0', len) != NULL)
				str_printf(
				        errors, "%s:%lu: line contains a NUL byte\n", path, lineno);
			else
				str_printf(errors, "%s:%lu: line longer than %d bytes\n", path,
				        lineno, MASTERCF_LINE_MAX);
			++*nerrors;
			skipping = 1;
			continue;
		}
		str_appendc(&entry, ' ');
		str_append(&entry, buf, len);
	}
	if (ferror(fp)) {
		str_printf(errors, "%s: read error: %s\n", path, strerror(errno));
		++*nerrors;
	} else if (entry.len > 0 && !skipping) {
		*nerrors += add_entry(m, path, start, &entry, default_maxproc, errors, warnings);
	}
	fclose(fp);
	free(buf);
	str_free(&entry);
	return m;
}

const struct service *
mastercf_find(const struct mastercf *m, const char *name, enum service_type type)
{
	for (int i = 0; i < m->count; i++)
		if (m->services[i].type == type && strcmp(m->services[i].name, name) == 0)
			return &m->services[i];
	return NULL;
}

int
mastercf_apply_overrides(const struct service *s, struct config *c, struct str *errors)
{
	int nerr = 0;

	for (int i = 0; i < s->noverrides; i++)
		if (config_set(c, s->overrides[i].name, s->overrides[i].value, s->where, errors) <
		        0)
			nerr++;
	return nerr;
}
