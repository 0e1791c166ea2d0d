package fsys

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"ctlfs/runtime"
)

func TestParseCtl(t *testing.T) {
	tests := []struct {
		name string
		text string
		want ctlCommand
	}{
		{"start", "start", ctlCommand{verb: "start"}},
		{"freeze", "freeze", ctlCommand{verb: "freeze"}},
		{"thaw", "thaw", ctlCommand{verb: "thaw"}},
		{"stop default grace", "stop", ctlCommand{verb: "stop", grace: -1}},
		{"stop whole seconds", "stop 5", ctlCommand{verb: "stop", grace: 5 * time.Second}},
		{"stop decimal seconds", "stop 0.25", ctlCommand{verb: "stop", grace: 250 * time.Millisecond}},
		{"stop leading point", "stop .5", ctlCommand{verb: "stop", grace: 500 * time.Millisecond}},
		{"stop zero", "stop 0", ctlCommand{verb: "stop", grace: 0}},
		{"kill default", "kill", ctlCommand{verb: "kill", signal: syscall.SIGKILL}},
		{"kill name", "kill TERM", ctlCommand{verb: "kill", signal: syscall.SIGTERM}},
		{"kill SIG name", "kill sigusr1", ctlCommand{verb: "kill", signal: syscall.SIGUSR1}},
		{"kill number", "kill 9", ctlCommand{verb: "kill", signal: syscall.SIGKILL}},
		{"nice", "nice 5", ctlCommand{verb: "nice", nice: 5}},
		{"nice negative", "nice -20", ctlCommand{verb: "nice", nice: -20}},
		{"bare number", "19", ctlCommand{verb: "nice", nice: 19}},
		{"bare negative number", "-5", ctlCommand{verb: "nice", nice: -5}},
		{"bare plus number", "+3", ctlCommand{verb: "nice", nice: 3}},
		{"extra spaces", "  stop \t 2 ", ctlCommand{verb: "stop", grace: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCtl(tt.text)
			if err != nil {
				t.Fatalf("parseCtl(%q): %v", tt.text, err)
			}
			if got != tt.want {
				t.Errorf("parseCtl(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseCtlInvalid(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"blank", "  "},
		{"unknown verb", "restart"},
		{"upper-case verb", "START"},
		{"start with argument", "start now"},
		{"two commands", "start\nstop"},
		{"stop unit", "stop 5s"},
		{"stop negative", "stop -1"},
		{"stop exponent", "stop 1e3"},
		{"stop two points", "stop 1.2.3"},
		{"stop lone point", "stop ."},
		{"stop overflow", "stop 99999999999999999999"},
		{"stop two arguments", "stop 1 2"},
		{"kill unknown signal", "kill FOO"},
		{"kill signal zero", "kill 0"},
		{"kill signal 65", "kill 65"},
		{"kill two arguments", "kill TERM KILL"},
		{"nice missing value", "nice"},
		{"nice too low", "nice -21"},
		{"nice too high", "20"},
		{"nice not a number", "nice low"},
		{"nice double sign", "+-5"},
		{"nice two values", "nice 1 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCtl(tt.text)
			if err == nil {
				t.Fatalf("parseCtl(%q) = %+v, want an error", tt.text, got)
			}
			if !errors.Is(err, runtime.ErrInvalid) {
				t.Errorf("parseCtl(%q) error %v does not wrap ErrInvalid", tt.text, err)
			}
		})
	}
}

// FuzzParseCtl checks that parseCtl never panics, that every error wraps
// ErrInvalid, and that every command it accepts is within range.
func FuzzParseCtl(f *testing.F) {
	for _, seed := range []string{"start", "stop 1.5", "kill TERM", "nice -3", "7", "thaw"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := parseCtl(text)
		if err != nil {
			if !errors.Is(err, runtime.ErrInvalid) {
				t.Fatalf("parseCtl(%q) error %v does not wrap ErrInvalid", text, err)
			}
			return
		}
		checkCommand(t, text, cmd)
	})
}

func checkCommand(t *testing.T, text string, cmd ctlCommand) {
	t.Helper()
	if _, ok := ctlParsers[cmd.verb]; !ok {
		t.Fatalf("parseCtl(%q) returned unknown verb %q", text, cmd.verb)
	}
	if cmd.nice < -20 || cmd.nice > 19 {
		t.Fatalf("parseCtl(%q) returned nice %d out of range", text, cmd.nice)
	}
	if cmd.verb == "stop" && cmd.grace < -1 {
		t.Fatalf("parseCtl(%q) returned grace %v", text, cmd.grace)
	}
	if cmd.verb == "kill" && (cmd.signal < 1 || cmd.signal > 64) {
		t.Fatalf("parseCtl(%q) returned signal %d", text, cmd.signal)
	}
}
