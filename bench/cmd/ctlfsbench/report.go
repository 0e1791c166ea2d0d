package main

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// table is a Markdown table. Columns of numbers are aligned right, and
// the others left.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table {
	return &table{header: header}
}

// add appends a row. A "|" in a cell is escaped, so that it does not end
// the cell.
func (t *table) add(cells ...string) {
	row := make([]string, len(cells))
	for i, cell := range cells {
		row[i] = strings.ReplaceAll(cell, "|", `\|`)
	}
	t.rows = append(t.rows, row)
}

// markdown returns the table with its columns padded to equal width, so
// that it reads as well in a terminal as rendered.
func (t *table) markdown() string {
	widths := make([]int, len(t.header))
	for _, row := range append([][]string{t.header}, t.rows...) {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell), 3)
		}
	}
	right := make([]bool, len(t.header))
	for i := range right {
		right[i] = t.numeric(i)
	}

	var b strings.Builder
	writeRow := func(cells []string) {
		for i, cell := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if right[i] {
				fmt.Fprintf(&b, "| %s%s ", pad, cell)
			} else {
				fmt.Fprintf(&b, "| %s%s ", cell, pad)
			}
		}
		b.WriteString("|\n")
	}
	writeRow(t.header)
	for i, w := range widths {
		if right[i] {
			fmt.Fprintf(&b, "|%s:", strings.Repeat("-", w+1))
		} else {
			fmt.Fprintf(&b, "|%s", strings.Repeat("-", w+2))
		}
	}
	b.WriteString("|\n")
	for _, row := range t.rows {
		writeRow(row)
	}
	return b.String()
}

var numberCell = regexp.MustCompile(`^(-|-?[0-9]+(\.[0-9]+)?x?)$`)

// numeric reports whether every cell of column i is a number, a ratio
// such as 1.25x, "-" or empty, and at least one is not empty.
func (t *table) numeric(i int) bool {
	found := false
	for _, row := range t.rows {
		if row[i] == "" {
			continue
		}
		if !numberCell.MatchString(row[i]) {
			return false
		}
		found = true
	}
	return found
}

// section is one part of the report: a heading, paragraphs, a table and
// notes below it. err is a failure of this part, reported in it and
// returned when the report has been written.
type section struct {
	title string
	text  []string
	table *table
	notes []string
	err   error
}

func (s *section) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// fail records err as a failure of this part of the run.
func (s *section) fail(err error) {
	s.err = errors.Join(s.err, err)
	progress("%s: %v", s.title, err)
}

type report struct {
	opts     options
	date     time.Time
	machine  *table
	sections []section
}

func newReport(opts options, machine *table) *report {
	return &report{opts: opts, date: time.Now().UTC(), machine: machine}
}

func (r *report) addSection(s section) {
	r.sections = append(r.sections, s)
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Results of %s\n\n", r.date.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Command: `%s`", r.opts.command)
	if r.opts.revision != "" {
		fmt.Fprintf(&b, ", ctlfs %s", r.opts.revision)
	}
	b.WriteString(".\n\n### Machine\n\n")
	b.WriteString(r.machine.markdown())
	for _, s := range r.sections {
		fmt.Fprintf(&b, "\n### %s\n\n", s.title)
		for _, p := range s.text {
			fmt.Fprintf(&b, "%s\n\n", p)
		}
		if s.table != nil && len(s.table.rows) > 0 {
			b.WriteString(s.table.markdown())
			if len(s.notes) > 0 || s.err != nil {
				b.WriteString("\n")
			}
		}
		for _, n := range s.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		if s.err != nil {
			fmt.Fprintf(&b, "- FAILED: %s\n", strings.ReplaceAll(s.err.Error(), "\n", "; "))
		}
	}
	return b.String()
}

// write prints the report and writes it to file, when not empty. It
// returns the failures of every section.
func (r *report) write(file string) error {
	text := r.markdown()
	fmt.Print(text)
	errs := []error{}
	if file != "" {
		errs = append(errs, os.WriteFile(file, []byte(text), 0o644))
	}
	for _, s := range r.sections {
		if s.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.title, s.err))
		}
	}
	return errors.Join(errs...)
}

// progress prints a line on stderr while the run goes on.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "ctlfsbench: "+format+"\n", args...)
}

// formatFloat formats v with digits decimals, and NaN or infinity as "-".
func formatFloat(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", digits, v)
}

// formatRatio formats a/b with an x, to two decimals below 10 and to
// three significant digits or more above.
func formatRatio(a, b float64) string {
	ratio := a / b
	if b == 0 || math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return "-"
	}
	digits := 2
	switch {
	case ratio >= 100:
		digits = 0
	case ratio >= 10:
		digits = 1
	}
	return formatFloat(ratio, digits) + "x"
}
