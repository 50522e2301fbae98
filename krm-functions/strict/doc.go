// Package strict finds the keys of a function config that the config's Go
// type has no field for, at every level, so that a misspelled key fails the
// function instead of being dropped by the decoder. A policy whose
// `namespaceResourceBlacklst` is silently ignored blocks nothing; strict
// makes it an error that names the key, its path and the key meant.
//
//	cfg := &Config{}
//	errs := strict.UnknownKeys(node, cfg, "")
//	// errs[0]: spec.namespaceResourceBlacklst: unknown key; did you mean namespaceResourceBlacklist?
//
// The walk follows the fields' json tags (yaml tags when there is none).
// Maps accept any key and check their values; interface values, and types
// that decode themselves (json.Unmarshaler), accept anything beneath them.
// Matching is case-sensitive, as Kubernetes' own schemas are.
package strict
