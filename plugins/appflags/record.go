package appflags

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/kubectl-gitops/kubectl-gitops/pkg/app"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/ignore"
	"github.com/kubectl-gitops/kubectl-gitops/pkg/inventory"
	gsync "github.com/kubectl-gitops/kubectl-gitops/pkg/sync"
)

// FromRecord fills what the command line did not give (pflag's Changed on
// fs) from a history record, so that a command needs only the cluster and
// the repository: --repo (a local repository's recorded absolute path when
// it exists on this machine, else its recorded origin URL), --path,
// --revision, --dest-namespace (unless -n/--namespace was given), the
// --sync-option list, --ignore-differences (the recorded rules), an
// Application's spec.source.directory and kustomize and its
// managedNamespaceMetadata (unless --path was given) and, when prune is not
// nil, --prune. Flags that fs
// does not have are filled too. It returns a note for the user when the
// recorded path was replaced by the origin URL, or "".
func (f *Flags) FromRecord(fs *pflag.FlagSet, rec inventory.Record, prune *bool) (note string) {
	given := func(name string) bool {
		fl := fs.Lookup(name)
		return fl != nil && fl.Changed
	}
	if !given("repo") {
		f.Source.Repo, note = RecordedRepo(rec)
	}
	if !given("path") {
		f.Source.Path = rec.Path
		if f.Source.Path == "" {
			f.Source.Path = "."
		}
	}
	if !given("revision") && rec.Revision != "" {
		f.Source.Revision = rec.Revision
	}
	if !given("dest-namespace") && !given("namespace") {
		f.DestNamespace = rec.DestNamespace
	}
	if !given("sync-option") && f.target == nil { // an Application says its own
		f.SyncOptions = append([]string(nil), rec.SyncOptions...)
	}
	if f.target == nil && !given("path") {
		// How an Application's path was rendered, and its namespace's
		// managed metadata.
		f.Source.Directory, f.Source.Kustomize, f.namespaceMetadata = rec.Directory, rec.Kustomize, rec.NamespaceMetadata
	}
	if prune != nil && !given("prune") {
		*prune = rec.Prune
		if f.target != nil {
			*prune = f.target.Prune // what a sync of the Application does
		}
	}
	if !given("ignore-differences") && f.IgnoreDifferences == "" && f.target == nil && len(rec.IgnoreDifferences) > 0 {
		// Recorded rules were valid when recorded; compile them again
		// (an error surfaces in Validate, naming the record).
		rules, err := ignore.Compile(rec.IgnoreDifferences)
		if err != nil {
			err = fmt.Errorf("the ignoreDifferences rules recorded by sync %d: %w", rec.ID, err)
		}
		f.ignore = ignoreFile{loaded: true, rules: rules, err: err}
	}
	return note
}

// RecordedRepo is the repository of a record as this machine reaches it:
// a recorded local path that exists here, else the recorded origin URL,
// else the recorded value as it is (whose fetch then names it). The note
// says when the origin stands in for the path.
func RecordedRepo(rec inventory.Record) (repo, note string) {
	if !filepath.IsAbs(rec.Repo) {
		return rec.Repo, ""
	}
	if _, err := os.Stat(rec.Repo); err == nil || rec.Origin == "" {
		return rec.Repo, ""
	}
	return rec.Origin, "recorded repository " + rec.Repo + " is not on this machine; using its origin " + rec.Origin
}

// InputWithCommit is Input with the commit's author and subject, for the
// history.
func (f *Flags) InputWithCommit(r *app.Rendered) gsync.Input {
	in := f.Input(r)
	in.Author, in.Subject = r.Source.Author, r.Source.Message
	return in
}

// RenderAsRecorded takes, for the Application of -f, the render settings of
// a record (spec.source.directory and kustomize, managedNamespaceMetadata,
// as that sync had them, none included): a rollback renders the target
// commit as its sync did.
func (f *Flags) RenderAsRecorded(rec inventory.Record) {
	if f.target == nil {
		return // FromRecord took them, unless --path said otherwise
	}
	f.Source.Kustomize, f.namespaceMetadata = rec.Kustomize, rec.NamespaceMetadata
	if rec.Directory != nil {
		// (A sync of an Application records one always; a record without
		// it predates them, and the Application's reading stays.)
		f.Source.Directory = rec.Directory
	}
}
