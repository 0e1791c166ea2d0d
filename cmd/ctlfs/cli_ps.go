package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

const psLong = `List the containers that run, are frozen or are stopping, from the
tree's status file ("cat MOUNT/status" shows the same, tab-separated).
With -a, list every container. RSS is the resident memory of all the
container's processes, in bytes unless --human.`

func newPsCommand() *cobra.Command {
	var all, quiet, human bool
	cmd := &cobra.Command{
		Use:   "ps [flags]",
		Short: "List containers",
		Long:  psLong,
		Args:  noArgs,
	}
	mount := containerCommand(cmd)
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	cmd.Flags().BoolVarP(&all, "all", "a", false,
		"list every container, also those created or exited")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the names")
	cmd.Flags().BoolVar(&human, "human", false,
		"print RSS in KiB, MiB or GiB (powers of 1024) instead of bytes")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		tree, err := openTree(*mount)
		if err != nil {
			return err
		}
		rows, err := tree.status()
		if err != nil {
			return err
		}
		if !all {
			rows = runningRows(rows)
		}
		if quiet {
			for _, row := range rows {
				fmt.Fprintln(cmd.OutOrStdout(), row["NAME"])
			}
			return nil
		}
		return printPs(cmd.OutOrStdout(), rows, human)
	}
	return cmd
}

func printPs(w io.Writer, rows []statusRow, human bool) error {
	table := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(table, "NAME\tSTATE\tPID\tRSS\tNICE\tCOMMAND")
	for _, row := range rows {
		rss := row["RSS"]
		if human {
			rss = humanSize(rss)
		}
		fmt.Fprintf(table, "%s\t%s\t%s\t%s\t%s\t%s\n", row["NAME"], dash(row["STATE"]),
			dash(row["PID"]), dash(rss), dash(row["NICE"]), dash(row["COMMAND"]))
	}
	return table.Flush()
}

// statusRow is one line of the root's status file, by column name. An
// empty field, which the file shows as "-", is "".
type statusRow map[string]string

// status reads and parses the root's status file: a header of column
// names, then one line per container, with tab-separated fields.
func (t *treeClient) status() ([]statusRow, error) {
	text, err := t.read("", "status")
	if err != nil {
		return nil, err
	}
	rows, err := parseStatus(text)
	if err != nil {
		return nil, cliError(fmt.Errorf("read %s: %w", t.path("", "status"), err))
	}
	return rows, nil
}

func parseStatus(text string) ([]statusRow, error) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	header := strings.Split(lines[0], "\t")
	if header[0] != "NAME" {
		return nil, fmt.Errorf("header %q does not start with NAME", lines[0])
	}
	var rows []statusRow
	for i, line := range lines[1:] {
		fields := strings.Split(line, "\t")
		if len(fields) != len(header) {
			return nil, fmt.Errorf("line %d has %d fields, the header %d: %q",
				i+2, len(fields), len(header), line)
		}
		row := make(statusRow, len(header))
		for j, column := range header {
			if fields[j] != "-" {
				row[column] = fields[j]
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// runningRows returns the rows of the containers that run, are frozen
// or are stopping.
func runningRows(rows []statusRow) []statusRow {
	var running []statusRow
	for _, row := range rows {
		if isRunning(row["STATE"]) {
			running = append(running, row)
		}
	}
	return running
}

func isRunning(state string) bool {
	switch first, _, _ := strings.Cut(state, " "); first {
	case "running", "frozen", "stopping":
		return true
	}
	return false
}

// dash returns value, or "-" when it is empty.
func dash(value string) string {
	if value == "" {
		return "-"
	}
	return value
}

// humanSize formats a number of bytes with the largest binary unit, up
// to GiB, that keeps it at 1 or more, such as 1.5MiB. Text that is not a
// number of bytes is returned as it is.
func humanSize(bytes string) string {
	n, err := strconv.ParseUint(bytes, 10, 64)
	if err != nil {
		return bytes
	}
	value, unit := float64(n), "B"
	for _, next := range []string{"KiB", "MiB", "GiB"} {
		if value < 1024 {
			break
		}
		value, unit = value/1024, next
	}
	if unit == "B" {
		return strconv.FormatUint(n, 10) + "B"
	}
	return strconv.FormatFloat(value, 'f', 1, 64) + unit
}
