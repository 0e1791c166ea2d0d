package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeMultipliers maps an upper-case size suffix to its power of 1024.
var sizeMultipliers = map[string]int64{
	"": 1, "B": 1,
	"K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10,
	"M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
	"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30,
}

// parseSize parses a whole number of bytes with an optional suffix such as
// K, M, G, MB or MiB, all taken as powers of 1024.
func parseSize(text string) (int64, error) {
	digitsEnd := strings.IndexFunc(text, func(r rune) bool { return r < '0' || r > '9' })
	if digitsEnd < 0 {
		digitsEnd = len(text)
	}
	multiplier, known := sizeMultipliers[strings.ToUpper(text[digitsEnd:])]
	number, err := strconv.ParseInt(text[:digitsEnd], 10, 64)
	if !known || err != nil || number > math.MaxInt64/multiplier {
		return 0, fmt.Errorf("invalid size %q: expected a whole number with an optional K, M or G suffix", text)
	}
	return number * multiplier, nil
}

// formatSize prints bytes in MiB with one decimal, the unit of the output lines.
func formatSize(bytes int64) string {
	return fmt.Sprintf("%.1fMiB", float64(bytes)/(1<<20))
}

// sizeValue is a flag.Value for a size parsed by parseSize.
type sizeValue int64

func (s *sizeValue) Set(text string) error {
	size, err := parseSize(text)
	*s = sizeValue(size)
	return err
}

// String returns the size with the largest suffix that divides it, as in 8M.
func (s *sizeValue) String() string {
	for _, suffix := range []string{"G", "M", "K"} {
		if multiplier := sizeMultipliers[suffix]; *s != 0 && int64(*s)%multiplier == 0 {
			return strconv.FormatInt(int64(*s)/multiplier, 10) + suffix
		}
	}
	return strconv.FormatInt(int64(*s), 10)
}
