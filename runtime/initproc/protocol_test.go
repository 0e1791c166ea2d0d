package initproc

import (
	"bufio"
	"bytes"
	"io"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestConfigRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"minimal", Config{Name: "a", Rootfs: "/r", Path: "/bin/true", Argv: []string{"true"}}},
		{"every field", Config{
			Name: "web-1", Rootfs: "/srv/rootfs",
			Layer:  &Layer{Upper: "/s/l/u", Work: "/s/l/w"},
			NewNet: true, Path: "/bin/sh", Argv: []string{"sh", "-c", "echo hi"},
			Env: []string{"PATH=/bin", "HOME=/root"}, Nice: -5, LogName: "web-1.log",
			Autogroup: true, HugePagesOff: true,
		}},
		{"separators in values", Config{
			Name: "b", Rootfs: "/r", Path: "/p",
			Argv: []string{"echo", "a b\nc", "", "3 4\n", "x\x00y"},
			Env:  []string{"V=1 2\n3"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := append(MarshalConfig(&tt.cfg), "trailing"...)
			r := bufio.NewReader(bytes.NewReader(data))
			got, err := ReadConfig(r)
			if err != nil {
				t.Fatalf("ReadConfig: %v", err)
			}
			if rest, _ := io.ReadAll(r); string(rest) != "trailing" {
				t.Errorf("ReadConfig left %q, want the bytes after the end field", rest)
			}
			if !reflect.DeepEqual(*got, tt.cfg) {
				t.Errorf("round trip = %+v, want %+v", *got, tt.cfg)
			}
		})
	}
}

func TestReadConfigRejects(t *testing.T) {
	tests := []struct{ name, data string }{
		{"empty", ""},
		{"no end", "path 1 p\n"},
		{"no path", "name 1 a\nend 0 \n"},
		{"missing length", "path a\nend 0 \n"},
		{"short value", "name 5 abc\n"},
		{"no newline after value", "name 3 abcdend 0 \n"},
		{"negative length", "name -1 \nend 0 \n"},
		{"huge length", "name 99999999999 x\n"},
		{"unknown key", "path 1 p\ncolour 3 red\nend 0 \n"},
		{"bad number", "path 1 p\nnice 3 ten\nend 0 \n"},
		{"bad bool", "path 1 p\nnewnet 3 yes\nend 0 \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ReadConfig(bufio.NewReader(strings.NewReader(tt.data)))
			if err == nil {
				t.Errorf("ReadConfig(%q) = %+v, want an error", tt.data, cfg)
			}
		})
	}
}

func TestStatusLine(t *testing.T) {
	ws := syscall.WaitStatus(137)
	tests := []struct {
		name string
		st   Status
		line string
	}{
		{"ready", Status{Ready: true}, "ready\n"},
		{"exited", Status{WaitStatus: &ws}, "exited 137\n"},
		{"exited alone", Status{WaitStatus: &ws, Alone: true}, "exited 137 alone\n"},
		{"failed", Status{Error: "exec /x: no such file", Code: 127}, "failed 127 exec /x: no such file\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := tt.st.Line()
			if line != tt.line {
				t.Errorf("Line() = %q, want %q", line, tt.line)
			}
			got, err := ParseStatus(line)
			if err != nil {
				t.Fatalf("ParseStatus(%q): %v", line, err)
			}
			if !reflect.DeepEqual(got, tt.st) {
				t.Errorf("ParseStatus(%q) = %+v, want %+v", line, got, tt.st)
			}
		})
	}
}

func TestStatusLineOneLine(t *testing.T) {
	line := Status{Error: "a\nb\nc", Code: 126}.Line()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Errorf("Line() = %q, want one line", line)
	}
}

func TestParseStatusRejects(t *testing.T) {
	for _, line := range []string{"", "readyish\n", "exited\n", "exited -1\n", "exited 0 lonely\n",
		"failed x y\n", "done 0\n"} {
		if st, err := ParseStatus(line); err == nil {
			t.Errorf("ParseStatus(%q) = %+v, want an error", line, st)
		}
	}
}
