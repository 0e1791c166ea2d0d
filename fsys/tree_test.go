package fsys

import (
	"os"
	"strings"
	"testing"
)

func TestFileTables(t *testing.T) {
	tables := []struct {
		name  string
		specs []fileSpec
	}{
		{"root", rootFiles},
		{"container", containerFiles},
	}
	for _, table := range tables {
		t.Run(table.name, func(t *testing.T) {
			seen := make(map[string]bool)
			for _, spec := range table.specs {
				if seen[spec.name] {
					t.Errorf("file %s declared twice", spec.name)
				}
				seen[spec.name] = true
				checkSpec(t, &spec)
			}
		})
	}
}

// checkSpec checks that a file's permission bits match its handlers.
func checkSpec(t *testing.T, spec *fileSpec) {
	t.Helper()
	var want uint32
	if spec.readable() {
		want |= 0o444
	}
	if spec.writable() {
		want |= 0o200
	}
	if spec.mode != want {
		t.Errorf("file %s: mode %#o, handlers imply %#o", spec.name, spec.mode, want)
	}
	if spec.read != nil && spec.stream != nil {
		t.Errorf("file %s: both a value and a stream", spec.name)
	}
	if spec.blocking && spec.read == nil {
		t.Errorf("file %s: blocking without a read handler", spec.name)
	}
}

// TestDocListsEveryFile checks that the package document describes every
// file with its mode.
func TestDocListsEveryFile(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, specs := range [][]fileSpec{rootFiles, containerFiles} {
		for _, spec := range specs {
			if !docHasEntry(string(doc), spec.name, modeLetters(spec.mode)) {
				t.Errorf("doc.go has no line %q for file %s",
					"//\t"+spec.name+" "+modeLetters(spec.mode), spec.name)
			}
		}
	}
}

// docHasEntry reports whether doc has a table line that starts with name
// and then the mode letters.
func docHasEntry(doc, name, mode string) bool {
	for _, line := range strings.Split(doc, "\n") {
		fields := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(fields) >= 2 && fields[0] == name && fields[1] == mode {
			return true
		}
	}
	return false
}

func modeLetters(mode uint32) string {
	letters := ""
	if mode&0o444 != 0 {
		letters += "r"
	}
	if mode&0o222 != 0 {
		letters += "w"
	}
	return letters
}
