package customers

import (
	"context"
	"testing"
	"time"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services/phone"
)

// PassportReader session ids are bare digits, and some read as a phone
// number once a "+" is put in front: the session is what was meant, unless
// the "+" was typed.
func TestSearchPrefersAnExactIdOverAGuessedPhone(t *testing.T) {
	const sessionID = "49562331687999382"
	if _, err := phone.Normalize(sessionID); err != nil {
		t.Fatalf("the case needs digits that read as a phone number: %v", err)
	}
	db := dbtest.Open(t)
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	id := sessionID
	if err := db.Create(&models.Verification{Provider: models.ProviderPassportReader, Reference: "ref-pr", UpstreamID: &id,
		State: models.VerificationSubmitted, CreatedAt: at, UpdatedAt: at}).Error; err != nil {
		t.Fatal(err)
	}
	s := New(db, nil, func() time.Time { return at })
	cases := []struct {
		q                       string
		wantCustomers, wantVers int
	}{
		{sessionID, 0, 1},
		{"+" + sessionID, 1, 0},
		{"+254712345678", 1, 0},
		{"254712345678", 1, 0}, // no record has these digits: still a phone
	}
	for _, c := range cases {
		res, err := s.Search(context.Background(), c.q)
		if err != nil {
			t.Fatalf("%q: %v", c.q, err)
		}
		if len(res.Customers) != c.wantCustomers || len(res.Verifs) != c.wantVers {
			t.Errorf("%q: %d customers and %d verifications, want %d and %d", c.q, len(res.Customers), len(res.Verifs), c.wantCustomers, c.wantVers)
		}
	}
}
