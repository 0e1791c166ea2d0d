package main

import (
	"io"
	"testing"
	"time"
)

func TestParseServeFlags(t *testing.T) {
	t.Setenv("CTLFS_ROOTFS", "")
	t.Setenv("CTLFS_MOUNT", "")
	tests := []struct {
		name string
		args []string
		want serveConfig
	}{
		{
			name: "defaults",
			want: serveConfig{
				mount: "/mnt/ctl", stateDir: "/var/lib/ctlfs",
				rootfs: "/var/lib/ctlfs/rootfs", grace: 10 * time.Second, monitor: "auto",
				poll: 10 * time.Millisecond, logMax: "64M", cgroup: "ctlfs", prestart: 2,
			},
		},
		{
			name: "every option",
			args: []string{"--mount", "/m", "--state-dir", "/s", "--rootfs", "/r",
				"--grace", "1.5s", "--monitor", "proc", "--poll", "100ms",
				"--log-max", "1G", "--cgroup-parent", "self", "--prestart", "0", "--debug"},
			want: serveConfig{
				mount: "/m", stateDir: "/s", rootfs: "/r",
				grace: 1500 * time.Millisecond, monitor: "proc", debug: true,
				poll: 100 * time.Millisecond, logMax: "1G", cgroup: "self",
			},
		},
		{
			name: "rootfs beside state dir",
			args: []string{"--state-dir", "/s"},
			want: serveConfig{
				mount: "/mnt/ctl", stateDir: "/s", rootfs: "/s/rootfs",
				grace: 10 * time.Second, monitor: "auto",
				poll: 10 * time.Millisecond, logMax: "64M", cgroup: "ctlfs", prestart: 2,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServeFlags(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseServeFlagsRootfsEnv(t *testing.T) {
	t.Setenv("CTLFS_ROOTFS", "/env/rootfs")
	cfg, err := parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.rootfs != "/env/rootfs" {
		t.Errorf("rootfs = %q, want $CTLFS_ROOTFS", cfg.rootfs)
	}
}

func TestParseServeFlagsMountEnv(t *testing.T) {
	t.Setenv("CTLFS_MOUNT", "/env/mnt")
	cfg, err := parseServeFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.mount != "/env/mnt" {
		t.Errorf("mount = %q, want $CTLFS_MOUNT", cfg.mount)
	}
	cfg, err = parseServeFlags([]string{"--mount", "/flag"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.mount != "/flag" {
		t.Errorf("mount = %q, want --mount over $CTLFS_MOUNT", cfg.mount)
	}
}

func TestParseServeFlagsInvalid(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown monitor", []string{"--monitor", "kprobe"}},
		{"zero grace", []string{"--grace", "0s"}},
		{"grace without unit", []string{"--grace", "5"}},
		{"negative prestart", []string{"--prestart", "-1"}},
		{"unknown flag", []string{"--color"}},
		{"extra argument", []string{"now"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseServeFlags(tt.args, io.Discard); err == nil {
				t.Errorf("parseServeFlags(%q) succeeded, want an error", tt.args)
			}
		})
	}
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, exitUsage},
		{"help", []string{"help"}, exitOK},
		{"unknown command", []string{"frobnicate"}, exitUsage},
		{"experiment", []string{"experiment"}, exitUsage},
		{"serve usage error", []string{"serve", "--monitor", "x"}, exitUsage},
		{"serve help", []string{"serve", "-h"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(tt.args, io.Discard, io.Discard); got != tt.want {
				t.Errorf("run(%q) = %d, want %d", tt.args, got, tt.want)
			}
		})
	}
}
