package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// roundTripFile is one file whose open, read and close are timed.
type roundTripFile struct {
	name string
	path string
}

// measureRoundTrip times open, read and close of a running container's
// state file, with the system calls themselves and no process per
// round trip, beside the same on a regular file and on a procfs file. It
// returns the section and the median of the state file in µs.
func measureRoundTrip(ctx context.Context, opts options, sup *supervisor, dir string) (section, float64) {
	sec := section{title: "Control round trip: open, read, close of state"}
	const name = "roundtrip"
	if err := sup.create(name); err != nil {
		sec.fail(err)
		return sec, math.NaN()
	}
	defer sup.remove(name)
	if err := sup.write(name, "cmd", "sleep 600"); err != nil {
		sec.fail(err)
		return sec, math.NaN()
	}
	defer sup.kill(name)

	regular := filepath.Join(dir, "state")
	if err := os.WriteFile(regular, []byte("running\n"), 0o600); err != nil {
		sec.fail(err)
		return sec, math.NaN()
	}
	defer os.Remove(regular)
	files := []roundTripFile{
		{"ctlfs: N/state of a running container", sup.path(name, "state")},
		{"regular file in the page cache", regular},
		{"procfs: /proc/self/comm", "/proc/self/comm"},
	}

	progress("round trip: %d turns of open, read, close of %d files", opts.roundTrips, len(files))
	samples, err := timeRoundTrips(ctx, files, opts.roundTrips)
	if err != nil {
		sec.fail(err)
	}
	if state, err := sup.read(name, "state"); err != nil || state != "running" {
		sec.fail(fmt.Errorf("container %s: state %q after the round trips (%v), expected running", name, state, err))
	}

	sec.text = []string{fmt.Sprintf("Median and 99th percentile (nearest rank) of %d round trips per file, "+
		"each open(2), one read(2) of up to 4 KiB and close(2) by the harness, with no process per "+
		"round trip. The files take turns round trip by round trip. "+
		"The ratio divides each median by the median of the state file.", opts.roundTrips)}
	t := newTable("file", "p50 µs", "p99 µs", "p50 / ctlfs")
	reference := median(samples[files[0].name])
	for _, f := range files {
		values := samples[f.name]
		if len(values) == 0 {
			continue
		}
		m := median(values)
		t.add(f.name, formatFloat(m, 1), formatFloat(percentile(values, 99), 1), formatRatio(m, reference))
	}
	sec.table = t
	sec.note("the regular file is in %s, on %s", dir, fileSystem(dir))
	return sec, reference
}

// timeRoundTrips times n round trips of each file, in turns, and returns
// the times in µs by file name. The first round trip of each file checks
// what it reads.
func timeRoundTrips(ctx context.Context, files []roundTripFile, n int) (map[string][]float64, error) {
	samples := map[string][]float64{}
	buf := make([]byte, 4096)
	for i := range n {
		if i%1000 == 0 && ctx.Err() != nil {
			return samples, ctx.Err()
		}
		for _, f := range files {
			start := time.Now()
			read, err := roundTrip(f.path, buf)
			elapsed := time.Since(start)
			if err != nil {
				return samples, fmt.Errorf("%s: %w", f.path, err)
			}
			if i == 0 && read == 0 {
				return samples, fmt.Errorf("%s: read nothing", f.path)
			}
			if i == 0 && strings.HasSuffix(f.path, "/state") && string(buf[:read]) != "running\n" {
				return samples, fmt.Errorf("%s: read %q, expected running", f.path, buf[:read])
			}
			samples[f.name] = append(samples[f.name], float64(elapsed)/float64(time.Microsecond))
		}
	}
	return samples, nil
}

// roundTrip opens path, reads once into buf and closes it, and returns
// the bytes read.
func roundTrip(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	n, err := unix.Read(fd, buf)
	if closeErr := unix.Close(fd); err == nil {
		err = closeErr
	}
	return n, err
}
