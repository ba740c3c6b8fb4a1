package pasbysim

import (
	"context"
	"time"

	"portal/services/sandbox"
)

// SeedReviewDocuments writes n pending review documents of two signees
// into st through the create path the API uses (without the HTTP around
// it), as of now, and returns the id of the last one.
func SeedReviewDocuments(ctx context.Context, st *sandbox.Store, n int, now time.Time) (last string, err error) {
	in := newDocInput{
		version: "v2", mode: ModeInterface, title: "Seeded agreement", source: "https://cdn.example.com/seed.pdf",
		hookHost: "http://127.0.0.1:1/hook", hookRef: "seed", ip: "203.0.113.1", base: "http://sandbox.example/sandbox/pasby",
		signees: []signeeInput{
			{nin: "12345678901", name: "Jane Doe", typ: "business", email: "jane@example.com", repr: "Acme Ltd"},
			{nin: "98765432109", name: "John Smith", typ: "person", email: "john@example.com", repr: "John Smith"},
		},
	}
	const batch = 5000 // per transaction, so no one transaction is huge
	b := st.Bucket("pasby")
	for done := 0; done < n; done += batch {
		err := b.Update(ctx, func(tx *sandbox.Tx) error {
			o := &op{tx: tx, now: now}
			for range min(batch, n-done) {
				d, err := o.create(in, DefaultReviewTTL, 0)
				if err != nil {
					return err
				}
				last = d.ID
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return last, nil
}
