package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"ctlfs/runtime"
)

// TestNewRejectsMissingInit checks that the supervisor does not start
// without an init program it can run, and that the error names the one
// it tried.
func TestNewRejectsMissingInit(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "ctlfs-init")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       error
	}{
		{"missing", "/nonexistent/ctlfs-init", os.ErrNotExist},
		{"not executable", notExec, runtime.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sup, err := runtime.New(runtime.Config{StateDir: t.TempDir(), InitPath: tt.path})
			if err == nil {
				sup.Shutdown(t.Context())
				t.Fatalf("New with init %s succeeded, want an error", tt.path)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("New with init %s: %v, want %v", tt.path, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name %s", err, tt.path)
			}
		})
	}
}
