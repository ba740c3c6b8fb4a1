package customers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/internal/dbtest"
	"portal/models"
)

// The start of a phone number, in any common format, finds the recharges
// and verifications of every number it could begin, and says it matched
// the phone; an id prefix still finds ids.
func TestSearchByPhonePrefix(t *testing.T) {
	db := dbtest.Open(t)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for i, p := range []string{"+254700001201", "+254700001299", "+254711111111"} {
		if err := db.Create(&models.Recharge{IdempotencyKey: fmt.Sprint("k", i), DeviceID: fmt.Sprintf("6875000000%04d", i), CustomerPhone: p,
			Amount: decimal.RequireFromString("10"), Currency: "KES", State: models.RechargeCompleted, CreatedAt: at, UpdatedAt: at}).Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Create(&models.Verification{Provider: models.ProviderPawaPass, Reference: fmt.Sprint("ref", i), CustomerPhone: p,
			State: models.VerificationSubmitted, CreatedAt: at, UpdatedAt: at}).Error; err != nil {
			t.Fatal(err)
		}
	}
	s := New(db, nil, func() time.Time { return at })
	for _, q := range []string{"+2547000012", "07000012", "254 700 0012", "+254 700-0012"} {
		res, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if len(res.Recharges) != 2 || len(res.Verifs) != 2 {
			t.Errorf("%q: %d recharges and %d verifications, want the 2 of each whose phone starts +2547000012", q, len(res.Recharges), len(res.Verifs))
		}
		for _, h := range append(res.Recharges, res.Verifs...) {
			if !strings.HasPrefix(h.Matched, "phone number +2547000012") {
				t.Errorf("%q: hit %q matched %q, want the phone number", q, h.Title, h.Matched)
			}
		}
	}
	res, err := s.Search(context.Background(), "687500000000")
	if err != nil || len(res.Recharges) != 3 {
		t.Errorf("device prefix: %d recharges (%v), want 3", len(res.Recharges), err)
	}
}
