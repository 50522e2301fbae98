package webhook

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-playground/webhooks/v6/bitbucket"
	bitbucketserver "github.com/go-playground/webhooks/v6/bitbucket-server"
	"github.com/go-playground/webhooks/v6/gitea"
	"github.com/go-playground/webhooks/v6/github"
	"github.com/go-playground/webhooks/v6/gitlab"
)

// DefaultMaxBodyBytes is the largest body a Handler reads when
// Handler.MaxBodyBytes is 0: 50 MiB, Argo CD's webhook.maxPayloadSizeMB
// default.
const DefaultMaxBodyBytes int64 = 50 << 20

// Provider names, as Push.Provider and Handler.OnResult give them.
const (
	ProviderGitHub          = "github"
	ProviderGitLab          = "gitlab"
	ProviderGitea           = "gitea"
	ProviderBitbucket       = "bitbucket"
	ProviderBitbucketServer = "bitbucketserver"
)

// Push is one push event: the repository (every URL form the payload gives:
// html/web URL, http clone URL, ssh clone URL) and what moved.
type Push struct {
	// Provider is the sender: "github", "gitlab", "bitbucket",
	// "bitbucketserver" or "gitea".
	Provider string
	// Repos are the URLs of the repository as the payload names it, without
	// duplicates. Bitbucket Cloud gives only its web URL.
	Repos []string
	// Revisions are the branch or tag names pushed (refs/heads/ and
	// refs/tags/ stripped; Bitbucket may carry several changes).
	Revisions []string
	// Tag says the refs were tags: every one of Revisions is a tag. A
	// Bitbucket push that moved both branches and tags has Tag false.
	Tag bool
	// DefaultBranch is the repository's default branch as the payload names
	// it (GitHub, GitLab, Gitea); empty for Bitbucket, whose payloads do not
	// say.
	DefaultBranch string
	// Commit is the object name the first ref points to after the push, as
	// the payload gives it (for an annotated tag this may be the tag object,
	// not its commit); empty when the ref was deleted.
	Commit string
}

// Matches says whether the push moved the revision an application tracks:
// repoURL names the same repository as one of p.Repos (see SameRepo), and
// targetRevision is one of p.Revisions (compared by name, refs/heads/ or
// refs/tags/ stripped, as Argo CD compares them), or targetRevision is
// "HEAD" or empty and the push moved the default branch. When the payload
// does not name the default branch (Bitbucket), any push of a branch counts
// as moving it, as Argo CD assumes; a push of tags only never moves HEAD. A
// full commit SHA never matches: that application does not move.
func (p Push) Matches(repoURL, targetRevision string) bool {
	if !slices.ContainsFunc(p.Repos, func(u string) bool { return SameRepo(repoURL, u) }) {
		return false
	}
	if isCommitSHA(targetRevision) {
		return false
	}
	name, _ := refName(targetRevision)
	if name != "" && name != "HEAD" {
		return slices.Contains(p.Revisions, name)
	}
	if p.Tag {
		return false
	}
	return p.DefaultBranch == "" || slices.Contains(p.Revisions, p.DefaultBranch)
}

// SameRepo says whether two repository URLs name the same repository. It
// compares host and path and nothing else, as Argo CD's webhook matching
// does: the scheme (https, http, ssh, git, or the scp-like user@host:path),
// user and password, and port are ignored; host and path are compared
// without regard to case; a trailing slash and a ".git" suffix are dropped;
// an "ssh." or "altssh." host prefix (GitHub's and GitLab's ssh over port
// 443) is dropped. An empty or unparsable URL matches nothing.
func SameRepo(a, b string) bool {
	ka, kb := repoKey(a), repoKey(b)
	return ka != "" && ka == kb
}

