package experiment

import (
	"fmt"
	"strconv"
	"time"
)

// Durations of the cpu-io runs.
const (
	// baselineSeconds is the CPU time of the cpu_hog run alone.
	baselineSeconds = 3.0
	// hogLead is how long the cpu_hog runs before io_pulse starts beside it.
	hogLead = 500 * time.Millisecond
	// pulsePeriod is the sleep between two io_pulse iterations.
	pulsePeriod = 200 * time.Millisecond
)

// cpuIO holds the measurements of the cpu-io experiment.
type cpuIO struct {
	pulseAlone, pulseBeside ioPulseRun
	pulseStates             [2]string // final states, alone and beside
	hogAlone                cpuHogRun
	hogBesideRate           float64 // work per second while io_pulse ran
	hogBesideCPU            float64 // CPU seconds per second while io_pulse ran
	overlap                 float64 // seconds that io_pulse ran beside cpu_hog
}

func runCPUIO(s *session) (*Result, error) {
	var m cpuIO
	var err error
	m.pulseAlone, m.pulseStates[0], err = s.runPulse(s.containerName("pulse-alone"))
	if err != nil {
		return nil, err
	}
	if m.hogAlone, err = s.runHogAlone(s.containerName("hog-alone")); err != nil {
		return nil, err
	}
	if err := s.runBeside(&m); err != nil {
		return nil, err
	}
	return s.reportCPUIO(m)
}

// pinned creates a container whose tasks may run only on Options.CPU.
func (s *session) pinned(name string) error {
	if err := s.create(name); err != nil {
		return err
	}
	return s.tree.write(name, "limits", "cpus="+strconv.Itoa(s.opts.CPU))
}

func (s *session) pulseCommand() string {
	return "io_pulse " + strconv.Itoa(s.opts.Iterations)
}

func (s *session) pulseTimeout() time.Duration {
	return 3*time.Duration(s.opts.Iterations)*pulsePeriod + 30*time.Second
}

// runPulse runs io_pulse alone in a new container and returns its log.
func (s *session) runPulse(name string) (ioPulseRun, string, error) {
	if err := s.pinned(name); err != nil {
		return ioPulseRun{}, "", err
	}
	if err := s.start(name, s.pulseCommand()); err != nil {
		return ioPulseRun{}, "", err
	}
	s.logf("started %s: %s alone on CPU %d", name, s.pulseCommand(), s.opts.CPU)
	states, err := s.waitAll([]string{name}, s.pulseTimeout(), time.Second,
		func() { s.printPulse(name) })
	if err != nil {
		return ioPulseRun{}, "", err
	}
	run, err := s.collectPulse(name)
	return run, states[name], err
}

func (s *session) printPulse(name string) {
	log, _ := s.tree.read(name, "log")
	run, _ := parseIOPulse(log)
	if n := len(run.Latencies); n > 0 {
		s.logf("%s: iteration %d latency=%.2fms", name, n, run.Latencies[n-1])
	}
}

func (s *session) collectPulse(name string) (ioPulseRun, error) {
	log, err := s.saveLog(name)
	if err != nil {
		return ioPulseRun{}, err
	}
	run, err := parseIOPulse(log)
	if err != nil {
		return run, fmt.Errorf("read log of %s: %w", name, err)
	}
	return run, nil
}

// runHogAlone runs a short cpu_hog alone for its baseline throughput.
func (s *session) runHogAlone(name string) (cpuHogRun, error) {
	if err := s.pinned(name); err != nil {
		return cpuHogRun{}, err
	}
	cmdline := "cpu_hog " + strconv.FormatFloat(baselineSeconds, 'f', -1, 64)
	if err := s.start(name, cmdline); err != nil {
		return cpuHogRun{}, err
	}
	s.logf("started %s: %s alone on CPU %d", name, cmdline, s.opts.CPU)
	timeout := time.Duration(3*baselineSeconds)*time.Second + 30*time.Second
	if _, err := s.waitAll([]string{name}, timeout, time.Second, nil); err != nil {
		return cpuHogRun{}, err
	}
	run, _, err := s.collectCPUHog(name)
	if err != nil {
		return run, err
	}
	return run, requireDone(name, run)
}

// runBeside starts a cpu_hog, then io_pulse beside it on the same CPU,
// and kills the cpu_hog once io_pulse is done.
func (s *session) runBeside(m *cpuIO) error {
	hog, pulse := s.containerName("hog"), s.containerName("pulse")
	if err := firstError(
		func() error { return s.pinned(hog) },
		func() error { return s.pinned(pulse) },
		func() error { return s.start(hog, s.besideHogCommand()) },
		func() error { return sleep(s.ctx, hogLead) },
		func() error { return s.start(pulse, s.pulseCommand()) },
	); err != nil {
		return err
	}
	s.logf("started %s: %s, and %s: %s beside it on CPU %d",
		hog, s.besideHogCommand(), pulse, s.pulseCommand(), s.opts.CPU)
	states, err := s.waitAll([]string{pulse}, s.pulseTimeout(), time.Second,
		func() { s.printPulse(pulse) })
	if err != nil {
		return err
	}
	m.pulseStates[1] = states[pulse]
	if err := s.stopHog(hog); err != nil {
		return err
	}
	return s.collectBeside(m, hog, pulse)
}

// besideHogCommand runs cpu_hog long enough to outlast io_pulse when it
// gets most of the CPU; it is killed once io_pulse is done.
func (s *session) besideHogCommand() string {
	pulseRun := time.Duration(s.opts.Iterations)*pulsePeriod + hogLead
	return "cpu_hog " + strconv.FormatFloat(pulseRun.Seconds()+5, 'f', -1, 64)
}

func (s *session) stopHog(name string) error {
	if err := s.kill(name); err != nil {
		return err
	}
	_, err := s.tree.waitExited(s.ctx, name, cleanupTimeout)
	return err
}

// collectBeside computes the cpu_hog's throughput while io_pulse ran,
// from the started and exited events of io_pulse.
func (s *session) collectBeside(m *cpuIO, hog, pulse string) error {
	hogRun, hogStart, err := s.collectCPUHog(hog)
	if err != nil {
		return err
	}
	if m.pulseBeside, err = s.collectPulse(pulse); err != nil {
		return err
	}
	events, err := s.containerEvents(pulse)
	if err != nil {
		return err
	}
	from, to, err := runSpan(events, hogStart)
	if err != nil {
		return fmt.Errorf("read events of %s: %w", pulse, err)
	}
	m.overlap = to - from
	m.hogBesideRate = workSeries(hogRun.Samples, 0).rate(from, to)
	m.hogBesideCPU = cpuSeries(hogRun.Samples, 0).rate(from, to)
	return nil
}

// runSpan returns when a container started and exited, from its events,
// in seconds since origin.
func runSpan(events []event, origin time.Time) (from, to float64, err error) {
	started, ok := firstEvent(events, "started")
	if !ok {
		return 0, 0, fmt.Errorf("no started event")
	}
	ended, ok := firstEvent(events, "exited")
	if !ok {
		return 0, 0, fmt.Errorf("no exited event")
	}
	return started.Time.Sub(origin).Seconds(), ended.Time.Sub(origin).Seconds(), nil
}
