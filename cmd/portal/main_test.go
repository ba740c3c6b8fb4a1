package main

import "testing"

// An invalid setting must stop the program with exit code 2 before it opens
// anything.
func TestInvalidConfigExitsWith2(t *testing.T) {
	t.Setenv("PORTAL_SANDBOX", "sometimes")
	t.Setenv("PORTAL_DB", t.TempDir()+"/never-created.db")
	if code := run(); code != 2 {
		t.Fatalf("run() = %d, want 2", code)
	}
}
