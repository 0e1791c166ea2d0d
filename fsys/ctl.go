package fsys

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"ctlfs/runtime"
)

// ctlCommand is one parsed command of a container's ctl file.
type ctlCommand struct {
	verb string // start, stop, kill, freeze, thaw or nice
	// grace is the time between SIGTERM and SIGKILL for stop; negative
	// means the supervisor's default.
	grace  time.Duration
	signal syscall.Signal // for kill
	nice   int            // for nice
}

// ctlHelp is the list of commands that a read of a container's ctl file
// returns.
const ctlHelp = "start\nstop [SECONDS]\nkill [SIGNAL]\nfreeze\nthaw\nnice N\n"

// parseCtl parses one command written to a container's ctl file:
//
//	start | stop [SECONDS] | kill [SIGNAL] | freeze | thaw | nice N | N
//
// SECONDS is a decimal number such as 5 or 0.5. SIGNAL is a name with or
// without SIG, in any case, or a number; the default is SIGKILL. N is an
// integer from -20 to 19. Every error wraps runtime.ErrInvalid.
func parseCtl(text string) (ctlCommand, error) {
	if strings.Contains(text, "\n") {
		return ctlCommand{}, fmt.Errorf("ctl %q: one command per write: %w",
			text, runtime.ErrInvalid)
	}
	words := strings.Fields(text)
	if len(words) == 0 {
		return ctlCommand{}, fmt.Errorf("ctl: empty command, expected one of %s: %w",
			ctlVerbs, runtime.ErrInvalid)
	}
	if len(words) == 1 && isInteger(words[0]) {
		words = []string{"nice", words[0]}
	}
	parse, ok := ctlParsers[words[0]]
	if !ok {
		return ctlCommand{}, fmt.Errorf("ctl: unknown command %q, expected one of %s: %w",
			words[0], ctlVerbs, runtime.ErrInvalid)
	}
	return parse(words[1:])
}

// ctlVerbs lists the commands for error messages.
const ctlVerbs = "start, stop, kill, freeze, thaw, nice"

// ctlParsers parse the arguments of each ctl command.
var ctlParsers = map[string]func(args []string) (ctlCommand, error){
	"start":  noArgs("start"),
	"freeze": noArgs("freeze"),
	"thaw":   noArgs("thaw"),
	"stop":   parseStop,
	"kill":   parseKill,
	"nice":   parseNice,
}

func noArgs(verb string) func([]string) (ctlCommand, error) {
	return func(args []string) (ctlCommand, error) {
		if len(args) > 0 {
			return ctlCommand{}, fmt.Errorf("ctl: %s takes no argument, got %q: %w",
				verb, strings.Join(args, " "), runtime.ErrInvalid)
		}
		return ctlCommand{verb: verb}, nil
	}
}

func parseStop(args []string) (ctlCommand, error) {
	cmd := ctlCommand{verb: "stop", grace: -1}
	if len(args) > 1 {
		return cmd, fmt.Errorf("ctl: stop takes at most one argument (SECONDS), got %q: %w",
			strings.Join(args, " "), runtime.ErrInvalid)
	}
	if len(args) == 1 {
		grace, err := parseSeconds(args[0])
		if err != nil {
			return ctlCommand{}, err
		}
		cmd.grace = grace
	}
	return cmd, nil
}

// parseSeconds parses a non-negative decimal number of seconds: digits
// with at most one decimal point, no sign, exponent or unit.
func parseSeconds(text string) (time.Duration, error) {
	digits := strings.Replace(text, ".", "", 1)
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, fmt.Errorf("ctl: stop: invalid grace time %q, expected seconds such as 5 or 0.5: %w",
			text, runtime.ErrInvalid)
	}
	grace, err := time.ParseDuration(text + "s")
	if err != nil {
		return 0, fmt.Errorf("ctl: stop: grace time %q out of range: %w",
			text, runtime.ErrInvalid)
	}
	return grace, nil
}

func parseKill(args []string) (ctlCommand, error) {
	cmd := ctlCommand{verb: "kill", signal: syscall.SIGKILL}
	switch len(args) {
	case 0:
		return cmd, nil
	case 1:
		sig, err := runtime.ParseSignal(args[0])
		if err != nil {
			return ctlCommand{}, fmt.Errorf("ctl: kill: %w", err)
		}
		cmd.signal = sig
		return cmd, nil
	}
	return ctlCommand{}, fmt.Errorf("ctl: kill takes at most one argument (SIGNAL), got %q: %w",
		strings.Join(args, " "), runtime.ErrInvalid)
}

func parseNice(args []string) (ctlCommand, error) {
	if len(args) != 1 {
		return ctlCommand{}, fmt.Errorf("ctl: nice takes one argument, an integer from -20 to 19: %w",
			runtime.ErrInvalid)
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < -20 || n > 19 {
		return ctlCommand{}, fmt.Errorf("ctl: invalid nice %q, expected an integer from -20 to 19: %w",
			args[0], runtime.ErrInvalid)
	}
	return ctlCommand{verb: "nice", nice: n}, nil
}

// isInteger reports whether text is an optional sign followed by digits.
func isInteger(text string) bool {
	if strings.HasPrefix(text, "+") || strings.HasPrefix(text, "-") {
		text = text[1:]
	}
	return text != "" && strings.Trim(text, "0123456789") == ""
}

// apply runs the command on c.
func (cmd ctlCommand) apply(c *runtime.Container) error {
	switch cmd.verb {
	case "start":
		return c.Start()
	case "stop":
		return c.Stop(cmd.grace)
	case "kill":
		return c.Kill(cmd.signal)
	case "freeze":
		return c.Freeze()
	case "thaw":
		return c.Thaw()
	case "nice":
		return c.SetNice(cmd.nice)
	}
	panic("BUG: ctl command " + cmd.verb + " has no action")
}
