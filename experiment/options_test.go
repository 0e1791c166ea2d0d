package experiment

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestNames(t *testing.T) {
	want := []string{"nice", "cpu-io", "memory"}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if _, err := lookup("turbo"); err == nil {
		t.Error("lookup of an unknown experiment: no error")
	}
}

func TestOptionsWithDefaults(t *testing.T) {
	got := Options{Mount: "/m", NiceA: 3}.withDefaults()
	if got.Mount != "/m" || got.NiceA != 3 || got.NiceB != 0 {
		t.Errorf("set fields changed: %+v", got)
	}
	if got.Out != "." || got.Hard != 64<<20 || got.Sample != 20*time.Millisecond {
		t.Errorf("zero fields not filled: %+v", got)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr bool
	}{
		{name: "defaults", change: func(*Options) {}},
		{name: "nice out of range", change: func(o *Options) { o.NiceB = 20 }, wantErr: true},
		{name: "negative cpu", change: func(o *Options) { o.CPU = -1 }, wantErr: true},
		{name: "soft above hard", change: func(o *Options) { o.Soft = 2 * o.Hard }, wantErr: true},
		{name: "negative seconds", change: func(o *Options) { o.Seconds = -1 }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			tt.change(&opts)
			if err := opts.withDefaults().validate(); (err != nil) != tt.wantErr {
				t.Errorf("validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	opts := DefaultOptions()
	fs := flag.NewFlagSet("experiment", flag.ContinueOnError)
	RegisterFlags(fs, &opts)
	args := []string{"--mount", "/x", "--nice-a", "-10", "--hard", "128M", "--sample", "5ms"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	if opts.Mount != "/x" || opts.NiceA != -10 || opts.Hard != 128<<20 ||
		opts.Sample != 5*time.Millisecond {
		t.Errorf("options after %q = %+v", args, opts)
	}
	if opts.NiceB != 5 || opts.Soft != 32<<20 {
		t.Errorf("options not given changed: %+v", opts)
	}
}

func TestTreeCheck(t *testing.T) {
	root := t.TempDir()
	tr := tree{root: root}
	if err := tr.check(); !errors.Is(err, ErrNoTree) {
		t.Errorf("check of an empty directory = %v, want ErrNoTree", err)
	}
	for _, file := range []string{"status", "ctl"} {
		if err := os.WriteFile(filepath.Join(root, file), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.check(); err != nil {
		t.Errorf("check of a directory with status and ctl = %v", err)
	}
}

func TestTreeCheckFree(t *testing.T) {
	root := t.TempDir()
	tr := tree{root: root}
	if err := tr.checkFree("exp-nice-a"); err != nil {
		t.Errorf("checkFree of a free name = %v", err)
	}
	if err := os.Mkdir(filepath.Join(root, "exp-nice-a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := tr.checkFree("exp-nice-a"); !errors.Is(err, ErrNameTaken) {
		t.Errorf("checkFree of a taken name = %v, want ErrNameTaken", err)
	}
}

func TestStateWords(t *testing.T) {
	tests := []struct {
		name                 string
		state                string
		wantExited, wantRuns bool
	}{
		{name: "created", state: "created"},
		{name: "running", state: "running", wantRuns: true},
		{name: "frozen", state: "frozen", wantRuns: true},
		{name: "stopping", state: "stopping", wantRuns: true},
		{name: "exited with fields", state: "exited 137 signal=KILL reason=kill", wantExited: true},
		{name: "exited alone", state: "exited", wantExited: true},
		{name: "empty", state: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exited(tt.state); got != tt.wantExited {
				t.Errorf("exited(%q) = %v, want %v", tt.state, got, tt.wantExited)
			}
			if got := running(tt.state); got != tt.wantRuns {
				t.Errorf("running(%q) = %v, want %v", tt.state, got, tt.wantRuns)
			}
		})
	}
}
