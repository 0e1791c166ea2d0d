package main

import (
	"fmt"
	"net"
	"os"
)

// notifyReady sends READY=1 to the service manager when it asked for it
// with $NOTIFY_SOCKET, as a systemd unit of Type=notify does; elsewhere it
// does nothing. The protocol is one datagram on a Unix socket, whose name
// starts with '@' for the abstract namespace.
func notifyReady() error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify service manager: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("READY=1\nSTATUS=serving the control tree\n")); err != nil {
		return fmt.Errorf("notify service manager: %w", err)
	}
	return nil
}
