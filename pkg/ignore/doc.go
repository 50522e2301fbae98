// Package ignore implements Argo CD's ignoreDifferences: rules that name
// fields a comparison leaves out (JSON pointers, jq path expressions, and
// the fields that given field managers own in the live object), and the two
// uses of them, removing those fields from both sides of a comparison and
// (RespectIgnoreDifferences=true) giving the desired object the live values
// of those fields.
//
// A rule matches an object as Argo CD matches it: group and kind are glob
// patterns ('*' matches every group or kind; an empty group is the core
// group), name and namespace match exactly when given and match every object
// when empty.
//
//	rules, err := ignore.Load("ignore.yaml") // a list of rules, or an Argo CD Application
//	// compare without the ignored fields
//	l, d := ignore.Remove(rules, live, live), ignore.Remove(rules, desired, live)
//	// or apply with the live values of the ignored fields
//	desired = ignore.Respect(rules, desired, live)
//
// The package is pure: no I/O but Load, and it never modifies its arguments.
package ignore
