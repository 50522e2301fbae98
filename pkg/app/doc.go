// Package app turns one app's source (a repository, a revision, a path
// and how to read them) into the objects to sync: fetch, render, decrypt.
// Commands and the agent call the same Render.
//
//	r, err := app.Render(ctx, app.Source{Repo: "https://git.example/config.git", Revision: "main", Path: "apps/web"}, app.Options{})
//	if err != nil { ... }
//	if err := r.RefuseEncrypted(); err != nil { ... }
//	sync(r.Objects, r.Source.Commit)
//
// Render prints nothing and handles no signals. The one secret it writes
// to disk (the age keys our decrypt KRM function reads, in a 0700
// directory) is removed before it returns; Options.OnPrivateDir lets a
// command remove it also when the process is interrupted.
package app
