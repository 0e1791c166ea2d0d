package runtime

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Unlimited is the value of a size or count limit that is not set ("max").
const Unlimited = math.MaxUint64

// DefaultPids is the default maximum number of tasks in a container.
const DefaultPids = 1024

// Limits are a container's resource limits.
type Limits struct {
	// Soft is the RSS in bytes above which a soft-limit event is emitted.
	Soft uint64
	// Hard is the RSS in bytes above which the container is killed.
	Hard uint64
	// Pids is the maximum number of tasks at once.
	Pids uint64
	// CPUs is the set of CPUs the tasks may run on; empty means all.
	CPUs CPUList
}

// DefaultLimits returns the limits of a new container.
func DefaultLimits() Limits {
	return Limits{Soft: Unlimited, Hard: Unlimited, Pids: DefaultPids}
}

// String formats the limits as the limits file reads: one key=value per
// line, for every key, sizes in bytes.
func (l Limits) String() string {
	cpus := l.CPUs.String()
	if cpus == "" {
		cpus = "all"
	}
	return fmt.Sprintf("soft=%s\nhard=%s\npids=%s\ncpus=%s\n",
		formatCount(l.Soft), formatCount(l.Hard), formatCount(l.Pids), cpus)
}

func formatCount(v uint64) string {
	if v == Unlimited {
		return "max"
	}
	return strconv.FormatUint(v, 10)
}

// ParseLimits applies the key=value pairs of text, separated by spaces or
// newlines, to base and returns the result. Keys not named keep their value
// from base. It fails with ErrInvalid on unknown keys, malformed values, a
// repeated key, or a soft limit above the hard limit.
func ParseLimits(text string, base Limits) (Limits, error) {
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return base, fmt.Errorf("limits: empty write, expected key=value: %w", ErrInvalid)
	}
	l := base
	seen := make(map[string]bool)
	for _, f := range fields {
		key, value, ok := strings.Cut(f, "=")
		if !ok {
			return base, fmt.Errorf("limits: %q is not key=value: %w", f, ErrInvalid)
		}
		if seen[key] {
			return base, fmt.Errorf("limits: key %q given twice: %w", key, ErrInvalid)
		}
		seen[key] = true
		if err := l.set(key, value); err != nil {
			return base, err
		}
	}
	if l.Soft != Unlimited && l.Hard != Unlimited && l.Soft > l.Hard {
		return base, fmt.Errorf("limits: soft %d above hard %d: %w", l.Soft, l.Hard, ErrInvalid)
	}
	return l, nil
}

func (l *Limits) set(key, value string) error {
	var err error
	switch key {
	case "soft":
		l.Soft, err = ParseSize(value)
	case "hard":
		l.Hard, err = ParseSize(value)
		if err == nil && l.Hard < minHard {
			// Most likely a forgotten unit: no container runs in less
			// than a page, and it would be killed at its first fault.
			err = fmt.Errorf("%d bytes is less than one page (%d bytes): %w", l.Hard, minHard, ErrInvalid)
			if l.Hard > 0 && strings.Trim(value, "0123456789") == "" {
				// Only a bare number lacks a unit, so 1K or 0M gets no hint.
				err = fmt.Errorf("%d bytes is less than one page (%d bytes), and a size without a unit is bytes, as in %s=%sM: %w",
					l.Hard, minHard, key, value, ErrInvalid)
			}
		}
	case "pids":
		l.Pids, err = parsePids(value)
	case "cpus":
		l.CPUs, err = ParseCPUList(value)
	default:
		return fmt.Errorf("limits: unknown key %q (known: soft, hard, pids, cpus): %w", key, ErrInvalid)
	}
	if err != nil {
		return fmt.Errorf("limits: %s: %w", key, err)
	}
	return nil
}

// minHard is the smallest hard limit accepted: one 4 KiB page.
const minHard = 4096

