package runtime

import (
	"fmt"
	"strings"
)

// DefaultPath is the PATH of a container's command.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ParseEnv parses NAME=value lines; blank lines are skipped and an empty
// text clears the environment. Names follow the POSIX shell's rule
// ([A-Za-z_][A-Za-z0-9_]*); a name given twice keeps its last value.
func ParseEnv(text string) ([]string, error) {
	var env []string
	index := make(map[string]int)
	for i, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if strings.IndexByte(line, 0) >= 0 {
			return nil, fmt.Errorf("env line %d contains a NUL byte: %w", i+1, ErrInvalid)
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("env line %d %q is not NAME=value: %w", i+1, line, ErrInvalid)
		}
		if !validEnvName(name) {
			return nil, fmt.Errorf("env line %d: invalid variable name %q: %w", i+1, name, ErrInvalid)
		}
		if j, ok := index[name]; ok {
			env[j] = line
			continue
		}
		index[name] = len(env)
		env = append(env, line)
	}
	return env, nil
}

func validEnvName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for _, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// containerEnv returns the command's environment: the defaults, then the
// added lines, which override a default of the same name.
func containerEnv(name string, added []string) []string {
	env := []string{"PATH=" + DefaultPath, "HOME=/root", "HOSTNAME=" + name}
	for _, kv := range added {
		key, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, d := range env {
			if strings.HasPrefix(d, key+"=") {
				env[i], replaced = kv, true
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env
}

// envValue returns the value of variable name in env, or "".
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}