// Secrets configure verification. An empty secret for a provider refuses
// that provider's requests (401) unless AllowUnsigned.
type Secrets struct {
	// GitHub, Gitea and BitbucketServer are the HMAC secrets of the
	// webhooks; GitLab is the secret token, compared with X-Gitlab-Token.
	GitHub, GitLab, Gitea, BitbucketServer string
	// BitbucketUUID is the Bitbucket Cloud webhook's UUID, braces included
	// as Bitbucket shows it, compared with X-Hook-UUID. Bitbucket Cloud
	// signs nothing; its UUID is known to everyone who can read the
	// repository's webhook settings.
	BitbucketUUID string
	// AllowUnsigned accepts requests of providers with no secret configured
	// (explicit opt-out, for tests and development). A provider whose
	// secret is set is verified regardless.
	AllowUnsigned bool
}

// Result names an outcome, for metrics: "accepted", "ignored" (a ping or a
// non-push event), "unsigned", "bad_signature", "too_large", "malformed",
// "method_not_allowed", "unknown_provider".
type Result string

// The outcomes of a request, one per request.
const (
	// ResultAccepted is a verified push, handed to OnPush (200).
	ResultAccepted Result = "accepted"
	// ResultIgnored is a verified ping or other non-push event (200).
	ResultIgnored Result = "ignored"
	// ResultUnsigned is a request without the signature or token its
	// provider's secret requires, or of a provider with no secret
	// configured (401).
	ResultUnsigned Result = "unsigned"
	// ResultBadSignature is a signature or token that does not match (401).
	ResultBadSignature Result = "bad_signature"
	// ResultTooLarge is a body over the limit (413).
	ResultTooLarge Result = "too_large"
	// ResultMalformed is a verified request whose body or event header
	// cannot be read as its event (400).
	ResultMalformed Result = "malformed"
	// ResultMethodNotAllowed is a request other than POST (405).
	ResultMethodNotAllowed Result = "method_not_allowed"
	// ResultUnknownProvider is a request no provider's headers name (400).
	ResultUnknownProvider Result = "unknown_provider"
)

// Handler receives push webhooks. Its fields are read, never written, so
// one Handler serves concurrent requests; set them before serving.
type Handler struct {
	// Secrets verify each provider's requests.
	Secrets Secrets
	// MaxBodyBytes is the largest body read; a larger one is refused with
	// 413. 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// TooLargeHint, when set, ends the 413 answer: how to raise the limit
	// (the flag that sets MaxBodyBytes).
	TooLargeHint string
	// OnPush is called for a verified push, synchronously, before the
	// response is written; it must be quick.
	OnPush func(Push)
	// OnResult is called once per request with its outcome; provider is ""
	// when no provider's headers name the request.
	OnResult func(provider string, r Result)
}

// ServeHTTP verifies and reads one webhook request; see Handler and Result
// for what it answers. Response bodies are short plain text and never
// repeat the request's body or a secret.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := senderOf(r.Header)
	o := h.serve(w, r, s)
	if o.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	http.Error(w, o.msg, o.status)
	if h.OnResult != nil {
		name := ""
		if s != nil {
			name = s.name
		}
		h.OnResult(name, o.result)
	}
}

// outcome is what one request comes to.
type outcome struct {
	result Result
	status int
	msg    string
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, s *sender) outcome {
	if r.Method != http.MethodPost {
		return outcome{ResultMethodNotAllowed, http.StatusMethodNotAllowed, "webhooks are POST requests"}
	}
	if s == nil {
		return outcome{ResultUnknownProvider, http.StatusBadRequest,
			"unknown webhook: no GitHub, GitLab, Gitea, Bitbucket Cloud or Bitbucket Server event header"}
	}
	secret := s.secret(h.Secrets)
	given := r.Header.Get(s.authHeader)
	switch {
	case secret == "" && !h.Secrets.AllowUnsigned:
		return outcome{ResultUnsigned, http.StatusUnauthorized,
			s.name + " webhook refused: the receiver has no " + s.name + " secret configured"}
	case secret == "":
		// AllowUnsigned: nothing to verify.
	case given == "":
		return outcome{ResultUnsigned, http.StatusUnauthorized,
			s.name + " webhook refused: no " + s.authHeader + " header; set the secret in the webhook's settings"}
	case !s.hmac && !equalTokens(given, secret):
		return badSignature(s)
	}

	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, o, ok := readBody(w, r, limit, h.TooLargeHint)
	if !ok {
		return o
	}
	if secret != "" && s.hmac && !validMAC(body, given, s.hmacPrefix, secret) {
		return badSignature(s)
	}

	event := r.Header.Get(s.eventHeader)
	if event == "" {
		return outcome{ResultMalformed, http.StatusBadRequest, s.name + " webhook: no " + s.eventHeader + " header"}
	}
	p, err := s.parse(event, body)
	if err != nil {
		msg := s.name + " " + event + " event: body is not the event's JSON"
		if isForm(r) {
			msg += "; set the webhook's content type to application/json"
		}
		return outcome{ResultMalformed, http.StatusBadRequest, msg}
	}
	if p == nil {
		return outcome{ResultIgnored, http.StatusOK, "ignored " + s.name + " " + event + " event"}
	}
	if len(p.Repos) == 0 || len(p.Revisions) == 0 {
		return outcome{ResultMalformed, http.StatusBadRequest, s.name + " " + event + " event names no repository URL or ref"}
	}
	p.Provider = s.name
	if h.OnPush != nil {
		h.OnPush(*p)
	}
	return outcome{ResultAccepted, http.StatusOK, "accepted"}
}

