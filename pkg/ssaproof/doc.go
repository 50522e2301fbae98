// Package ssaproof proves, locally and without any request, that a
// server-side apply of a desired object by a field manager would change
// nothing in the live object, so that a no-op sync needs no dry-run.
//
// The rule: a server-side apply is a no-op when the fields the manager owns
// through its Apply entry in the live object's metadata.managedFields (same
// apiVersion as the desired object, FieldsV1, no subresource) are exactly
// the fields of the desired object, and every one of those values equals the
// live value. Prove checks this by walking the desired object, the live
// object and the manager's fieldsV1 set together: map fields (f:), items of
// associative lists matched by their keys (k:), set items (v:), and leaves
// that own a whole value.
//
// Anything it cannot prove is "not proven", with a short reason; the caller
// then asks the server (a dry-run apply). Prove never says unchanged when it
// is in doubt: differently spelled equal values (1000m and 1), int64 against
// float64, nulls, reordered lists, whole values it cannot tell apart from
// emptied-then-defaulted ones, and every other apiVersion or manager entry
// than the expected one are all "not proven".
//
//	v := ssaproof.Prove(live, desired, inventory.FieldManager)
//	if !v.Unchanged {
//		// dry-run apply; v.Reason says why the proof failed
//	}
//
// Prove is pure (no I/O), does not modify its arguments and is safe for
// concurrent use.
package ssaproof
