package upstream

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retry is the one backoff policy: the clients use it for reads (and for a
// create that provably never connected), the reconcilers for how long they
// wait before checking a record upstream again.
type Retry struct {
	// Attempts is how many times a read is tried in all; below 1 means 1.
	Attempts int
	// Base is the wait before the second try; each later wait doubles.
	Base time.Duration
	// Max caps one wait.
	Max time.Duration
	// Jitter spreads each wait over ±Jitter of it (0.2 = ±20 %), so many
	// callers that failed together do not come back together.
	Jitter float64
}

// DefaultRetry is what a client uses when its Config leaves Retry zero.
var DefaultRetry = Retry{Attempts: 3, Base: 250 * time.Millisecond, Max: 2 * time.Second, Jitter: 0.25}

// OrDefault is r, or DefaultRetry when r is the zero value.
func (r Retry) OrDefault() Retry {
	if r == (Retry{}) {
		return DefaultRetry
	}
	return r
}

// Tries is Attempts, at least 1.
func (r Retry) Tries() int { return max(r.Attempts, 1) }

// Delay is the wait after try number attempt (1-based) failed, before the
// next: Base·2^(attempt-1), capped at Max, jittered.
func (r Retry) Delay(attempt int) time.Duration {
	d := r.Base
	for i := 1; i < attempt && d < r.Max && d > 0; i++ {
		d *= 2
	}
	if r.Max > 0 && (d > r.Max || d < 0) {
		d = r.Max
	}
	if d <= 0 {
		return 0
	}
	j := min(max(r.Jitter, 0), 1)
	spread := time.Duration(float64(d) * j)
	if spread <= 0 {
		return d
	}
	return d - spread + rand.N(2*spread+1)
}

// Sleep waits d. It returns false at once if the context has ended or its
// deadline leaves no room for the wait, and false if it ends during it.
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
