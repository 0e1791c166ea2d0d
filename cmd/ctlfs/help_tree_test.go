package main

import (
	"bytes"
	"strings"
	"testing"

	"ctlfs/fsys"
)

func TestHelpTreePrintsManual(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"help", "tree"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("ctlfs help tree exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), fsys.Manual()) {
		t.Errorf("ctlfs help tree does not print the manual:\n%s", stdout.String())
	}
	if !strings.Contains(stdout.String(), "\tmetrics  r ") {
		t.Errorf("ctlfs help tree does not list the metrics file")
	}
}
