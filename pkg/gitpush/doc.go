// Package gitpush commits an edit to a configuration repository and pushes
// it, with go-git (no git binary needed), safely when many pushers race.
//
// An Edit changes files under a work tree and names the files it changed.
// Run applies it to a fresh shallow clone (remote mode: Options.Repo) or to
// a work tree in place (local mode: Options.Dir), commits exactly those
// files on the branch's tip, and pushes. The push is a compare-and-swap: it
// lands only if the branch is still at the commit the edit was applied to.
// When another pusher got there first, Run fetches the new tip, applies the
// edit again there (an Edit is a pure function of the files it reads, not a
// textual patch), and pushes again, up to Options.Retries times, waiting a
// doubling, jittered backoff in between. Every commit has one parent: the
// branch's history stays linear.
//
// Credentials never reach a remote's stored URL or an error: an http(s) URL
// with user information is pushed to without it (the credentials travel as
// basic auth, as in pkg/source), and every error is scrubbed of the token.
//
//	res, err := gitpush.Run(ctx, gitpush.Options{
//		Repo: "https://git.example/config.git", Branch: "main",
//		Auth: source.Auth{Token: token}, Message: "web: image 1.2.3",
//		Author: object.Signature{Name: "ci", Email: "ci@example.com"},
//		Commit: true, Push: true, Retries: 10, Backoff: 200 * time.Millisecond,
//	}, func(root string) ([]string, error) {
//		return setImage(root, "apps/web/overlays/prod/kustomization.yaml", "web:1.2.3")
//	})
//	// res.Commit is the SHA pushed ("" when the image was set already).
package gitpush
