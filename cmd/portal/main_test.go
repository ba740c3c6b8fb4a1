package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// An invalid setting must stop the program with exit code 2 before it opens
// anything.
func TestInvalidConfigExitsWith2(t *testing.T) {
	t.Setenv("PORTAL_SANDBOX", "sometimes")
	t.Setenv("PORTAL_DB", t.TempDir()+"/never-created.db")
	if code := run(); code != 2 {
		t.Fatalf("run() = %d, want 2", code)
	}
}

// SIGTERM stops the server cleanly (exit 0) after letting in-flight work
// finish; a portal that died on SIGTERM would turn every deploy into a crash
// and leave recharges "submitting".
func TestSIGTERMShutsDownCleanly(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv("PORTAL_ADDR", addr)
	t.Setenv("PORTAL_DB", filepath.Join(t.TempDir(), "portal.db"))
	t.Setenv("PORTAL_ADMIN_PASSWORD", "shutdown test password")
	t.Setenv("PORTAL_SANDBOX", "on")
	done := make(chan int, 1)
	go func() { done <- run() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("portal never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run() = %d after SIGTERM, want 0", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("portal did not stop after SIGTERM")
	}
}