func badSignature(s *sender) outcome {
	return outcome{ResultBadSignature, http.StatusUnauthorized,
		s.name + " webhook refused: " + s.authHeader + " does not match; check the secret in the webhook's settings"}
}

// readBody reads at most limit bytes of the body; a longer body is refused
// without being buffered past the limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64, hint string) ([]byte, outcome, bool) {
	msg := fmt.Sprintf("webhook body is larger than %d bytes", limit)
	if hint != "" {
		msg += "; " + hint
	}
	tooLarge := outcome{ResultTooLarge, http.StatusRequestEntityTooLarge, msg}
	if r.ContentLength > limit {
		return nil, tooLarge, false
	}
	if r.Body == nil {
		return nil, outcome{}, true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge, false
		}
		return nil, outcome{ResultMalformed, http.StatusBadRequest, "webhook body could not be read"}, false
	}
	return body, outcome{}, true
}

// equalTokens compares a token with the secret in constant time, lengths
// included.
func equalTokens(given, secret string) bool {
	g, s := sha256.Sum256([]byte(given)), sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(g[:], s[:]) == 1
}

// validMAC says whether sig is prefix followed by the hex HMAC-SHA256 of
// body under secret, compared in constant time.
func validMAC(body []byte, sig, prefix, secret string) bool {
	hexMAC, ok := strings.CutPrefix(sig, prefix)
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), got)
}

func isForm(r *http.Request) bool {
	t, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return t == "application/x-www-form-urlencoded"
}

// sender is how one provider names its events and authenticates them.
type sender struct {
	name        string
	eventHeader string
	// authHeader carries the signature (hmac) or the token (otherwise).
	authHeader string
	// hmac says authHeader holds hmacPrefix and the hex HMAC-SHA256 of the
	// body; otherwise it holds a token equal to the secret.
	hmac       bool
	hmacPrefix string
	secret     func(Secrets) string
	// parse reads a push event; it returns nil, nil for an event that is
	// not a push.
	parse func(event string, body []byte) (*Push, error)
}

var (
	gitHubSender = &sender{name: ProviderGitHub, eventHeader: "X-GitHub-Event", authHeader: "X-Hub-Signature-256",
		hmac: true, hmacPrefix: "sha256=", secret: func(s Secrets) string { return s.GitHub }, parse: parseGitHub}
	gitLabSender = &sender{name: ProviderGitLab, eventHeader: "X-Gitlab-Event", authHeader: "X-Gitlab-Token",
		secret: func(s Secrets) string { return s.GitLab }, parse: parseGitLab}
	giteaSender = &sender{name: ProviderGitea, eventHeader: "X-Gitea-Event", authHeader: "X-Gitea-Signature",
		hmac: true, secret: func(s Secrets) string { return s.Gitea }, parse: parseGitea}
	bitbucketSender = &sender{name: ProviderBitbucket, eventHeader: "X-Event-Key", authHeader: "X-Hook-UUID",
		secret: func(s Secrets) string { return s.BitbucketUUID }, parse: parseBitbucket}
	bitbucketServerSender = &sender{name: ProviderBitbucketServer, eventHeader: "X-Event-Key", authHeader: "X-Hub-Signature",
		hmac: true, hmacPrefix: "sha256=", secret: func(s Secrets) string { return s.BitbucketServer }, parse: parseBitbucketServer}
)

