package contract

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"portal/services/pasby"
	"portal/services/sandbox/pasbysim"
	"portal/services/upstream"
)

// Ids nobody created, shaped like real ones (NOTES.md).
const (
	unknownDocID  = "doc_5f0c1a2e-0b3c-11f1-8a1b-0242ac120002"
	unknownFlowID = "req_1707025000-AbCd"
)

// TestErrors: each refusal the documents list reaches the caller as the
// client's sentinel error; on v1, the access token is renewed and shared.
func TestErrors(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, v)
			ctx := ctxFor(t)

			t.Run("unknown id", func(t *testing.T) {
				e := e.sub(t)
				const blame = notesErrors + ": \"400 unknown flow id (\\\"Flow request with such id does not exists\\\")\""
				for _, id := range []string{unknownDocID, unknownFlowID} {
					_, err := e.client.Ping(ctx, id)
					checkErr(t, "Ping("+id+")", err, pasby.ErrUnknownFlow, blame)
					_, err = e.client.Cancel(ctx, id)
					checkErr(t, "Cancel("+id+")", err, pasby.ErrUnknownFlow, blame)
					_, err = e.client.Polling(ctx, id)
					checkErr(t, "Polling("+id+")", err, pasby.ErrUnknownFlow, blame)
				}
				_, err := e.client.Refresh(ctx, unknownDocID)
				checkErr(t, "Refresh(unknown doc_ id)", err, pasby.ErrUnknownFlow, blame)
			})

			t.Run("refresh of a flow id", func(t *testing.T) {
				e := e.sub(t)
				// A req_ id is shorter than 40 characters and is not a
				// document: pasby refuses it (403 mode mismatch, NOTES.md);
				// the client has no sentinel for it.
				d := e.signing(ctx, e.ref(), ninA).Document
				_, err := e.client.Refresh(ctx, e.flowIDs(d.ID)[ninA])
				var rej *upstream.RejectedError
				if !errors.As(err, &rej) {
					t.Errorf("Refresh(req_ id): %v, want a *RejectedError; pasby-documents.txt refresh: \"flow … document id (doc_…), min 40 characters\", %s: \"403 mode mismatch\"", err, notesErrors)
				}
			})

			t.Run("not a PDF", func(t *testing.T) {
				e := e.sub(t)
				const blame = notesErrors + ": \"400 URL not a PDF\""
				before := e.sim.CreateCalls()
				file := pasby.FileInput{URL: "https://cdn.example.com/documents/contract.docx", Title: fileTitle}
				_, err := e.client.Signing(ctx, pasby.SigningRequest{To: []string{ninA}, Webhook: e.hook(e.ref()), File: file})
				checkErr(t, "Signing(not a PDF)", err, pasby.ErrNotPDF, blame)
				_, err = e.client.Review(ctx, pasby.ReviewRequest{Signees: reviewSignees, Webhook: e.hook(e.ref()), File: file})
				checkErr(t, "Review(not a PDF)", err, pasby.ErrNotPDF, blame)
				if got := e.sim.CreateCalls(); got.Rejected != before.Rejected+2 {
					t.Errorf("simulator saw %d rejected creates, want %d", got.Rejected, before.Rejected+2)
				}
			})

			t.Run("no webhook", func(t *testing.T) {
				e := e.sub(t)
				const blame = notesErrors + ": \"428 signing without a webhook\"; " + docSigning + ": \"webhook.host string Yes\""
				file := pasby.FileInput{URL: fileURL, Title: fileTitle}
				// The client refuses before sending.
				before := e.sim.CreateCalls()
				_, err := e.client.Signing(ctx, pasby.SigningRequest{To: []string{ninA}, File: file})
				checkErr(t, "Signing(no webhook), refused by the client", err, pasby.ErrMissingWebhook, blame)
				checkErr(t, "Signing(no webhook), refused by the client", err, upstream.ErrNotSent, "the client's ErrMissingWebhook comment")
				if got := e.sim.CreateCalls(); got != before {
					t.Errorf("client: a signing without a webhook reached the simulator (%+v -> %+v)", before, got)
				}
				// Sent anyway (a transport drops the webhook): the
				// simulator's 428 must read as ErrMissingWebhook.
				c := e.newClient(func(cfg *pasby.Config) {
					cfg.HTTPClient = &http.Client{Transport: stripWebhook{next: http.DefaultTransport}}
				})
				_, err = c.Signing(ctx, pasby.SigningRequest{To: []string{ninA}, Webhook: e.hook(e.ref()), File: file})
				checkErr(t, "Signing(no webhook) answered by the simulator", err, pasby.ErrMissingWebhook, blame)
				if errors.Is(err, upstream.ErrNotSent) {
					t.Errorf("the signing without a webhook was not sent: %v", err)
				}
				_, err = c.Review(ctx, pasby.ReviewRequest{Signees: reviewSignees, Webhook: e.hook(e.ref()), File: file})
				checkErr(t, "Review(no webhook) answered by the simulator", err, pasby.ErrMissingWebhook, blame)
				if got := e.sim.CreateCalls(); got.Rejected != before.Rejected+2 || got.Signing != before.Signing || got.Review != before.Review {
					t.Errorf("simulator counted %+v after two creates without a webhook (before %+v)", got, before)
				}
			})

			t.Run("expired", func(t *testing.T) {
				e := e.sub(t)
				const blame = notesErrors + ": \"401 expired flow (status:\\\"expiration\\\", type:\\\"session_expiry\\\")\""
				sig := e.signing(ctx, e.ref(), ninA, ninB).Document
				rev := e.review(ctx, e.ref()).Document
				sigFlow := e.flowIDs(sig.ID)[ninA]

				// One second before exp nothing has expired.
				e.clk.Advance(signingTTL*time.Second - time.Second)
				if _, err := e.client.Ping(ctx, sig.ID); err != nil {
					t.Fatalf("simulator: Ping one second before exp: %v; %s (exp)", err, docSigning)
				}
				e.clk.Advance(time.Second)
				_, err := e.client.Ping(ctx, sig.ID)
				checkErr(t, "Ping(expired document)", err, pasby.ErrExpired, blame)
				_, err = e.client.Ping(ctx, sigFlow)
				checkErr(t, "Ping(flow of an expired document)", err, pasby.ErrExpired, blame)
				_, err = e.client.Refresh(ctx, sig.ID)
				checkErr(t, "Refresh(expired)", err, pasby.ErrExpired, blame)
				_, err = e.client.Polling(ctx, sig.ID)
				checkErr(t, "Polling(expired)", err, pasby.ErrExpired, blame)
				if v == pasby.V2 {
					for _, err := range e.client.SSE(ctx, sig.ID) {
						checkErr(t, "SSE(expired)", err, pasby.ErrExpired, blame)
					}
				}
				_, err = e.client.Cancel(ctx, sig.ID)
				checkErr(t, "Cancel(expired)", err, pasby.ErrExpired, blame)
				if err := e.sim.Sign(sig.ID, ninA); !errors.Is(err, pasbysim.ErrExpired) {
					t.Errorf("simulator: signing an expired document: %v", err)
				}

				// The review document lives four days (its example's exp).
				if _, err := e.client.Refresh(ctx, rev.ID); err != nil {
					t.Errorf("simulator: review document expired with the signing one: %v; %s (exp - iat = 345600)", err, docReview)
				}
				e.clk.Advance((reviewTTL - signingTTL) * time.Second)
				_, err = e.client.Refresh(ctx, rev.ID)
				checkErr(t, "Refresh(expired review)", err, pasby.ErrExpired, blame)
			})

			t.Run("unauthorized", func(t *testing.T) {
				e := e.sub(t)
				const blame = `pasby-documents.txt "Headers (v2): x-api-key, x-access-secret" / "Headers (v1): x-api-key, x-access-token"; client's upstream.ErrBadCredentials: "pasby refused our credentials (401 …)"`
				d := e.signing(ctx, e.ref(), ninA).Document
				for name, edit := range map[string]func(*pasby.Config){
					"bad secret":        func(c *pasby.Config) { c.AppSecret = "snb_not0the0secret" },
					"production secret": func(c *pasby.Config) { c.AppSecret = "prd_some0secret" },
					"bad key":           func(c *pasby.Config) { c.APIKey = "bk-test_not0the0key" },
				} {
					c := e.newClient(edit)
					before := e.sim.CreateCalls()
					calls := map[string]func() error{
						"Signing": func() error {
							_, err := c.Signing(ctx, pasby.SigningRequest{To: []string{ninA}, Webhook: e.hook(e.ref()), File: pasby.FileInput{URL: fileURL, Title: fileTitle}})
							return err
						},
						"Review": func() error {
							_, err := c.Review(ctx, pasby.ReviewRequest{Signees: reviewSignees, Webhook: e.hook(e.ref()), File: pasby.FileInput{URL: fileURL, Title: fileTitle}})
							return err
						},
						"Refresh": func() error { _, err := c.Refresh(ctx, d.ID); return err },
						"Ping":    func() error { _, err := c.Ping(ctx, d.ID); return err },
						"Cancel":  func() error { _, err := c.Cancel(ctx, d.ID); return err },
						"Polling": func() error { _, err := c.Polling(ctx, d.ID); return err },
						"SSE": func() error {
							var last error
							for _, err := range c.SSE(ctx, d.ID) {
								last = err
							}
							return last
						},
					}
					if v == pasby.V1 {
						calls["Authorize"] = func() error { return c.Authorize(ctx) }
						delete(calls, "SSE")
					}
					for call, f := range calls {
						checkErr(t, name+": "+call, f(), upstream.ErrBadCredentials, blame)
					}
					if got := e.sim.CreateCalls(); v == pasby.V2 && got.Rejected != before.Rejected+2 {
						t.Errorf("%s: simulator counted %d rejected creates, want %d", name, got.Rejected, before.Rejected+2)
					}
				}
				// Nothing was cancelled by the refused calls.
				if st := e.simDoc(d.ID).State; st != pasbysim.StatePending {
					t.Errorf("document is %s after refused calls", st)
				}
			})

			t.Run("v1 access token", func(t *testing.T) {
				e := e.sub(t)
				if v != pasby.V1 {
					t.Skip("v1 only")
				}
				// The access token (TTL an hour in the simulator) runs
				// out: the client fetches a new one by itself.
				d := e.signing(ctx, e.ref(), ninA).Document
				e.clk.Advance(90 * time.Minute)
				if _, err := e.client.Ping(ctx, d.ID); err != nil {
					t.Errorf("Ping after the access token expired: %v", err)
				}
				if n := e.hits()["GET /api/v1/flow/authorize"]; n < 2 {
					t.Errorf("authorize was called %s times, want a new token after expiry", strconv.FormatInt(n, 10))
				}

				// With the authorize query (sub and app), callers at once
				// share one token.
				c := e.newClient(func(cfg *pasby.Config) { cfg.Consumer, cfg.App = "cns_portal", "app_portal" })
				before := e.hits()["GET /api/v1/flow/authorize"]
				var wg sync.WaitGroup
				errs := make(chan error, 8)
				for range 8 {
					wg.Go(func() {
						_, err := c.Ping(ctx, d.ID)
						errs <- err
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						t.Errorf("concurrent v1 Ping: %v; pasby-flow.txt authorize: \"sub Consumer id, app App id when sub is set\"", err)
					}
				}
				if n := e.hits()["GET /api/v1/flow/authorize"] - before; n != 1 {
					t.Errorf("client: 8 concurrent calls fetched %d access tokens, want 1 (the client's comment: \"cached and shared by all callers (one fetch at a time)\")", n)
				}
			})
			e.checkRoutes()
		})
	}
}
