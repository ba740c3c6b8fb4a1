// Package proctest runs the project's own binaries as separate processes
// for tests that must crash one (SIGKILL) or run several at once: build
// them, start them with a clean environment, wait until they answer, kill
// them. The logs of a process are printed when its test fails.
package proctest

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Build builds the packages (e.g. "./cmd/portal") from the module root into
// a temporary folder and returns the folder; each binary is named after its
// package's last path element.
func Build(t testing.TB, pkgs ...string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("not inside the portal module (go env GOMOD: %v)", err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	return dir
}

// FreeAddr is a loopback host:port nobody listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Proc is one running binary.
type Proc struct {
	Name string
	Addr string // host:port it was told to listen on
	cmd  *exec.Cmd
	logs *Buffer
	done chan struct{}
}

// Start runs bin with only PATH, HOME and env in its environment (nothing
// leaks in from the developer's shell) and kills it when t ends.
func Start(t testing.TB, name, bin, addr string, env []string) *Proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	p := &Proc{Name: name, Addr: addr, cmd: cmd, logs: &Buffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s logs:\n%s", p.Name, p.logs.String())
		}
	})
	return p
}

// WaitReady polls path until it answers 200, failing t if the process
// exits first or limit passes.
func (p *Proc) WaitReady(t testing.TB, path string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Get("http://" + p.Addr + path)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited during start-up:\n%s", p.Name, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after %v (%v):\n%s", p.Name, limit, err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Kill is a crash: SIGKILL, no shutdown, no deferred code. It waits until
// the process is gone.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Logs is everything the process wrote so far.
func (p *Proc) Logs() string { return p.logs.String() }

// Buffer is a bytes buffer safe for a process to write while a test reads.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
