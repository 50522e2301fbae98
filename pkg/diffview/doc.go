// Package diffview is the view of a sync's ChangeSet that `kubectl gitops
// diff` shows: per object, the live object against what the server would
// store (Change.Merged), with server-set noise removed and every secret
// masked, as a unified diff, as two directories of YAML files for an
// external diff program, or as structured data for -o json|yaml. It reads
// only the change set and writes only to the writer or directories given.
//
//	cs, err := gsync.New(c, opts).Compare(ctx, in)
//	v := diffview.New(cs, in.SecretValues)
//	err = v.WriteUnified(os.Stdout, diffview.UnifiedOptions{Color: isTerminal})
//	fmt.Fprintln(os.Stderr, v.Summary)
//
// Secrets are masked pairwise: a Secret's data and stringData values, and
// the kubectl.kubernetes.io/last-applied-configuration annotation of any
// object, become runs of '+' (++++++++, +++++++++, ...): a value equal on
// both sides gets the same mask, a changed value a visibly different one,
// and neither the value nor its base64 form appears. Every other string
// is also passed through a redactor that knows the Secrets' values and the
// values decrypted from SOPS files.
package diffview
