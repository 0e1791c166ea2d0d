package main

import "testing"

func TestParseSizeValid(t *testing.T) {
	cases := map[string]int64{
		"0":     0,
		"4096":  4096,
		"512K":  512 << 10,
		"8M":    8 << 20,
		"8m":    8 << 20,
		"8MB":   8 << 20,
		"8MiB":  8 << 20,
		"1G":    1 << 30,
		"1gib":  1 << 30,
		"100B":  100,
		"3072k": 3 << 20,
	}
	for text, expected := range cases {
		size, err := parseSize(text)
		if err != nil {
			t.Errorf("parseSize(%q) returned error %v", text, err)
		}
		if size != expected {
			t.Errorf("parseSize(%q) = %d, expected %d", text, size, expected)
		}
	}
}

func TestParseSizeInvalid(t *testing.T) {
	for _, text := range []string{"", "M", "-1M", "1.5M", "8T", "8 M", "8MM", "9223372036854775807K", "99999999999999999999"} {
		if size, err := parseSize(text); err == nil {
			t.Errorf("parseSize(%q) = %d, expected an error", text, size)
		}
	}
}

func TestSizeValueStringRoundTrip(t *testing.T) {
	cases := map[int64]string{0: "0", 100: "100", 8 << 20: "8M", 3 << 30: "3G", 1536 << 10: "1536K"}
	for size, expected := range cases {
		value := sizeValue(size)
		if text := value.String(); text != expected {
			t.Errorf("sizeValue(%d).String() = %q, expected %q", size, text, expected)
		}
		if parsed, err := parseSize(value.String()); err != nil || parsed != size {
			t.Errorf("parseSize(%q) = %d, %v, expected %d", value.String(), parsed, err, size)
		}
	}
}
