package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

const eventsLong = `Print the events of every container, or of container NAME, as they
happen, from MOUNT/events or MOUNT/NAME/events: one line each, "TIME NAME
EVENT key=value...", with TIME in RFC 3339 UTC. As docker events does,
it prints only new events unless --since is given, and follows the file
until interrupted or until the --until time. "tail -f MOUNT/events"
follows the same file.

TIME for --since and --until is an RFC 3339 time such as
2025-01-02T15:04:05Z, Unix seconds such as 1735830245 (0 is the start of
the file), or a duration such as 10m, which means that long ago.`

const eventsExample = `  ctlfs events
  ctlfs events --since 1h hog
  ctlfs events --since 0 --until 0s       # everything so far, then exit`

func newEventsCommand() *cobra.Command {
	var since, until string
	cmd := &cobra.Command{
		Use:     "events [flags] [NAME]",
		Short:   "Print the events of containers as they happen",
		Long:    eventsLong,
		Example: eventsExample,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return fmt.Errorf("unexpected argument %q after the container name", args[1])
			}
			return nil
		},
	}
	mount := containerCommand(cmd)
	cmd.Flags().StringVar(&since, "since", "",
		"print the events from `TIME` on, also those that happened before the\n"+
			"command started")
	cmd.Flags().StringVar(&until, "until", "",
		"stop at `TIME`: at once when it has passed, after the events before it")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		filter := &eventFilter{w: cmd.OutOrStdout()}
		now := time.Now()
		var err error
		if filter.since, err = parseEventTime("--since", since, now); err != nil {
			return err
		}
		if filter.until, err = parseEventTime("--until", until, now); err != nil {
			return err
		}
		tree, err := openTree(*mount)
		if err != nil {
			return err
		}
		name := ""
		if len(args) == 1 {
			name = args[0]
			if err := tree.lookup(name); err != nil {
				return err
			}
		}
		return tree.events(name, since != "", filter)
	}
	return cmd
}

// events copies the events file of container name, or of the root when
// name is "", through filter: from its start when fromStart, otherwise
// from its current end.
func (t *treeClient) events(name string, fromStart bool, filter *eventFilter) error {
	f, err := t.open(name, "events")
	if err != nil {
		return err
	}
	defer f.Close()
	if !fromStart {
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return t.fileError(name, err)
		}
	}
	var stop chan struct{}
	if filter.until != nil {
		stop = make(chan struct{})
		timer := time.AfterFunc(time.Until(*filter.until), func() { close(stop) })
		defer timer.Stop()
	}
	return t.follow(name, f, filter, stop)
}

// eventFilter writes the whole lines written to it whose time is from
// since on and before until; a nil time sets no bound. A line whose time
// does not parse is written.
type eventFilter struct {
	w            io.Writer
	since, until *time.Time
	partial      []byte // the start of a line whose end has not come yet
}

func (f *eventFilter) Write(p []byte) (int, error) {
	f.partial = append(f.partial, p...)
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := f.partial[:i+1]
		if f.keep(line) {
			if _, err := f.w.Write(line); err != nil {
				return 0, err
			}
		}
		f.partial = f.partial[i+1:]
	}
}

func (f *eventFilter) keep(line []byte) bool {
	stamp, _, _ := bytes.Cut(line, []byte(" "))
	at, err := time.Parse(time.RFC3339Nano, string(stamp))
	if err != nil {
		return true
	}
	if f.since != nil && at.Before(*f.since) {
		return false
	}
	return f.until == nil || at.Before(*f.until)
}

// parseEventTime parses the value of flag: an RFC 3339 time, Unix
// seconds, or a duration before now. It returns nil for "". A plain
// number is Unix seconds, so "0" is the epoch, not a duration of 0.
func parseEventTime(flag, text string, now time.Time) (*time.Time, error) {
	if text == "" {
		return nil, nil
	}
	if seconds, err := strconv.ParseFloat(text, 64); err == nil {
		sec := int64(seconds)
		at := time.Unix(sec, int64((seconds-float64(sec))*1e9))
		return &at, nil
	}
	if d, err := time.ParseDuration(text); err == nil {
		at := now.Add(-d)
		return &at, nil
	}
	if at, err := time.Parse(time.RFC3339Nano, text); err == nil {
		return &at, nil
	}
	return nil, fmt.Errorf("invalid %s %q: expected an RFC 3339 time such as "+
		"2025-01-02T15:04:05Z, Unix seconds, or a duration such as 10m", flag, text)
}
