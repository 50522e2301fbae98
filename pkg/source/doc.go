// Package source fetches a Git revision and lays its files out for
// rendering, with go-git (no git binary needed).
//
// A local repository (a path or file:// URL) is read in place. A remote one
// (https://, http://, ssh://, or scp-style user@host:path) is mirrored as a
// bare repository under the cache directory, one per URL, and fetched
// incrementally on each use; a file lock per mirror makes concurrent syncs
// that share the cache safe. The revision may be a branch, a tag, a full or
// short commit SHA, or HEAD; the resolved commit SHA is always returned.
//
// A local path may name a directory inside a work tree: the enclosing
// repository is opened and only that directory's files are laid out
// (Checkout.Root and Checkout.Subdir say which). Credentials in an http(s)
// URL are sent as basic auth, never kept in the mirror, and removed from
// every error; RedactURL is the one way to show or store a repository URL.
//
//	co, err := source.Fetch(ctx, source.Request{Repo: "https://git.example/config.git", Revision: "main"}, source.Options{})
//	if err != nil { ... }
//	defer co.Close()
//	render(co.Dir, "apps/web/overlays/prod")
package source
