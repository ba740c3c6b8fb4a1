package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"gorm.io/gorm"
)

// Several replicas share one database, so work one process takes on is
// held by a lease, never by memory: a record being sent upstream carries
// its owner and lease (claimed_by, lease_until), a reconciler's due record
// has its next check pushed out by the lease while it is checked, and a
// webhook being processed has a lease of its own. A process that dies lets
// its leases run out and another one takes the work; a live one's work is
// never taken from it.

// Owner names this process in the claims it takes. A restarted process is a
// new owner, so the claims of the one before it lapse like anyone else's.
var Owner = newOwner()

func newOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// DefaultLease is how long a claim holds a record when the configuration
// does not say.
const DefaultLease = 2 * time.Minute

// MinLease is the shortest lease that leaves a call time to answer.
const MinLease = 2 * time.Second

// Claim is the hold this process takes on a record it is about to send.
type Claim struct {
	By    string
	Until time.Time
}

// NewClaim is this process's claim from now for lease.
func NewClaim(now time.Time, lease time.Duration) Claim {
	return Claim{By: Owner, Until: now.UTC().Add(lease)}
}

// CallTimeout is how long a call made under a claim of lease may take, so
// that its answer is written while the claim still holds: a quarter of the
// lease (at most 30 s) is kept for writing it. A call cut off there ends
// "outcome unknown", never "not sent". It is a duration, not a deadline,
// because the lease is too: clocks of replicas need not agree.
func CallTimeout(lease time.Duration) time.Duration {
	return lease - min(lease/4, 30*time.Second)
}

// Lapsed keeps the rows whose claim ran out at now, and those that never
// had one (written before claims existed).
func Lapsed(now time.Time) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		return db.Where("lease_until IS NULL OR lease_until < ?", now.UTC())
	}
}

// ClaimDue takes a record that is due for a check for this process: its
// next check moves to now+lease only if it is still due, so of several
// replicas that saw it due exactly one checks it. The check then writes the
// real next check; a process that dies mid-check leaves the record due
// again when the lease runs out.
func (k *Kind[S]) ClaimDue(ctx context.Context, db *gorm.DB, now time.Time, id uint, lease time.Duration) (bool, error) {
	now = now.UTC()
	res := db.WithContext(ctx).Model(k.Model()).Where("id = ? AND next_check_at <= ?", id, now).
		Update("next_check_at", now.Add(lease))
	if res.Error != nil {
		return false, fmt.Errorf("%ss: claim %d: %w", k.Name, id, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// TransitionAnswer writes the answer of the one call made for a record
// under a claim: m moves it from sending to m.To. If the claim lapsed
// before the answer came and recovery has since given the record up as
// unknown, the answer is still the truth about that one call, so it moves
// the record out of unknown instead: to m.To where the table allows that,
// else to fallback (from where the reconciler follows it).
func (k *Kind[S]) TransitionAnswer(ctx context.Context, db *gorm.DB, now time.Time, m Move[S], sending, unknown, fallback S) (bool, error) {
	m.From = []S{sending}
	moved, err := k.Transition(ctx, db, now, m)
	if err != nil || moved || m.To == unknown {
		return moved, err
	}
	m.From = []S{unknown}
	if !k.Table.Allows(unknown, m.To) {
		m.To = fallback
	}
	m.Note += " (the answer came after this portal's claim had lapsed)"
	return k.Transition(ctx, db, now, m)
}
