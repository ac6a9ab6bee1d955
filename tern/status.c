/*
 * status.c - "tern status [--json]": what master is running.
 *
 * Asks master's control socket (request=status) and prints the master's
 * facts, one line per process (pid, service, type, state, connections
 * served, age) and one per listening socket (service, type, address,
 * state).  --json prints the same as one JSON object:
 *
 *	{"running": true, "pid": N, "started": T, "mode": "...",
 *	 "config_directory": "...", "queue_directory": "...", "state": "...",
 *	 "processes": [{"pid": N, "service": "...", "type": "...",
 *			"state": "ready|busy|exiting", "started": T, "served": N}],
 *	 "listeners": [{"service": "...", "type": "...", "address": "...",
 *			"state": "listening|throttled", "processes": N}]}
 *
 * When master is not running: "tern: the master is not running" (or
 * {"running": false}) and exit status 1.  Trusts master's reply only as
 * far as the attribute getters check it.  Called by tern.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "config.h"
#include "mem.h"
#include "msg.h"
#include "tern.h"

#define STATUS_FIELDS_MAX 8 /* attributes in one process or listener group */

struct group_def {
	const char *prefix; /* "proc_" or "listener_" */
	const char *first;  /* the attribute that starts a group */
	const char *const *fields;
	const int *numeric;
};

static const char *const proc_fields[] = {
        "pid", "service", "type", "state", "started", "served", NULL};
static const int proc_numeric[] = {1, 0, 0, 0, 1, 1};
static const char *const listener_fields[] = {
        "service", "type", "address", "state", "processes", NULL};
static const int listener_numeric[] = {0, 0, 0, 0, 1};

static const struct group_def groups[] = {
        {"proc_", "proc_pid", proc_fields, proc_numeric},
        {"listener_", "listener_service", listener_fields, listener_numeric},
};

static void
json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static int
field_index(const struct group_def *g, const char *name)
{
	for (int i = 0; g->fields[i]; i++)
		if (strcmp(g->fields[i], name) == 0)
			return i;
	return -1;
}

struct row {
	const char *f[STATUS_FIELDS_MAX];
};

/* Collect each group's attributes in order: rows[k].f[field]. */
static int
collect(const struct attr_list *r, const struct group_def *g, struct row **rows)
{
	struct row *v = NULL;
	size_t plen = strlen(g->prefix);
	int n = 0;

	for (size_t i = 0; i < r->n; i++) {
		const char *name = attr_name(r, &r->v[i]);
		const char *value = attr_value(r, &r->v[i]);
		int f;

		if (strncmp(name, g->prefix, plen) != 0)
			continue;
		if (strcmp(name, g->first) == 0) {
			v = xreallocarray(v, (size_t)n + 1, sizeof(*v));
			memset(&v[n], 0, sizeof(v[n]));
			n++;
		}
		f = field_index(g, name + plen);
		if (n > 0 && f >= 0 && memchr(value, '\0', r->v[i].value_len) == NULL)
			v[n - 1].f[f] = value;
	}
	*rows = v;
	return n;
}

static void
print_json(const struct attr_list *r)
{
	static const char *const top[] = {
	        "pid", "started", "mode", "config_directory", "queue_directory", "state", NULL};

	printf("{\"running\": true");
	for (int i = 0; top[i]; i++) {
		const char *v = attr_get_str(r, top[i]);

		printf(", \"%s\": ", top[i]);
		if (v == NULL)
			printf("null");
		else if (i < 2)
			printf("%lld", atoll(v));
		else
			json_string(v);
	}
	for (size_t gi = 0; gi < sizeof(groups) / sizeof(groups[0]); gi++) {
		const struct group_def *g = &groups[gi];
		struct row *v;
		int n = collect(r, g, &v);

		printf(", \"%s\": [", gi == 0 ? "processes" : "listeners");
		for (int k = 0; k < n; k++) {
			printf("%s{", k ? ", " : "");
			for (int f = 0; g->fields[f]; f++) {
				const char *val = v[k].f[f] ? v[k].f[f] : "";

				printf("%s\"%s\": ", f ? ", " : "", g->fields[f]);
				if (g->numeric[f])
					printf("%lld", atoll(val));
				else
					json_string(val);
			}
			printf("}");
		}
		printf("]");
		free(v);
	}
	printf("}\n");
}

