package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteRecordInPlace rewrites a record with shorter and longer ones
// and checks that each reads back whole, and which writes kept the inode.
func TestWriteRecordInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	inode := func() uint64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	encode := func(name string) []byte {
		data, err := json.Marshal(record{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	size, err := writeRecord(path, encode(strings.Repeat("a", 100)), 0)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		inPlace bool
	}{
		{"short", true},
		{strings.Repeat("b", 200), true},
		{strings.Repeat("c", recordPage), false}, // more than a page
		{"again", false},                         // the file is more than a page
		{"small", true},
	}
	for _, step := range steps {
		before := inode()
		if size, err = writeRecord(path, encode(step.name), size); err != nil {
			t.Fatalf("write record %.10q: %v", step.name, err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != size {
			t.Errorf("record %.10q: file has %d bytes, writeRecord returned %d", step.name, len(data), size)
		}
		var got record
		if err := json.Unmarshal(data, &got); err != nil {
			t.Errorf("record %.10q does not parse: %v", step.name, err)
		} else if got.Name != step.name {
			t.Errorf("record name %.10q, expected %.10q", got.Name, step.name)
		}
		if kept := inode() == before; kept != step.inPlace {
			t.Errorf("record %.10q: rewritten in place %v, expected %v", step.name, kept, step.inPlace)
		}
	}
}

// TestWriteRecordRenameFails checks that a failed rename reports size 0,
// so that the next write does not pad in place to the size of a record
// that never reached the disk.
func TestWriteRecordRenameFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	// A non-empty directory in the record's place makes the rename fail.
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	size, err := writeRecord(path, []byte(`{"Name":"c"}`), 0)
	if err == nil {
		t.Fatal("writeRecord over a directory succeeded")
	}
	if size != 0 {
		t.Errorf("writeRecord returned size %d after a failed rename, want 0", size)
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary record left behind: %v", err)
	}
}
