// Package webhook receives Git push webhooks, as Argo CD's /api/webhook
// does, so that the agent refreshes the applications a push moved instead
// of waiting for its next poll.
//
// Handler accepts push events from GitHub, GitLab, Gitea, Bitbucket Cloud
// and Bitbucket Server. It tells the sender by its event
// header, verifies the request before it looks at the body (an HMAC-SHA256
// of the body, or a shared token, compared in constant time), bounds what it
// reads, and reports each verified push as a Push: every URL the payload
// gives for the repository and the branch or tag names that moved. A ping
// or any other event is acknowledged and ignored. A provider with no secret
// configured is refused unless Secrets.AllowUnsigned says otherwise.
//
// Push.Matches says whether a push moved the revision an application
// tracks; SameRepo compares repository URLs across their https, ssh and
// scp-like forms.
//
//	h := &webhook.Handler{
//		Secrets: webhook.Secrets{GitHub: githubSecret, GitLab: gitlabToken},
//		OnPush: func(p webhook.Push) {
//			for _, app := range apps {
//				if p.Matches(app.RepoURL, app.TargetRevision) {
//					refresh.Add(app.Name) // quick: the handler waits for OnPush
//				}
//			}
//		},
//		OnResult: func(provider string, r webhook.Result) { requests.WithLabelValues(provider, string(r)).Inc() },
//	}
//	mux.Handle("/api/webhook", h)
package webhook
