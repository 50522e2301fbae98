package source

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

// Transport returns what go-git needs to reach repo outside Fetch's
// mirrors (to push, or to fetch into a work tree): the URL to give it and to
// store in a remote's configuration, with the credentials of an http(s) URL
// removed (as RedactURL), and the auth method. As in Fetch, a's token wins;
// without one, the credentials of an http(s) URL travel as basic auth. A
// nil method means none is needed (an http URL without credentials).
//
// A URL with a scheme must parse: one that does not (a password with an
// unescaped /, say) is refused without being echoed, since RedactURL
// cannot tell where its credentials end.
func Transport(repo string, a Auth) (remoteURL string, auth transport.AuthMethod, err error) {
	if scheme, _, ok := strings.Cut(repo, "://"); ok {
		if _, err := url.Parse(repo); err != nil {
			return "", nil, fmt.Errorf("repository URL %s://... does not parse (not shown: it may hold credentials); URL-escape the user name and password in it (/ as %%2F)", scheme)
		}
	}
	remoteURL = repo
	if user, password, clean, ok := urlCredentials(repo); ok {
		remoteURL = clean
		if a.Token == "" {
			a.Username, a.Token = user, password
			a.allowEmptyPassword = true
		}
	}
	ep, err := transport.NewEndpoint(remoteURL)
	if err != nil {
		return "", nil, fmt.Errorf("repository %s: %w", RedactURL(repo), Scrub(err, repo, a))
	}
	if auth, err = a.method(ep); err != nil {
		return "", nil, fmt.Errorf("repository %s: %w", RedactURL(repo), Scrub(err, repo, a))
	}
	return remoteURL, auth, nil
}

// Scrub returns err with every secret replaced by REDACTED: those of
// repo's user information (as Fetch's errors) and a's token and ssh key
// passphrase, in the spellings an error may echo them (raw, URL-escaped,
// and the base64 of a basic-auth header). errors.Is still sees the
// sentinels of err; its text is not reachable by unwrapping.
func Scrub(err error, repo string, a Auth) error {
	if err == nil {
		return nil
	}
	err = scrub(err, repo)
	var secrets []string
	for _, s := range []string{a.Token, a.SSHKeyPassphrase} {
		if s == "" {
			continue
		}
		secrets = append(secrets, s, url.PathEscape(s), url.QueryEscape(s))
	}
	if a.Token != "" {
		user := a.Username
		if user == "" {
			user = "git"
		}
		secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(user+":"+a.Token)))
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		clean = strings.ReplaceAll(clean, s, "REDACTED")
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}
