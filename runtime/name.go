package runtime

import "fmt"

// MaxNameLen is the longest container name accepted.
const MaxNameLen = 64

// ValidateName checks a container name: 1 to 64 characters from
// [A-Za-z0-9_.-], not starting with '.' or '-'.
func ValidateName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("container name %q: length must be 1 to %d: %w",
			name, MaxNameLen, ErrInvalid)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("container name %q starts with %q: %w",
			name, name[0], ErrInvalid)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
			r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
		if !ok {
			return fmt.Errorf("container name %q: character %q not in [A-Za-z0-9_.-]: %w",
				name, r, ErrInvalid)
		}
	}
	return nil
}