// senderOf tells the provider by its headers, as Argo CD does. Gitea comes
// before GitHub because it sends X-GitHub-Event too; Gogs, which also sends
// it, is not a provider here. Bitbucket Cloud sends X-Hook-UUID; a
// repo:push without it is still Bitbucket Cloud's (Bitbucket Server has no
// such event), so that it is refused as unsigned, not as unknown.
func senderOf(h http.Header) *sender {
	switch {
	case h.Get("X-Gitea-Event") != "":
		return giteaSender
	case h.Get("X-Gogs-Event") != "":
		return nil
	case h.Get("X-GitHub-Event") != "":
		return gitHubSender
	case h.Get("X-Gitlab-Event") != "":
		return gitLabSender
	case h.Get("X-Hook-UUID") != "" || h.Get("X-Event-Key") == string(bitbucket.RepoPushEvent):
		return bitbucketSender
	case h.Get("X-Event-Key") != "":
		return bitbucketServerSender
	}
	return nil
}

func parseGitHub(event string, body []byte) (*Push, error) {
	if event != string(github.PushEvent) {
		return nil, nil
	}
	var pl github.PushPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, err
	}
	var refs refList
	refs.add(pl.Ref)
	repo := pl.Repository
	return refs.push(repo.DefaultBranch, pl.After, repo.HTMLURL, repo.CloneURL, repo.SSHURL), nil
}

// parseGitLab reads push and tag push events, of a project's webhook or of
// a system hook (whose push events have the same body).
func parseGitLab(event string, body []byte) (*Push, error) {
	switch gitlab.Event(event) {
	case gitlab.PushEvents, gitlab.TagEvents:
	case gitlab.SystemHookEvents:
		var kind struct {
			ObjectKind string `json:"object_kind"`
		}
		if err := json.Unmarshal(body, &kind); err != nil {
			return nil, err
		}
		if kind.ObjectKind != "push" && kind.ObjectKind != "tag_push" {
			return nil, nil
		}
	default:
		return nil, nil
	}
	var pl gitlab.PushEventPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, err
	}
	var refs refList
	refs.add(pl.Ref)
	pr := pl.Project
	return refs.push(pr.DefaultBranch, pl.After, pr.WebURL, pr.GitHTTPURL, pr.GitSSHURL), nil
}

func parseGitea(event string, body []byte) (*Push, error) {
	if event != string(gitea.PushEvent) {
		return nil, nil
	}
	var pl gitea.PushPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, err
	}
	var refs refList
	refs.add(pl.Ref)
	repo := pl.Repo
	if repo == nil {
		return refs.push("", pl.After), nil
	}
	return refs.push(repo.DefaultBranch, pl.After, repo.HTMLURL, repo.CloneURL, repo.SSHURL), nil
}

// parseBitbucket reads a Bitbucket Cloud repo:push. A deleted branch or tag
// has no new state; its old one names it.
func parseBitbucket(event string, body []byte) (*Push, error) {
	if event != string(bitbucket.RepoPushEvent) {
		return nil, nil
	}
	var pl bitbucket.RepoPushPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, err
	}
	var refs refList
	commit := ""
	for i, c := range pl.Push.Changes {
		if c.New.Name != "" {
			refs.addName(c.New.Name, c.New.Type == "tag")
		} else {
			refs.addName(c.Old.Name, c.Old.Type == "tag")
		}
		if i == 0 {
			commit = c.New.Target.Hash
		}
	}
	return refs.push("", commit, pl.Repository.Links.HTML.Href), nil
}

