package runtime

import (
	"fmt"
	"strings"
)

// SplitCommand splits a command line into words as a POSIX shell does,
// honouring single quotes, double quotes and backslash escapes, but expands
// nothing: no variables, globs, tildes or command substitution. It fails
// with ErrInvalid on an unterminated quote or escape, and on a line with no
// words.
func SplitCommand(line string) ([]string, error) {
	if i := strings.IndexByte(line, 0); i >= 0 {
		return nil, fmt.Errorf("command line contains a NUL byte at byte %d: %w", i, ErrInvalid)
	}
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("command line ends with a backslash: %w", ErrInvalid)
			}
			i++
			if line[i] != '\n' { // backslash-newline joins lines
				word.WriteByte(line[i])
				inWord = true
			}
		case c == '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated single quote at byte %d: %w", i, ErrInvalid)
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '"':
			n, err := readDoubleQuoted(line[i+1:], &word)
			if err != nil {
				return nil, fmt.Errorf("%w at byte %d: %w", err, i, ErrInvalid)
			}
			i += n + 1
			inWord = true
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command line: %w", ErrInvalid)
	}
	return words, nil
}

// readDoubleQuoted copies the text of a double-quoted string (s starts after
// the opening quote) into word and returns the number of bytes consumed,
// the closing quote included. Inside double quotes a backslash escapes only
// $, `, ", \ and newline, as in the POSIX shell.
func readDoubleQuoted(s string, word *strings.Builder) (int, error) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return i + 1, nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
				i++
				if s[i] != '\n' {
					word.WriteByte(s[i])
				}
				continue
			}
			word.WriteByte(c)
		default:
			word.WriteByte(c)
		}
	}
	return 0, fmt.Errorf("unterminated double quote")
}

// QuoteCommand joins args into a command line that SplitCommand splits
// back into the same words. A word made only of letters, digits and
// _@%+=:,./- stays bare, and any other word is put in single quotes. A
// single quote inside the word closes the quotes, follows as \' and
// opens them again. The words must not contain NUL bytes, which no
// argument of exec(2) can hold.
func QuoteCommand(args []string) string {
	quoted := make([]string, len(args))
	for i, arg := range args {
		quoted[i] = quoteWord(arg)
	}
	return strings.Join(quoted, " ")
}

func quoteWord(word string) string {
	if word != "" && strings.Trim(word, safeWordChars) == "" {
		return word
	}
	return "'" + strings.ReplaceAll(word, "'", `'\''`) + "'"
}

// safeWordChars are the bytes that QuoteCommand leaves bare: both
// SplitCommand and a POSIX shell take them literally outside quotes.
const safeWordChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" +
	"0123456789_@%+=:,./-"
