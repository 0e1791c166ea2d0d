package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestLogFileRotation(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "logs"), 0o700)
	const max = 1000
	l, err := openLogFile(dir, "c", max)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i := range 200 {
		line := []byte(fmt.Sprintf("line %03d\n", i))
		all.Write(line)
		if err := l.append(line); err != nil {
			t.Fatal(err)
		}
	}
	if l.Size() != int64(all.Len()) {
		t.Errorf("size = %d, want %d", l.Size(), all.Len())
	}
	start := l.Start()
	if start == 0 || l.Size()-start > max {
		t.Errorf("kept %d..%d, want at most %d bytes and some dropped", start, l.Size(), max)
	}
	got := make([]byte, l.Size()-start)
	n, err := l.ReadAt(got, start)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:n], all.Bytes()[start:]) {
		t.Errorf("read across rotation differs:\n%q\nwant\n%q", got[:n], all.Bytes()[start:])
	}
	if _, err := l.ReadAt(got, start-1); !errors.Is(err, ErrRotated) {
		t.Errorf("read below start: err = %v, want ErrRotated", err)
	}
	var disk int64
	for _, name := range []string{"c.log", "c.log.1"} {
		fi, err := os.Stat(filepath.Join(dir, "logs", name))
		if err != nil {
			t.Fatal(err)
		}
		disk += fi.Size()
	}
	if disk > max {
		t.Errorf("log uses %d bytes on disk, cap %d", disk, max)
	}
	l.close()
	reopened, err := openLogFile(dir, "c", max)
	if err != nil {
		t.Fatal(err)
	}
	if reopened.Size() != disk {
		t.Errorf("reopened size = %d, want %d", reopened.Size(), disk)
	}
	if err := reopened.remove(); err != nil {
		t.Fatal(err)
	}
}