func parsePids(value string) (uint64, error) {
	if value == "max" {
		return Unlimited, nil
	}
	n, err := strconv.ParseUint(value, 10, 32)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("invalid task count %q, expected 1 to %d or max: %w",
			value, uint32(math.MaxUint32), ErrInvalid)
	}
	return n, nil
}

// ParseSize parses a size: bytes, or a number followed by K, M, G or T,
// optionally followed by "i" and "B", all powers of 1024 ("64M", "64MiB",
// "64MB", "67108864"), or "max" for Unlimited.
func ParseSize(text string) (uint64, error) {
	if text == "max" {
		return Unlimited, nil
	}
	digits := strings.TrimRightFunc(text, func(r rune) bool {
		return r < '0' || r > '9'
	})
	unit := text[len(digits):]
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, fmt.Errorf("invalid size %q, expected bytes or a number with K, M, G or T: %w",
			text, ErrInvalid)
	}
	shift, ok := sizeShift(unit)
	if !ok {
		return 0, fmt.Errorf("invalid size unit %q in %q (use K, M, G or T, with optional i and B): %w",
			unit, text, ErrInvalid)
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n > math.MaxUint64>>shift || n<<shift == Unlimited {
		return 0, fmt.Errorf("size %q out of range: %w", text, ErrInvalid)
	}
	return n << shift, nil
}

func sizeShift(unit string) (uint, bool) {
	if unit == "" || unit == "B" {
		return 0, true
	}
	shifts := map[byte]uint{'K': 10, 'M': 20, 'G': 30, 'T': 40}
	shift, ok := shifts[unit[0]]
	if !ok {
		return 0, false
	}
	switch unit[1:] {
	case "", "B", "i", "iB":
		return shift, true
	}
	return 0, false
}

// CPUList is a sorted set of CPU numbers without repeats.
type CPUList []int

// MaxCPU is the highest CPU number a CPU list may name.
const MaxCPU = 8191

// ParseCPUList parses a CPU list as the kernel writes one ("0", "0-1,3"),
// or "all" for every CPU (an empty list).
func ParseCPUList(text string) (CPUList, error) {
	if text == "all" {
		return nil, nil
	}
	set := make(map[int]bool)
	for _, part := range strings.Split(text, ",") {
		lo, hi, err := parseCPURange(part)
		if err != nil {
			return nil, fmt.Errorf("cpu list %q: %w", text, err)
		}
		for c := lo; c <= hi; c++ {
			set[c] = true
		}
	}
	list := make(CPUList, 0, len(set))
	for c := range set {
		list = append(list, c)
	}
	sort.Ints(list)
	return list, nil
}

func parseCPURange(part string) (int, int, error) {
	first, last, isRange := strings.Cut(part, "-")
	lo, err := parseCPU(first)
	if err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	hi, err := parseCPU(last)
	if err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %q runs backwards: %w", part, ErrInvalid)
	}
	return lo, hi, nil
}

func parseCPU(text string) (int, error) {
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 || n > MaxCPU || strconv.Itoa(n) != text {
		return 0, fmt.Errorf("invalid CPU number %q, expected 0 to %d: %w", text, MaxCPU, ErrInvalid)
	}
	return n, nil
}

// String formats the list in the kernel's range form ("0-1,3").
func (l CPUList) String() string {
	var parts []string
	for i := 0; i < len(l); {
		j := i
		for j+1 < len(l) && l[j+1] == l[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(l[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", l[i], l[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// checkOnline fails with ErrInvalid when list names a CPU that is not
// online, so that a bad cpus limit is rejected when it is written rather
// than when the container starts.
func checkOnline(list CPUList) error {
	if len(list) == 0 {
		return nil
	}
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil // cannot tell here; the cpuset rejects it at start
	}
	online, err := ParseCPUList(strings.TrimSpace(string(data)))
	if err != nil {
		return nil
	}
	for _, cpu := range list {
		if !slices.Contains(online, cpu) {
			return fmt.Errorf("limits: cpus %s: CPU %d is not online (online: %s): %w",
				list, cpu, online, ErrInvalid)
		}
	}
	return nil
}
