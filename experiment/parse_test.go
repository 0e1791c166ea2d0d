package experiment

import (
	"reflect"
	"testing"
	"time"
)

func TestParseCPUHog(t *testing.T) {
	tests := []struct {
		name    string
		log     string
		want    cpuHogRun
		wantErr bool
	}{
		{
			name: "progress and done",
			log: "cpu_hog: t=1.0s cpu=0.90s work=100 rate=100/s\n" +
				"cpu_hog: t=2.0s cpu=1.80s work=200 rate=100/s\n" +
				"cpu_hog: done cpu=2.00s wall=2.22s work=222 rate=100/s cpu_rate=111/s\n",
			want: cpuHogRun{
				Samples: []cpuSample{
					{Wall: 1, CPU: 0.9, Work: 100},
					{Wall: 2, CPU: 1.8, Work: 200},
					{Wall: 2.22, CPU: 2, Work: 222},
				},
				Done: true, Rate: 100, CPURate: 111,
			},
		},
		{
			name: "progress and done with at",
			log: "cpu_hog: t=1.0s cpu=0.90s work=100 rate=100/s at=1733331234.123\n" +
				"cpu_hog: done cpu=2.00s wall=2.22s work=222 rate=100/s cpu_rate=111/s at=1733331235.343\n",
			want: cpuHogRun{
				Samples: []cpuSample{
					{Wall: 1, CPU: 0.9, Work: 100, At: 1733331234.123},
					{Wall: 2.22, CPU: 2, Work: 222, At: 1733331235.343},
				},
				Done: true, Rate: 100, CPURate: 111,
			},
		},
		{
			name: "killed before done",
			log:  "cpu_hog: t=1.0s cpu=0.50s work=50 rate=50/s\n",
			want: cpuHogRun{Samples: []cpuSample{{Wall: 1, CPU: 0.5, Work: 50}}},
		},
		{
			name: "other lines skipped",
			log:  "hello\n\ncpu_hog: t=1.0s cpu=1.00s work=7 rate=7/s\nbye",
			want: cpuHogRun{Samples: []cpuSample{{Wall: 1, CPU: 1, Work: 7}}},
		},
		{name: "empty", log: "", want: cpuHogRun{}},
		{name: "missing cpu", log: "cpu_hog: t=1.0s work=7 rate=7/s", wantErr: true},
		{name: "bad number", log: "cpu_hog: t=x cpu=1s work=7 rate=7/s", wantErr: true},
		{name: "bad at", log: "cpu_hog: t=1.0s cpu=1s work=7 rate=7/s at=noon", wantErr: true},
		{name: "done without cpu_rate", log: "cpu_hog: done cpu=1s wall=1s work=1 rate=1/s",
			wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUHog(tt.log)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseCPUHog = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCPUHogRunStamped(t *testing.T) {
	stamped := cpuSample{Wall: 1, At: 1733331234.123}
	tests := []struct {
		name    string
		samples []cpuSample
		want    bool
	}{
		{name: "all stamped", samples: []cpuSample{stamped, stamped}, want: true},
		{name: "one without at", samples: []cpuSample{stamped, {Wall: 2}}, want: false},
		{name: "no samples", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (cpuHogRun{Samples: tt.samples}).stamped(); got != tt.want {
				t.Errorf("stamped = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseIOPulse(t *testing.T) {
	tests := []struct {
		name    string
		log     string
		want    ioPulseRun
		wantErr bool
	}{
		{
			name: "iterations and summary",
			log: "io_pulse: iter=1 latency=0.84ms\nio_pulse: iter=2 latency=3.20ms\n" +
				"io_pulse: done iterations=2 median=2.02ms max=3.20ms\n",
			want: ioPulseRun{Latencies: []float64{0.84, 3.2}, Done: true, Median: 2.02, Max: 3.2},
		},
		{
			name: "interrupted",
			log:  "io_pulse: iter=1 latency=1.00ms\nio_pulse: interrupted after 1 iterations\n",
			want: ioPulseRun{Latencies: []float64{1}},
		},
		{name: "bad latency", log: "io_pulse: iter=1 latency=fast", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIOPulse(tt.log)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseIOPulse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseEvents(t *testing.T) {
	when := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	tests := []struct {
		name    string
		text    string
		want    []event
		wantErr bool
	}{
		{
			name: "limit event",
			text: "2026-01-02T03:04:05.123456Z m hard-limit rss=67112960 limit=67108864\n",
			want: []event{{Time: when, Name: "m", Kind: "hard-limit",
				Fields: map[string]string{"rss": "67112960", "limit": "67108864"}}},
		},
		{
			name: "no fields and blank lines",
			text: "\n2026-01-02T03:04:05.123456Z m created\n\n",
			want: []event{{Time: when, Name: "m", Kind: "created", Fields: map[string]string{}}},
		},
		{
			name: "exited with state fields",
			text: "2026-01-02T03:04:05.123456Z m exited code=137 signal=KILL reason=hard-limit",
			want: []event{{Time: when, Name: "m", Kind: "exited", Fields: map[string]string{
				"code": "137", "signal": "KILL", "reason": "hard-limit"}}},
		},
		{name: "too few words", text: "2026-01-02T03:04:05.123456Z m", wantErr: true},
		{name: "bad time", text: "yesterday m created", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEvents(tt.text)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseEvents = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStartedAt(t *testing.T) {
	first := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	second := first.Add(time.Minute)
	fallback := first.Add(time.Hour)
	tests := []struct {
		name   string
		events []event
		want   time.Time
	}{
		{name: "no events", want: fallback},
		{name: "no started event", events: []event{{Time: first, Kind: "created"}}, want: fallback},
		{name: "last start wins", events: []event{
			{Time: first, Kind: "started"}, {Time: second, Kind: "started"}}, want: second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := startedAt(tt.events, fallback); !got.Equal(tt.want) {
				t.Errorf("startedAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunSpan(t *testing.T) {
	origin := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	events := []event{
		{Time: origin.Add(500 * time.Millisecond), Kind: "started"},
		{Time: origin.Add(5 * time.Second), Kind: "exited"},
	}
	from, to, err := runSpan(events, origin)
	if err != nil {
		t.Fatal(err)
	}
	if from != 0.5 || to != 5 {
		t.Errorf("runSpan = %g, %g, want 0.5, 5", from, to)
	}
	if _, _, err := runSpan(events[:1], origin); err == nil {
		t.Error("runSpan without exited event: no error")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    int64
		wantErr bool
	}{
		{name: "bytes", text: "67108864", want: 64 << 20},
		{name: "mebibytes", text: "64M", want: 64 << 20},
		{name: "MiB suffix", text: "64MiB", want: 64 << 20},
		{name: "MB suffix", text: "64MB", want: 64 << 20},
		{name: "kibibytes", text: "512K", want: 512 << 10},
		{name: "gibibytes", text: "1G", want: 1 << 30},
		{name: "unit only", text: "M", wantErr: true},
		{name: "negative", text: "-1M", wantErr: true},
		{name: "unknown unit", text: "3X", wantErr: true},
		{name: "overflow", text: "99999999999T", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSize(tt.text)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseSize(%q) error = %v, want error %v", tt.text, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseSize(%q) = %d, want %d", tt.text, got, tt.want)
			}
		})
	}
}
