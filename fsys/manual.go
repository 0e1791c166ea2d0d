package fsys

import (
	_ "embed"
	"go/doc/comment"
	"strings"
)

// docSource is the package document, which is the tree's manual.
//
//go:embed doc.go
var docSource string

// Manual returns the package document, the manual of the tree, as plain
// text for a terminal, so that ctlfs help tree and go doc print the same
// words.
func Manual() string {
	var lines []string
	for _, line := range strings.Split(docSource, "\n") {
		if strings.HasPrefix(line, "package ") {
			break
		}
		text, ok := strings.CutPrefix(line, "//")
		if !ok {
			continue
		}
		lines = append(lines, strings.TrimPrefix(text, " "))
	}
	var p comment.Parser
	doc := p.Parse(strings.Join(lines, "\n"))
	pr := comment.Printer{TextWidth: 76}
	return string(pr.Text(doc))
}
