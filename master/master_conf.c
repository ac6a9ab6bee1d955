/*
 * master_conf.c - read main.cf and master.cf into master's list of
 * services.
 *
 * Everything is validated before master uses any of it: main.cf, then
 * master.cf, then each service's -o overrides applied to a copy of
 * main.cf, as that service's processes will see them.  One error
 * anywhere refuses the whole configuration (at start-up master does not
 * start; at reload it keeps running the old one).  A service whose
 * program does not exist is left out with a warning, so a partly built
 * tree still runs what it has.  Called by master.c at start and reload.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "master.h"
#include "mastercf.h"
#include "mem.h"
#include "msg.h"

static void
log_lines(const struct str *text)
{
	const char *p = text->data, *nl;

	if (p == NULL)
		return;
	while (*p) {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			msg_warn("%s", p);
			break;
		}
		msg_warn("%.*s", (int)(nl - p), p);
		p = nl + 1;
	}
}

static char *
program_path(const struct service *sv, const char *daemon_dir)
{
	struct str path = STR_INIT;

	if (sv->command[0] == '/')
		str_appendz(&path, sv->command);
	else
		str_printf(&path, "%s/%s", daemon_dir, sv->command);
	return str_steal(&path);
}

static struct master_service *
service_new(const struct service *sv, char *path)
{
	struct master_service *s = xcalloc(1, sizeof(*s));

	s->name = xstrdup(sv->name);
	s->type = sv->type;
	s->private = sv->private;
	s->unpriv = sv->unpriv;
	s->chroot = sv->chroot;
	s->wakeup = sv->wakeup;
	s->maxproc = sv->maxproc;
	s->path = path;
	s->where = xstrdup(sv->where);
	s->nargs = sv->argc > 0 ? sv->argc - 1 : 0;
	s->args = xcalloc((size_t)s->nargs + 1, sizeof(char *));
	for (int i = 0; i < s->nargs; i++)
		s->args[i] = xstrdup(sv->argv[i + 1]);
	s->noverrides = sv->noverrides;
	s->overrides = xcalloc((size_t)s->noverrides + 1, sizeof(char *));
	for (int i = 0; i < s->noverrides; i++) {
		struct str o = STR_INIT;

		str_printf(&o, "%s=%s", sv->overrides[i].name, sv->overrides[i].value);
		s->overrides[i] = str_steal(&o);
	}
	return s;
}

void
master_service_free(struct master_service *s)
{
	for (int i = 0; i < s->nlisteners; i++)
		master_listener_free(s->listeners[i]);
	free(s->listeners);
	for (int i = 0; i < s->nargs; i++)
		free(s->args[i]);
	free(s->args);
	for (int i = 0; i < s->noverrides; i++)
		free(s->overrides[i]);
	free(s->overrides);
	free(s->name);
	free(s->path);
	free(s->where);
	free(s);
}

/* Check each service's overrides as its processes will apply them. */
static int
check_overrides(const struct mastercf *m, const struct config *c, struct str *errors)
{
	int nerr = 0;

	for (int i = 0; i < m->count; i++) {
		struct config *clone;

		if (m->services[i].noverrides == 0)
			continue;
		clone = config_clone(c);
		nerr += mastercf_apply_overrides(&m->services[i], clone, errors);
		nerr += config_validate(clone, errors);
		config_free(clone);
	}
	return nerr;
}

int
master_conf_load(const char *confdir, struct config **cfgp, struct master_service **services,
        struct str *err)
{
	struct str path = STR_INIT, errors = STR_INIT, warnings = STR_INIT;
	struct config *c = config_new();
	struct mastercf *m = NULL;
	struct master_service *head = NULL, **tail = &head;
	const char *daemon_dir;
	int nerr, mnerr = 0, rc = -1;

	str_printf(&path, "%s/main.cf", confdir);
	nerr = config_load(c, str_cstr(&path), &errors, &warnings);
	if (nerr == 0)
		nerr = config_validate(c, &errors);
	if (nerr == 0) {
		str_reset(&path);
		str_printf(&path, "%s/master.cf", confdir);
		m = mastercf_load(str_cstr(&path), c, &errors, &warnings, &mnerr);
		nerr += mnerr;
		if (mnerr == 0)
			nerr += check_overrides(m, c, &errors);
	}
	log_lines(&warnings);
	if (nerr > 0) {
		while (errors.len > 0 && errors.data[errors.len - 1] == '\n')
			str_truncate(&errors, errors.len - 1);
		str_append(err, errors.data, errors.len);
		goto out;
	}
	daemon_dir = config_str(c, "daemon_directory");
	for (int i = 0; i < m->count; i++) {
		const struct service *sv = &m->services[i];
		char *prog = program_path(sv, daemon_dir);

		if (access(prog, X_OK) < 0) {
			msg_warn("%s: service %s: %s: %m; not started", sv->where, sv->name, prog);
			free(prog);
			continue;
		}
		*tail = service_new(sv, prog);
		tail = &(*tail)->next;
	}
	*cfgp = c;
	*services = head;
	c = NULL;
	rc = 0;
out:
	if (m)
		mastercf_free(m);
	if (c)
		config_free(c);
	str_free(&path);
	str_free(&errors);
	str_free(&warnings);
	return rc;
}
