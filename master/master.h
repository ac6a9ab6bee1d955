/*
 * master.h - the master process's state, shared by its files:
 *
 *	master.c	 main, start-up, signals, reload and stop
 *	master_conf.c	 main.cf and master.cf into a list of services
 *	master_listen.c	 inet and UNIX listeners: resolve, bind, reuse
 *	master_spawn.c	 children: start on demand, status, reap, back-off,
 *			 wakeup timers
 *	master_control.c the control socket of the tern command
 *
 * master trusts main.cf and master.cf (root's files, validated before
 * use), trusts its children no further than their status records (pid
 * and state, each checked), and trusts the control socket only from
 * root or its own user.
 */
#ifndef TERN_MASTER_H
#define TERN_MASTER_H

#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "mastercf.h"
#include "str.h"

struct config;
struct event;
struct event_base;

#define MASTER_CONTROL_FRAME_MAX 65536 /* a control request */
#define MASTER_CONTROL_TIMEOUT   5000  /* ms to read a request and send a reply */
#define MASTER_LISTEN_BACKLOG    511
#define MASTER_STATUS_PIPE_READ  64   /* status records read at once */
#define MASTER_STOP_EXTRA_MS     2000 /* after SIGKILL, wait this long for children */

/* One listening socket. */
struct master_listener {
	char *key;     /* identity across reloads: "inet 127.0.0.1:2525", "unix PATH" */
	char *address; /* for people: "127.0.0.1:2525", "[::1]:25", "private/cleanup" */
	char *path;    /* UNIX socket file, removed when the listener closes */
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd;
	int optional;     /* from inet_protocols = all: skipped if the kernel lacks the family */
	struct event *ev; /* readable while nobody can accept: start a process */
	struct master_service *serv;
};

/* One master.cf service and its processes' bookkeeping. */
struct master_service {
	char *name;
	enum service_type type;
	int private, unpriv, chroot, wakeup, maxproc;
	char *path;  /* the program: absolute, or daemon_directory/command */
	char **args; /* master.cf arguments after the command, without -o */
	int nargs;
	char **overrides; /* "name=value" */
	int noverrides;
	char *where; /* "master.cf:12" */
	struct master_listener **listeners;
	int nlisteners;
	int total;    /* processes of this generation */
	int avail;    /* of which ready to accept */
	int watching; /* demand events armed */
	int failures; /* consecutive abnormal exits */
	time_t throttle_until;
	struct event *throttle_ev;
	struct event *wakeup_ev;
	struct master_service *next;
};

enum master_proc_state {
	PROC_AVAIL,
	PROC_BUSY,
	PROC_GONE,
};

/* One child. */
struct master_proc {
	pid_t pid;
	struct master_service *serv; /* NULL once retired by a reload */
	char *service;               /* name, kept for the log after retirement */
	char *type;
	char *path;
	time_t started;
	enum master_proc_state state;
	unsigned long served;
	struct master_proc *next;
};

struct master_state {
	const char *confdir;
	struct config *cfg;
	struct event_base *base;
	struct master_service *services;
	struct master_proc *procs;
	int foreground;
	int stopping;
	int root_mode;
	uid_t owner_uid; /* mail_owner, root mode */
	gid_t owner_gid;
	gid_t setgid_gid;
	int status_pipe[2];
	int config_fd; /* main.cf as validated: the children read this copy */
	time_t started;
	char *queue_dir;
	char *pid_path;
	char *control_path;
};

extern struct master_state master;

/* master.c */
int master_reload(struct str *err);
void master_stop(const char *why);

/* master_conf.c: read main.cf and master.cf: 0 with the validated
 * configuration in *cfg and the services in *services, or -1 with every
 * error in err, one per line. */
int master_conf_load(const char *confdir, struct config **cfg, struct master_service **services,
        struct str *err);
void master_service_free(struct master_service *s);

/* master_listen.c */
/* Work out a service's addresses: listeners with key, address and
 * sockaddr, fd -1.  Returns 0, or -1 with the reason in err. */
int master_listen_plan(struct master_service *s, struct config *c, struct str *err);
/* Bind and listen on l; returns 0, 1 when an optional listener's address
 * family is not available (skipped, fd -1), or -1 with "ADDRESS: reason"
 * in err. */
int master_listen_open(struct master_listener *l, struct str *err);
void master_listener_close(struct master_listener *l);
void master_listener_free(struct master_listener *l);

/* master_spawn.c */
int master_spawn_init(struct str *err);
void master_spawn_done(void);
void master_service_start(struct master_service *s);
void master_service_halt(struct master_service *s);
void master_watch(struct master_service *s);
void master_reap(void);
void master_retire(struct master_service *s);
void master_signal_all(int sig);
int master_proc_count(void);
const char *master_proc_state_name(const struct master_proc *p);

/* master_control.c */
int master_control_open(struct str *err);
void master_control_close(void);

#endif
