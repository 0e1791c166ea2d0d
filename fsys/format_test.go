package fsys

import (
	"syscall"
	"testing"
	"time"

	"ctlfs/runtime"
)

func TestFormatStatusTable(t *testing.T) {
	infos := []containerInfo{
		{
			name: "web", state: runtime.State{Phase: runtime.Running},
			pid: 42, rss: "4096", nice: -5, command: "/bin/sh -c 'sleep 9'",
		},
		{
			name: "db", state: runtime.State{
				Phase: runtime.Exited, Code: 137, Signal: syscall.SIGKILL,
				Reason: runtime.ReasonHardLimit,
			},
			command: "a\tb\nc",
		},
		{name: "new", state: runtime.State{Phase: runtime.Created}},
	}
	want := "NAME\tSTATE\tPID\tRSS\tNICE\tCOMMAND\n" +
		"web\trunning\t42\t4096\t-5\t/bin/sh -c 'sleep 9'\n" +
		"db\texited 137 signal=KILL reason=hard-limit\t-\t-\t0\ta b c\n" +
		"new\tcreated\t-\t-\t0\t-\n"
	if got := formatStatusTable(infos); got != want {
		t.Errorf("formatStatusTable:\ngot  %q\nwant %q", got, want)
	}
}

func TestFormatStatusTableEmpty(t *testing.T) {
	if got := formatStatusTable(nil); got != statusHeader {
		t.Errorf("formatStatusTable(nil) = %q, want the header only", got)
	}
}

func TestFormatContainerStatus(t *testing.T) {
	started := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.FixedZone("X", 3600))
	limits := runtime.DefaultLimits()
	limits.Hard = 64 << 20
	limits.CPUs = runtime.CPUList{0, 1, 3}
	info := containerInfo{
		name:    "web",
		state:   runtime.State{Phase: runtime.Running, PID: 42, Started: started},
		pid:     42,
		rss:     "8192",
		nice:    3,
		rootfs:  "/srv/rootfs",
		command: "sleep 9",
		limits:  limits,
		usage:   runtime.Usage{CPU: 1250 * time.Millisecond},
	}
	want := "name web\nstate running\npid 42\nrss 8192\ncpu 1.250000\nnice 3\n" +
		"rootfs /srv/rootfs\ncmd sleep 9\n" +
		"soft max\nhard 67108864\npids 1024\ncpus 0-1,3\n" +
		"started 2026-01-02T02:04:05.000006Z\nexited -\n"
	if got := formatContainerStatus(info); got != want {
		t.Errorf("formatContainerStatus:\ngot  %q\nwant %q", got, want)
	}
}

func TestField(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"empty", "", "-"},
		{"plain", "running", "running"},
		{"tab and newline", "a\tb\nc", "a b c"},
		{"spaces kept", "exited 1 reason=stop", "exited 1 reason=stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := field(tt.value); got != tt.want {
				t.Errorf("field(%q) = %q, want %q", tt.value, got, tt.want)
			}
		})
	}
}

func TestTrimNewline(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"none", "start", "start"},
		{"one", "start\n", "start"},
		{"only one of two", "a=1\n\n", "a=1\n"},
		{"carriage return kept", "start\r\n", "start\r"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trimNewline(tt.text); got != tt.want {
				t.Errorf("trimNewline(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseMountInfo(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		wantPoint  string
		wantFSType string
		wantOK     bool
	}{
		{
			name:       "fuse",
			line:       "46 27 0:40 / /mnt/ctl rw,nosuid,nodev,relatime - fuse.ctlfs ctlfs rw,user_id=0",
			wantPoint:  "/mnt/ctl",
			wantFSType: "fuse.ctlfs",
			wantOK:     true,
		},
		{
			name:       "optional fields",
			line:       "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw",
			wantPoint:  "/mnt2",
			wantFSType: "ext3",
			wantOK:     true,
		},
		{
			name:       "escaped space",
			line:       `50 27 0:41 / /tmp/a\040b rw - tmpfs tmpfs rw`,
			wantPoint:  "/tmp/a b",
			wantFSType: "tmpfs",
			wantOK:     true,
		},
		{name: "no separator", line: "1 2 3 4 5 6", wantOK: false},
		{name: "empty", line: "", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			point, fstype, ok := parseMountInfo(tt.line)
			if ok != tt.wantOK {
				t.Fatalf("parseMountInfo ok = %v, want %v", ok, tt.wantOK)
			}
			if point != tt.wantPoint {
				t.Errorf("mount point = %q, want %q", point, tt.wantPoint)
			}
			if fstype != tt.wantFSType {
				t.Errorf("file system type = %q, want %q", fstype, tt.wantFSType)
			}
		})
	}
}

func TestUnescapeOctal(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"plain", "/mnt/ctl", "/mnt/ctl"},
		{"tab newline backslash", `a\011b\012c\134d`, "a\tb\nc\\d"},
		{"short escape at end", `a\04`, `a\04`},
		{"not octal", `a\089`, `a\089`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unescapeOctal(tt.in); got != tt.want {
				t.Errorf("unescapeOctal(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
