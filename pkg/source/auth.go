package source

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// Auth holds credentials for remote repositories. Secrets are read from
// files or the environment by the caller, never from the command line.
type Auth struct {
	// Username for https; default "git" (what token-based hosts accept).
	Username string
	// Token is the https password or access token.
	Token string
	// SSHKeyFile is a private key for ssh; empty means the ssh agent.
	SSHKeyFile string
	// SSHKeyPassphrase unlocks SSHKeyFile.
	SSHKeyPassphrase string
	// KnownHostsFiles verify ssh host keys; empty means ~/.ssh/known_hosts
	// (or $SSH_KNOWN_HOSTS).
	KnownHostsFiles []string
	// InsecureSkipHostKeyCheck accepts any ssh host key.
	InsecureSkipHostKeyCheck bool

	// allowEmptyPassword sends Username alone (a token given as the user
	// of an https URL).
	allowEmptyPassword bool
}

// identity tells credentials apart without holding them.
func (a Auth) identity() string {
	h := sha256.Sum256([]byte(a.Username + "\x00" + a.Token + "\x00" + a.SSHKeyFile + "\x00" + a.SSHKeyPassphrase))
	return hex.EncodeToString(h[:])
}

func (a Auth) method(ep *transport.Endpoint) (transport.AuthMethod, error) {
	switch ep.Protocol {
	case "http", "https":
		if a.Token == "" && !(a.allowEmptyPassword && a.Username != "") {
			return nil, nil
		}
		user := a.Username
		if user == "" {
			user = "git"
		}
		return &githttp.BasicAuth{Username: user, Password: a.Token}, nil
	case "ssh":
		user := ep.User
		if user == "" {
			user = "git"
		}
		var (
			m   *gitssh.PublicKeys
			err error
		)
		if a.SSHKeyFile != "" {
			m, err = gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, a.SSHKeyPassphrase)
			if err != nil {
				return nil, fmt.Errorf("ssh key %s: %w", a.SSHKeyFile, err)
			}
		}
		var callback ssh.HostKeyCallback
		if a.InsecureSkipHostKeyCheck {
			callback = ssh.InsecureIgnoreHostKey() //nolint:gosec // the user opted out with --insecure-skip-host-key-check
		} else {
			callback, err = gitssh.NewKnownHostsCallback(a.KnownHostsFiles...)
			if err != nil {
				return nil, fmt.Errorf("known_hosts (%s): %w; add the host with ssh-keyscan, name a known_hosts file that has it, or (insecurely) skip the host key check", knownHostsNames(a.KnownHostsFiles), err)
			}
		}
		if m != nil {
			m.HostKeyCallback = callback
			return m, nil
		}
		agent, err := gitssh.NewSSHAgentAuth(user)
		if err != nil {
			return nil, fmt.Errorf("no ssh key: %w; give a private key file or start ssh-agent", err)
		}
		agent.HostKeyCallback = callback
		return agent, nil
	}
	return nil, nil
}

func knownHostsNames(files []string) string {
	if len(files) > 0 {
		return strings.Join(files, ", ")
	}
	if env := os.Getenv("SSH_KNOWN_HOSTS"); env != "" {
		return env
	}
	return "~/.ssh/known_hosts"
}
