package runtime

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		name, line string
		want       []string
		err        bool
	}{
		{"plain", "ls -l /", []string{"ls", "-l", "/"}, false},
		{"NUL byte", "echo a\x00b", nil, true},
		{"double quotes", `sh -c "echo hello world"`, []string{"sh", "-c", "echo hello world"}, false},
		{"single quotes", `echo 'a "b" $c'`, []string{"echo", `a "b" $c`}, false},
		{"escapes", `echo a\ b \"c\"`, []string{"echo", "a b", `"c"`}, false},
		{"escape in double quotes", `echo "a\"b\\c\d"`, []string{"echo", `a"b\c\d`}, false},
		{"adjacent quotes join", `echo a'b'"c"`, []string{"echo", "abc"}, false},
		{"empty quoted word", `echo ''`, []string{"echo", ""}, false},
		{"no expansion", `echo $HOME * ~`, []string{"echo", "$HOME", "*", "~"}, false},
		{"tabs and newlines", "a\tb\nc", []string{"a", "b", "c"}, false},
		{"line continuation", "a\\\nb", []string{"ab"}, false},
		{"unterminated double", `sh -c "echo`, nil, true},
		{"unterminated single", `echo 'x`, nil, true},
		{"trailing backslash", `echo x\`, nil, true},
		{"empty", "   ", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitCommand(tt.line)
			if tt.err {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name, text string
		want       uint64
		err        bool
	}{
		{"bytes", "67108864", 64 << 20, false},
		{"M", "64M", 64 << 20, false},
		{"MiB", "64MiB", 64 << 20, false},
		{"MB", "64MB", 64 << 20, false},
		{"Mi", "64Mi", 64 << 20, false},
		{"K", "4K", 4096, false},
		{"G", "1G", 1 << 30, false},
		{"T", "2T", 2 << 40, false},
		{"B", "10B", 10, false},
		{"max", "max", Unlimited, false},
		{"zero", "0", 0, false},
		{"negative", "-1", 0, true},
		{"lowercase unit", "64m", 0, true},
		{"unknown unit", "64X", 0, true},
		{"empty", "", 0, true},
		{"fraction", "1.5G", 0, true},
		{"overflow", "99999999999T", 0, true},
		{"space", "64 M", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.text)
			if tt.err != (err != nil) || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.text, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	base := DefaultLimits()
	tests := []struct {
		name, text string
		want       Limits
		err        bool
	}{
		{"sizes", "soft=32M hard=64MiB", Limits{Soft: 32 << 20, Hard: 64 << 20, Pids: 1024}, false},
		{"newlines", "pids=10\ncpus=0-1,3\n", Limits{Soft: Unlimited, Hard: Unlimited, Pids: 10, CPUs: CPUList{0, 1, 3}}, false},
		{"max", "hard=max pids=max", Limits{Soft: Unlimited, Hard: Unlimited, Pids: Unlimited}, false},
		{"soft above hard", "soft=64M hard=32M", base, true},
		{"unknown key", "color=red", base, true},
		{"garbage", "garbage", base, true},
		{"negative", "soft=-1", base, true},
		{"hard without a unit", "hard=64", base, true},
		{"hard with a unit under a page", "hard=1K", base, true},
		{"hard of one page", "hard=4K", Limits{Soft: Unlimited, Hard: 4096, Pids: 1024}, false},
		{"soft below a page", "soft=1K", Limits{Soft: 1024, Hard: Unlimited, Pids: 1024}, false},
		{"repeated key", "soft=1M soft=2M", base, true},
		{"zero pids", "pids=0", base, true},
		{"bad cpus", "cpus=1-0", base, true},
		{"empty", "", base, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseLimits(tt.text, base)
			if tt.err != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("limits = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidateName(t *testing.T) {
	good := []string{"a", "alpha", "A_b.c-1", strings.Repeat("x", 64), "0"}
	bad := []string{"", ".x", "-x", "a b", "a/b", "é", strings.Repeat("x", 65), "a\n"}
	for _, name := range good {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range bad {
		if err := ValidateName(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalid", name, err)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		text string
		want int
		err  bool
	}{
		{"KILL", 9, false}, {"SIGTERM", 15, false}, {"term", 15, false},
		{"9", 9, false}, {"0", 0, true}, {"65", 0, true}, {"NOPE", 0, true}, {"09", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSignal(tt.text)
		if tt.err != (err != nil) || int(got) != tt.want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d, error %v", tt.text, got, err, tt.want, tt.err)
		}
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		name string
		st   State
		want string
	}{
		{"running", State{Phase: Running}, "running"},
		{"exit 0", State{Phase: Exited}, "exited 0"},
		{"own 137", State{Phase: Exited, Code: 137}, "exited 137"},
		{"hard limit", State{Phase: Exited, Code: 137, Signal: 9, Reason: ReasonHardLimit},
			"exited 137 signal=KILL reason=hard-limit"},
	}
	for _, tt := range tests {
		if got := tt.st.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{`sh -c "echo hi"`, `a\ b 'c d' "e\"f"`, `'`, "x\\\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := SplitCommand(line)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		// Quoting each word again gives back the same words.
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		again, err := SplitCommand(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, words) {
			t.Fatalf("requoted %q splits into %q, %v", words, again, err)
		}
	})
}

func TestQuoteCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bare words", []string{"ls", "-l", "/usr/bin"}, "ls -l /usr/bin"},
		{"space", []string{"sh", "-c", "exit 3"}, "sh -c 'exit 3'"},
		{"single quote", []string{"echo", "it's"}, `echo 'it'\''s'`},
		{"empty word", []string{"echo", ""}, "echo ''"},
		{"no expansion", []string{"echo", "$HOME", "*", "~"}, `echo '$HOME' '*' '~'`},
		{"newline", []string{"printf", "a\nb"}, "printf 'a\nb'"},
		{"backslash", []string{"echo", `a\b`}, `echo 'a\b'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QuoteCommand(tt.args)
			if got != tt.want {
				t.Errorf("QuoteCommand(%q) = %q, want %q", tt.args, got, tt.want)
			}
			words, err := SplitCommand(got)
			if err != nil || !reflect.DeepEqual(words, tt.args) {
				t.Errorf("SplitCommand(%q) = %q, %v; want %q", got, words, err, tt.args)
			}
		})
	}
}

// FuzzQuoteCommand checks that SplitCommand gives back the words that
// QuoteCommand joined. The input is the words separated by NUL bytes,
// which no argument of exec(2) can contain.
func FuzzQuoteCommand(f *testing.F) {
	for _, s := range []string{"sh\x00-c\x00exit 3", "echo\x00", "a'b\x00\"c\\\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		line := QuoteCommand(args)
		words, err := SplitCommand(line)
		if err != nil || !reflect.DeepEqual(words, args) {
			t.Fatalf("QuoteCommand(%q) = %q, which splits into %q, %v", args, line, words, err)
		}
	})
}

func FuzzParseLimits(f *testing.F) {
	for _, s := range []string{"soft=32M hard=64M", "pids=10 cpus=0-1,3", "hard=max", "soft=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		l, err := ParseLimits(text, DefaultLimits())
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := ParseLimits(l.String(), DefaultLimits())
		if err != nil || !reflect.DeepEqual(again, l) {
			t.Fatalf("limits %+v read back as %+v, %v", l, again, err)
		}
	})
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-1,3", "all", "3-1", "1,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		l, err := ParseCPUList(text)
		if err != nil {
			return
		}
		again, err := ParseCPUList(orAll(l.String()))
		if err != nil || !reflect.DeepEqual(again, l) && len(l) > 0 {
			t.Fatalf("list %v read back as %v, %v", l, again, err)
		}
	})
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"alpha", ".x", "a/b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ok := ValidateName(name) == nil
		if ok != namePattern.MatchString(name) {
			t.Fatalf("ValidateName(%q) ok=%v disagrees with the pattern", name, ok)
		}
	})
}

func FuzzParseEnv(f *testing.F) {
	for _, s := range []string{"A=1\nB=2", "=x", "1A=2", "A=\nA=b", "A=x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		env, err := ParseEnv(text)
		if err != nil {
			return
		}
		for _, kv := range env {
			name, _, ok := strings.Cut(kv, "=")
			if !ok || !validEnvName(name) || strings.ContainsAny(kv, "\n\x00") {
				t.Fatalf("accepted bad entry %q", kv)
			}
		}
	})
}

// TestHardUnderPageHint suggests a unit only for a bare nonzero number.
func TestHardUnderPageHint(t *testing.T) {
	for _, tt := range []struct{ text, hint string }{
		{"hard=64", "as in hard=64M"},
		{"hard=1K", ""},
		{"hard=0", ""},
	} {
		_, err := ParseLimits(tt.text, DefaultLimits())
		if err == nil {
			t.Errorf("%s: accepted", tt.text)
			continue
		}
		if got := strings.Contains(err.Error(), "as in"); got != (tt.hint != "") {
			t.Errorf("%s: error %q, want hint %q", tt.text, err, tt.hint)
		}
		if tt.hint != "" && !strings.Contains(err.Error(), tt.hint) {
			t.Errorf("%s: error %q lacks %q", tt.text, err, tt.hint)
		}
	}
}
