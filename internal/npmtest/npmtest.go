// Package npmtest installs the npm projects that tests run (the pasby SDK
// contract, axe-core for the accessibility checks) from their committed
// package-lock.json, once: npm ci empties node_modules first, so a stamp
// inside it that matches package.json and package-lock.json means nothing
// changed since the last install and the registry need not be asked.
package npmtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

const stamp = ".portal-installed-from"

// ErrNoNPM is returned when npm is not on PATH.
var ErrNoNPM = errors.New("npm is not installed (make node-deps installs nodejs and npm as root; or apt-get install nodejs npm)")

// Install runs npm ci in dir unless its node_modules was installed from
// the current package.json and package-lock.json.
func Install(ctx context.Context, dir string) error {
	var sum []byte
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("npm project %s: %w", dir, err)
		}
		h := sha256.Sum256(b)
		sum = append(sum, h[:]...)
	}
	want := hex.EncodeToString(sum)
	stampPath := filepath.Join(dir, "node_modules", stamp)
	if got, err := os.ReadFile(stampPath); err == nil && string(bytes.TrimSpace(got)) == want {
		return nil
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoNPM, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")
	cmd.Dir = dir
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
	}
	if err := os.WriteFile(stampPath, []byte(want+"\n"), 0o644); err != nil {
		return fmt.Errorf("npm ci in %s: write the stamp: %w", dir, err)
	}
	return nil
}
