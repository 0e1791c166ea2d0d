package initproc

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestMarshalConfig(t *testing.T) {
	cfg := Config{
		Name: "web-1", Rootfs: "/srv/rootfs",
		Layer:  &Layer{Upper: "/s/l/u", Work: "/s/l/w"},
		NewNet: true, Path: "/bin/sh", Argv: []string{"sh", "-c", "echo a b\nc", ""},
		Env: []string{"PATH=/bin"}, Nice: -5, LogName: "web-1.log",
		Autogroup: true,
	}
	want := "name 5 web-1\nrootfs 11 /srv/rootfs\nupper 6 /s/l/u\nwork 6 /s/l/w\n" +
		"newnet 4 true\npath 7 /bin/sh\narg 2 sh\narg 2 -c\narg 10 echo a b\nc\narg 0 \n" +
		"env 9 PATH=/bin\nnice 2 -5\nlog 9 web-1.log\nautogroup 4 true\n" +
		"hugepagesoff 5 false\nend 0 \n"
	if got := string(MarshalConfig(&cfg)); got != want {
		t.Errorf("MarshalConfig =\n%q\nwant\n%q", got, want)
	}
}

func TestStatusLine(t *testing.T) {
	ws := syscall.WaitStatus(137)
	tests := []struct {
		name string
		st   Status
		line string
	}{
		{"ready", Status{Ready: true, Version: 2}, "ready 2\n"},
		{"started", Status{Started: true}, "started\n"},
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

// TestParseStatusOldReady checks that the ready line of an init older
// than the protocol's versions reads as version 0.
func TestParseStatusOldReady(t *testing.T) {
	st, err := ParseStatus("ready\n")
	if err != nil || !st.Ready || st.Version != 0 {
		t.Errorf(`ParseStatus("ready") = %+v, %v; want ready at version 0`, st, err)
	}
	if _, err := ParseStatus("ready x\n"); err == nil {
		t.Error(`ParseStatus("ready x") succeeded, want an error`)
	}
}