// parseBitbucketServer reads a Bitbucket Server (Data Center)
// repo:refs_changed, whose repository URLs are its clone links.
func parseBitbucketServer(event string, body []byte) (*Push, error) {
	if event != string(bitbucketserver.RepositoryReferenceChangedEvent) {
		return nil, nil
	}
	var pl bitbucketserver.RepositoryReferenceChangedPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return nil, err
	}
	var refs refList
	commit := ""
	for i, c := range pl.Changes {
		name, tag := refName(cmp.Or(c.Reference.ID, c.ReferenceID, c.Reference.DisplayID))
		refs.addName(name, tag || c.Reference.Type == "TAG")
		if i == 0 {
			commit = c.ToHash
		}
	}
	var urls []string
	clone, _ := pl.Repository.Links["clone"].([]any)
	for _, l := range clone {
		link, _ := l.(map[string]any)
		if href, ok := link["href"].(string); ok && (link["name"] == "http" || link["name"] == "ssh") {
			urls = append(urls, href)
		}
	}
	return refs.push("", commit, urls...), nil
}

// refList gathers the refs of one push.
type refList struct {
	names          []string
	tags, branches int
}

// add adds a full ref (refs/heads/main, refs/tags/v1) or a bare name.
func (l *refList) add(ref string) {
	l.addName(refName(ref))
}

func (l *refList) addName(name string, tag bool) {
	if name == "" {
		return
	}
	if tag {
		l.tags++
	} else {
		l.branches++
	}
	if !slices.Contains(l.names, name) {
		l.names = append(l.names, name)
	}
}

// push makes the Push of the refs; the provider is set by the caller.
func (l *refList) push(defaultBranch, commit string, urls ...string) *Push {
	p := &Push{
		Revisions:     l.names,
		Tag:           l.tags > 0 && l.branches == 0,
		DefaultBranch: defaultBranch,
	}
	if strings.Trim(commit, "0") != "" {
		p.Commit = commit
	}
	for _, u := range urls {
		if u != "" && !slices.Contains(p.Repos, u) {
			p.Repos = append(p.Repos, u)
		}
	}
	return p
}

// refName strips refs/heads/ or refs/tags/ from ref and says whether it
// named a tag. Any other ref is returned as it is.
func refName(ref string) (name string, tag bool) {
	if name, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return name, true
	}
	return strings.TrimPrefix(ref, "refs/heads/"), false
}

// isCommitSHA says whether rev is a full SHA-1 or SHA-256 object name.
func isCommitSHA(rev string) bool {
	if len(rev) != 40 && len(rev) != 64 {
		return false
	}
	_, err := hex.DecodeString(rev)
	return err == nil
}

// repoKey reduces a repository URL to the lower-case host and path SameRepo
// compares, or "" when the URL names nothing.
func repoKey(raw string) string {
	s := strings.ToLower(strings.TrimSpace(raw))
	var host, path string
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return ""
		}
		host, path = u.Hostname(), u.Path
	} else if h, p, ok := splitSCP(s); ok {
		host, path = h, p
	} else {
		path = s // a local path
	}
	for _, prefix := range []string{"altssh.", "ssh."} {
		if rest, ok := strings.CutPrefix(host, prefix); ok && strings.Contains(rest, ".") {
			host = rest
			break
		}
	}
	path = strings.TrimRight(strings.TrimSuffix(strings.Trim(path, "/"), ".git"), "/")
	if path == "" {
		return ""
	}
	return host + "/" + path
}

// splitSCP splits git's scp-like form, [user@]host:path, which git
// recognizes by a colon before the first slash.
func splitSCP(s string) (host, path string, ok bool) {
	rest := s
	if at := strings.Index(s, "@"); at >= 0 && !strings.Contains(s[:at], "/") {
		rest = s[at+1:]
	}
	if strings.HasPrefix(rest, "[") { // [::1]:path
		end := strings.Index(rest, "]:")
		if end < 0 {
			return "", "", false
		}
		return rest[1:end], rest[end+2:], true
	}
	colon := strings.Index(rest, ":")
	if colon <= 0 || strings.Contains(rest[:colon], "/") {
		return "", "", false
	}
	return rest[:colon], rest[colon+1:], true
}
