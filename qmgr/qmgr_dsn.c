/*
 * qmgr_dsn.c - the hook of the DSN work: called once for a message whose
 * recipients are all finished, before its file is removed.  Delivery
 * status notifications (bounces, delay and success notices, issue 7)
 * will be made here from the facts that qmgr recorded in the file (each
 * recipient's status slot: attempts, last attempt, dsn, reason; its
 * done mark: delivered or failed).
 *
 * Until then it does what SPEC.md asks of notifications that cannot be
 * delivered: a message from the null sender with a failed recipient is
 * kept in corrupt/ ("Badmail") instead of being removed.  Trusts the
 * open queue file (validated when it was loaded).  Called by
 * qmgr_message.c at the end of a pass.
 */
#include "qmgr.h"

enum qmgr_dsn_action
qmgr_dsn_finish(struct qmgr_message *m)
{
	if (m->env->sender[0] != '\0')
		return QMGR_DSN_REMOVE;
	for (size_t i = 0; i < queue_file_rcpt_count(m->qf); i++)
		if (queue_file_rcpt(m->qf, i)->state == QUEUE_RCPT_FAILED)
			return QMGR_DSN_CORRUPT;
	return QMGR_DSN_REMOVE;
}
