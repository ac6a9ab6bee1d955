/*
 * rewriteq.c - ask trivial-rewrite questions through the blocking client
 * library, for the system tests.
 *
 *	rewriteq [-t timeout_ms] SOCKET [REQUEST...]
 *
 * REQUEST is "rewrite:ADDRESS", "verify:ADDRESS" or "resolve:ADDRESS",
 * optionally followed by a tab and the sender ("resolve:a@b\tS@d").  With
 * no REQUEST arguments, requests are read from standard input, one per
 * line, all over the same kept connection.  Each reply is printed on one
 * line as name=value pairs:
 *
 *	status=ok class=local transport=local nexthop=H recipient=A flags=F
 *
 * (rewrite prints status and address; reason is printed when not empty).
 * Exits 0, or 2 on a usage error.  Trusts its caller: a test fixture.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msg.h"
#include "parse.h"
#include "rewrite_clnt.h"

#define REWRITEQ_LINE_MAX 4096

static void
print_reply(const char *verb, const struct rewrite_reply *r)
{
	struct str flags = STR_INIT;

	printf("status=%s", resolve_status_name(r->status));
	if (r->status == RESOLVE_OK || r->status == RESOLVE_UNKNOWN) {
		if (strcmp(verb, "rewrite") == 0) {
			printf(" address=%s", r->address.len ? r->address.data : "");
		} else {
			resolve_flags_format(r->flags, &flags);
			printf(" class=%s", resolve_class_name(r->class));
			if (r->transport.len)
				printf(" transport=%s nexthop=%s", r->transport.data,
				        r->nexthop.len ? r->nexthop.data : "");
			printf(" recipient=%s flags=%s", r->address.len ? r->address.data : "",
			        str_cstr(&flags));
		}
	}
	if (r->reason.len)
		printf(" reason=%s", r->reason.data);
	putchar('\n');
	fflush(stdout);
	str_free(&flags);
}

/* One request "verb:address[\tsender]"; 0, or -1 when malformed. */
static int
ask(char *request)
{
	struct rewrite_reply reply;
	char *colon = strchr(request, ':'), *tab, *sender = NULL;

	if (colon == NULL)
		return -1;
	*colon = '\0';
	if ((tab = strchr(colon + 1, '\t')) != NULL) {
		*tab = '\0';
		sender = tab + 1;
	}
	rewrite_reply_init(&reply);
	if (strcmp(request, "rewrite") == 0)
		rewrite_canonical(colon + 1, &reply);
	else if (strcmp(request, "resolve") == 0)
		rewrite_resolve(colon + 1, sender, &reply);
	else if (strcmp(request, "verify") == 0)
		rewrite_verify(colon + 1, &reply);
	else {
		rewrite_reply_free(&reply);
		return -1;
	}
	print_reply(request, &reply);
	rewrite_reply_free(&reply);
	return 0;
}

int
main(int argc, char **argv)
{
	char line[REWRITEQ_LINE_MAX];
	long long timeout = 0;
	const char *why;
	int ch;

	msg_init("rewriteq");
	msg_to_stderr(1);
	while ((ch = getopt(argc, argv, "t:")) != -1) {
		if (ch != 't' || parse_int(optarg, 1, 3600000, &timeout, &why) < 0) {
			fprintf(stderr, "usage: rewriteq [-t timeout_ms] SOCKET [REQUEST...]\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: rewriteq [-t timeout_ms] SOCKET [REQUEST...]\n");
		return 2;
	}
	rewrite_clnt_setup(argv[optind], (int)timeout);
	if (optind + 1 < argc) {
		for (int i = optind + 1; i < argc; i++) {
			if (ask(argv[i]) < 0) {
				fprintf(stderr, "rewriteq: bad request: %s\n", argv[i]);
				return 2;
			}
		}
	} else {
		while (fgets(line, sizeof(line), stdin) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] == '\0')
				continue;
			if (ask(line) < 0)
				printf("bad request\n");
			fflush(stdout);
		}
	}
	rewrite_clnt_disconnect();
	rewrite_clnt_setup(NULL, 0);
	return 0;
}
