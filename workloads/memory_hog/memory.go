package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// memoryBudget is the memory reserved and touched by all threads of the
// process, with an optional maximum.
type memoryBudget struct {
	mu       sync.Mutex
	max      int64 // 0 means no limit
	reserved int64 // booked by reserve, including chunks still being touched
	touched  int64 // mapped and touched
}

// reserve books up to size bytes and returns the amount booked, which is
// smaller than size for the last chunk below max and 0 once max is reached.
func (b *memoryBudget) reserve(size int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.max > 0 {
		size = min(size, b.max-b.reserved)
	}
	b.reserved += size
	return size
}

// addTouched records size more bytes as touched and returns the new total.
func (b *memoryBudget) addTouched(size int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.touched += size
	return b.touched
}

func (b *memoryBudget) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.max > 0 && b.reserved >= b.max
}

// mapAndTouch maps size bytes of private anonymous memory and writes one
// byte to each page, so that the kernel backs every page and charges it.
func mapAndTouch(size int64) error {
	memory, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return fmt.Errorf("mmap of %s failed: %w", formatSize(size), err)
	}
	pageSize := unix.Getpagesize()
	for offset := 0; offset < len(memory); offset += pageSize {
		memory[offset] = 1
	}
	return nil
}

// readRSSText returns the resident set size of this process, or "unknown"
// when /proc is not mounted.
func readRSSText() string {
	rss, err := readStatusRSS()
	if err != nil {
		rss, err = readStatmRSS()
	}
	if err != nil {
		return "unknown"
	}
	return formatSize(rss)
}

// readStatusRSS returns VmRSS from /proc/self/status in bytes.
func readStatusRSS() (int64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	scanner := bufio.NewScanner(bytes.NewReader(status))
	for scanner.Scan() {
		value, found := strings.CutPrefix(scanner.Text(), "VmRSS:")
		if found {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(value, "kB")), 10, 64)
			return kib << 10, err
		}
	}
	return 0, fmt.Errorf("VmRSS not found in /proc/self/status")
}

// readStatmRSS returns the resident field of /proc/self/statm in bytes.
func readStatmRSS() (int64, error) {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(statm))
	if len(fields) < 2 {
		return 0, fmt.Errorf("invalid /proc/self/statm: %q", statm)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(unix.Getpagesize()), err
}
