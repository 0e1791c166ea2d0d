//go:build race

package tests

// The supervisor under test is built with the race detector when the
// tests are.
func init() { buildFlags = append(buildFlags, "-race") }
