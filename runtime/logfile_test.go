package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
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

// TestLogFileCreatedAtFirstByte checks that a log makes no file until
// something is appended, reads as empty meanwhile, and can be removed
// and closed either way.
func TestLogFileCreatedAtFirstByte(t *testing.T) {
	l, dir := newTestLog(t, 0)
	path := filepath.Join(dir, "logs", "c.log")
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("log file before the first byte: stat err = %v, want not exist", err)
	}
	if n, err := l.ReadAt(make([]byte, 8), 0); n != 0 || err != io.EOF {
		t.Errorf("read of an empty log = %d, %v; want 0, EOF", n, err)
	}
	if err := l.append([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "hi\n" {
		t.Errorf("log file after the first bytes = %q, %v; want %q", data, err, "hi\n")
	}

	// An idle log closes its file and opens it again to read or append.
	l.idle()
	if l.cur != nil {
		t.Error("idle left the log file open")
	}
	if err := l.append([]byte("again\n")); err != nil {
		t.Fatal(err)
	}
	l.idle()
	got := make([]byte, 64)
	if n, err := l.ReadAt(got, 0); string(got[:n]) != "hi\nagain\n" || err != nil {
		t.Errorf("read after idle = %q, %v; want %q", got[:n], err, "hi\nagain\n")
	}

	empty, err := openLogFile(dir, "d", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.remove(); err != nil {
		t.Errorf("remove a log that was never written: %v", err)
	}
	if err := empty.append([]byte("late\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("append after remove: err = %v, want ErrClosed", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "d.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("append after remove made the file: stat err = %v", err)
	}
}

// TestLogFileSpliceMakesNoEmptyFile checks that splicing from a pipe
// that is empty, or closed without data, leaves the log without a file.
func TestLogFileSpliceMakesNoEmptyFile(t *testing.T) {
	l, dir := newTestLog(t, 0)
	fd, w := nonblockingPipe(t)
	via := testCopyPipe(t)
	if n, err := l.spliceFrom(fd, via, 1024); n != 0 || err != unix.EAGAIN {
		t.Errorf("splice from an empty pipe = %d, %v; want 0, EAGAIN", n, err)
	}
	w.Close()
	if n, err := l.spliceFrom(fd, via, 1024); n != 0 || err != nil {
		t.Errorf("splice from a closed empty pipe = %d, %v; want 0, nil", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "logs", "c.log")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("log file after splices of nothing: stat err = %v, want not exist", err)
	}
}

// TestLogFileSplice moves a pipe's bytes into a log across a rotation
// with spliceFrom, then checks the pipe's empty and closed states.
func TestLogFileSplice(t *testing.T) {
	const max = 64 << 10
	l, dir := newTestLog(t, max)
	fd, w := nonblockingPipe(t)
	via := testCopyPipe(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<10) // 48 KiB
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}

	var moved int64
	for moved < int64(len(data)) {
		n, err := l.spliceFrom(fd, via, 5000)
		if err != nil {
			t.Fatalf("splice after %d bytes: %v", moved, err)
		}
		if n == 0 || n > 5000 {
			t.Fatalf("splice after %d bytes moved %d, want 1 to 5000", moved, n)
		}
		moved += n
	}
	if _, err := l.spliceFrom(fd, via, 5000); err != unix.EAGAIN {
		t.Errorf("splice from the empty pipe: err = %v, want EAGAIN", err)
	}
	w.Close()
	if n, err := l.spliceFrom(fd, via, 5000); n != 0 || err != nil {
		t.Errorf("splice from the closed pipe = %d, %v; want 0, nil", n, err)
	}

	// 48 KiB with a cap of 64 KiB: the first file took 32 KiB, then it
	// rotated, so the log keeps every byte in two files.
	if l.Size() != int64(len(data)) || l.Start() != 0 {
		t.Errorf("log holds %d..%d, want 0..%d", l.Start(), l.Size(), len(data))
	}
	got := make([]byte, len(data))
	n, err := l.ReadAt(got, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:n], data) {
		t.Errorf("log differs from what the pipe held (%d of %d bytes read)", n, len(data))
	}
	for name, want := range map[string]int64{"c.log.1": max / 2, "c.log": int64(len(data)) - max/2} {
		fi, err := os.Stat(filepath.Join(dir, "logs", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != want {
			t.Errorf("%s has %d bytes, want %d", name, fi.Size(), want)
		}
	}
}

// TestLogReadInto covers the read and write fallback of pumpLog for
// file systems without splice writes.
func TestLogReadInto(t *testing.T) {
	l, _ := newTestLog(t, 0)
	fd, w := nonblockingPipe(t)
	w.Write([]byte("first\n"))
	w.Write([]byte("second\n"))

	if n, err := readInto(fd, l); n != 13 || err != nil {
		t.Errorf("readInto = %d, %v; want 13, nil", n, err)
	}
	if _, err := readInto(fd, l); err != unix.EAGAIN {
		t.Errorf("readInto from the empty pipe: err = %v, want EAGAIN", err)
	}
	w.Close()
	if n, err := readInto(fd, l); n != 0 || err != nil {
		t.Errorf("readInto from the closed pipe = %d, %v; want 0, nil", n, err)
	}

	got := make([]byte, 64)
	n, _ := l.ReadAt(got, 0)
	if string(got[:n]) != "first\nsecond\n" {
		t.Errorf("log = %q, want %q", got[:n], "first\nsecond\n")
	}
}

// TestCopyLogFallsBack makes every splice into the log fail with EINVAL,
// as on a file system without splice writes, and checks that copyLog
// moves the pipe's bytes with read and write instead.
func TestCopyLogFallsBack(t *testing.T) {
	l, dir := newTestLog(t, 0)
	// The file is made at the first byte; open it now to change its mode.
	if err := os.WriteFile(filepath.Join(dir, "logs", "c.log"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l.resync()
	// splice(2) rejects a file in append mode with EINVAL.
	flags, err := unix.FcntlInt(l.cur.Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(l.cur.Fd(), unix.F_SETFL, flags|unix.O_APPEND); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 1000)
	w.Write(data)
	w.Close()

	via, err := newCopyPipe()
	if err != nil {
		t.Fatal(err)
	}
	via.closeInitEnd()
	var errs []error
	<-pumpLog(r, via, l, func(err error) { errs = append(errs, err) })
	if len(errs) > 0 {
		t.Errorf("pumpLog reported %v", errs)
	}
	if l.Size() != int64(len(data)) {
		t.Errorf("log holds %d bytes, want %d", l.Size(), len(data))
	}
}

// newTestLog opens the log of a container c in a new state directory,
// removed with the test, and returns it with the directory.
func newTestLog(t *testing.T, max int64) (*logFile, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := openLogFile(dir, "c", max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.remove() })
	return l, dir
}

// nonblockingPipe returns the non-blocking read end of a new pipe, as a
// descriptor, and its write end. The read end is closed with the test.
func nonblockingPipe(t *testing.T) (int, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	fd := int(r.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	return fd, w
}

// testCopyPipe returns a copy pipe that is closed at the test's end.
func testCopyPipe(t *testing.T) *copyPipe {
	t.Helper()
	via, err := newCopyPipe()
	if err != nil {
		t.Fatal(err)
	}
	via.closeInitEnd()
	t.Cleanup(via.close)
	return via
}
