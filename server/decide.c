/* decide.c - the one answer to "what should this workstation do", for the
 * boot endpoint (boot.c) and img -auto (serve.c) alike: pending work, else
 * the rules of imgserv.conf, and referrals to other servers. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "base/err.h"
#include "srv.h"

/* What a workstation should do: its pending one-shot work (for any of its
 * MACs), else the first rule that matches it; restore and make work for
 * an image under a refer prefix goes to that server. */
void srv_decide(struct srv *s, const struct srv_ident *id, struct srv_work *w)
{
	struct img_error e = {0};
	memset(w, 0, sizeof(*w));
	snprintf(w->mac, sizeof(w->mac), "%s", id->nmacs ? id->macs[0] : "");
	int found = 0;
	for (int i = 0; i < id->nmacs && found != 1; i++) {
		found = srv_work_get(s->state, id->macs[i], w->action, sizeof(w->action),
				     w->arg, sizeof(w->arg), &e);
		if (found == 1) {
			snprintf(w->mac, sizeof(w->mac), "%s", id->macs[i]);
			snprintf(w->src, sizeof(w->src), "pending work");
			w->pending = 1;
		} else if (found < 0) {
			srv_say(LOG_ERR, "state: %s", e.msg);
		}
	}
	pthread_rwlock_rdlock(&s->lock);
	if (found != 1) {
		const struct srv_rule *ru = srv_rule_match(&s->conf, id);
		if (ru) {
			snprintf(w->action, sizeof(w->action), "%s", ru->action);
			snprintf(w->arg, sizeof(w->arg), "%s", ru->arg);
			snprintf(w->server, sizeof(w->server), "%s", ru->server);
			snprintf(w->name, sizeof(w->name), "%s", ru->name);
			snprintf(w->menu, sizeof(w->menu), "%s", ru->menu);
			snprintf(w->src, sizeof(w->src), "rule on line %d", ru->line);
		} else {
			snprintf(w->action, sizeof(w->action), "none");
			snprintf(w->src, sizeof(w->src), "no rule matched");
		}
	}
	if (!w->server[0] && (!strcmp(w->action, "restore") || !strcmp(w->action, "make"))) {
		const struct srv_refer *rf = srv_refer_match(&s->conf, w->arg);
		if (rf)
			snprintf(w->server, sizeof(w->server), "%s", rf->server);
	}
	pthread_rwlock_unlock(&s->lock);
}
