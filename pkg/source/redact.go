package source

import (
	"errors"
	"net/url"
	"strings"
)

// RedactURL returns repo fit to be shown and stored: an http or https URL
// loses its user information entirely (a token is often passed as the user
// name, https://TOKEN@host/...), any other URL loses its password, and an
// ssh user name (git@host) stays. What is not a URL comes back unchanged.
// Fetch still uses the credentials of the URL it is given.
func RedactURL(repo string) string {
	scheme, rest, ok := strings.Cut(repo, "://")
	if !ok {
		return repo
	}
	authority, tail := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, tail = rest[:i], rest[i:]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return repo
	}
	userinfo, host := authority[:at], authority[at+1:]
	switch strings.ToLower(scheme) {
	case "http", "https":
		return scheme + "://" + host + tail
	}
	user, _, hasPassword := strings.Cut(userinfo, ":")
	if !hasPassword {
		return repo
	}
	return scheme + "://" + user + "@" + host + tail
}

// urlCredentials returns the user name and password in an http(s) URL,
// decoded, and the URL without them. ok is false when there are none.
func urlCredentials(repo string) (user, password, clean string, ok bool) {
	u, err := url.Parse(repo)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", "", repo, false
	}
	user = u.User.Username()
	password, _ = u.User.Password()
	return user, password, RedactURL(repo), true
}

// secretsOf lists the strings of repo's user information that must never
// be shown: the raw user information, the password, and for http(s) the
// user name (often a token), in their raw and decoded spellings.
func secretsOf(repo string) []string {
	_, rest, ok := strings.Cut(repo, "://")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return nil
	}
	userinfo := rest[:at]
	rawUser, rawPassword, hasPassword := strings.Cut(userinfo, ":")
	var out []string
	add := func(s string) {
		if s == "" {
			return
		}
		out = append(out, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			out = append(out, d)
		}
	}
	if hasPassword {
		add(userinfo)
		add(rawPassword)
	}
	if scheme := strings.ToLower(repo[:strings.Index(repo, "://")]); scheme == "http" || scheme == "https" {
		// A short name such as git is no secret, and replacing it
		// everywhere would garble the message (git-upload-pack).
		if len(rawUser) >= 8 {
			add(rawUser)
		} else if rawUser != "" {
			out = append(out, rawUser+"@")
		}
	}
	return out
}

// scrub returns err with every secret of repo's user information replaced,
// for errors of go-git and net/http that may echo the URL. The result
// still matches what err matches with errors.Is, but does not unwrap to
// the unscrubbed error.
func scrub(err error, repo string) error {
	if err == nil {
		return nil
	}
	secrets := secretsOf(repo)
	if len(secrets) == 0 {
		return err
	}
	msg := err.Error()
	for _, s := range secrets {
		repl := "REDACTED"
		if strings.HasSuffix(s, "@") {
			repl = "REDACTED@"
		}
		msg = strings.ReplaceAll(msg, s, repl)
	}
	return &scrubbedError{msg: msg, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

// Is lets errors.Is see the sentinels of the original error (such as
// transport.ErrAuthenticationRequired) without exposing its text.
func (e *scrubbedError) Is(target error) bool { return errors.Is(e.err, target) }