static const char *
age(const char *since, char *buf, size_t size)
{
	long long secs = (long long)time(NULL) - (since ? atoll(since) : 0);

	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, size, "%llds", secs);
	else if (secs < 7200)
		snprintf(buf, size, "%lldm", secs / 60);
	else if (secs < 172800)
		snprintf(buf, size, "%lldh", secs / 3600);
	else
		snprintf(buf, size, "%lldd", secs / 86400);
	return buf;
}

#define S(x) ((x) ? (x) : "?")

static void
print_text(const struct attr_list *r)
{
	struct row *v;
	char buf[32];
	int n;

	printf("master: pid %s, %s, %s mode, up %s\n", S(attr_get_str(r, "pid")),
	        S(attr_get_str(r, "state")), S(attr_get_str(r, "mode")),
	        age(attr_get_str(r, "started"), buf, sizeof(buf)));
	printf("configuration: %s\nqueue: %s\n", S(attr_get_str(r, "config_directory")),
	        S(attr_get_str(r, "queue_directory")));
	n = collect(r, &groups[0], &v);
	printf("\nprocesses: %d\n", n);
	if (n > 0)
		printf("  %-8s %-24s %-5s %-8s %7s %6s\n", "PID", "SERVICE", "TYPE", "STATE",
		        "SERVED", "AGE");
	for (int k = 0; k < n; k++)
		printf("  %-8s %-24s %-5s %-8s %7s %6s\n", S(v[k].f[0]), S(v[k].f[1]), S(v[k].f[2]),
		        S(v[k].f[3]), S(v[k].f[5]), age(v[k].f[4], buf, sizeof(buf)));
	free(v);
	n = collect(r, &groups[1], &v);
	printf("\nlisteners: %d\n", n);
	if (n > 0)
		printf("  %-24s %-5s %-32s %-10s %s\n", "SERVICE", "TYPE", "ADDRESS", "STATE",
		        "PROCESSES");
	for (int k = 0; k < n; k++)
		printf("  %-24s %-5s %-32s %-10s %s\n", S(v[k].f[0]), S(v[k].f[1]), S(v[k].f[2]),
		        S(v[k].f[3]), S(v[k].f[4]));
	free(v);
}

int
tern_status(int argc, char **argv, const char *confdir)
{
	struct str errors = STR_INIT, warnings = STR_INIT, err = STR_INIT;
	struct config *c;
	struct attr_list r;
	int json = 0, not_running, rc = EX_OK;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else {
			fprintf(stderr, "usage: tern [-c CONFDIR] status [--json]\n");
			return EX_USAGE;
		}
	}
	c = config_new();
	/* Only queue_directory matters here: see control.c. */
	(void)config_load_dir(c, confdir, &errors, &warnings);
	if (!config_valid(c, "queue_directory", &errors)) {
		fprintf(stderr, "%s", str_cstr(&errors));
		msg_fatal("%s/main.cf: configuration errors", confdir);
	}
	attr_list_init(&r);
	if (tern_control_request(c, "status", &r, &not_running, &err) < 0) {
		if (json)
			printf("{\"running\": false}\n");
		if (not_running)
			msg_error("the master is not running");
		else
			msg_error("%s", str_cstr(&err));
		rc = 1;
	} else if (json) {
		print_json(&r);
	} else {
		print_text(&r);
	}
	attr_list_free(&r);
	config_free(c);
	str_free(&errors);
	str_free(&warnings);
	str_free(&err);
	return rc;
}
