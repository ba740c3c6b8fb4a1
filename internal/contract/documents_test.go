package contract

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/services/pasby"
	"portal/services/sandbox/pasbysim"
)

// TestSigning: a simple signing for two NINs, from create to the stamped
// PDF, with refresh and ping (document id and each signee's flow id)
// before, between and after the two signatures, and the webhooks.
func TestSigning(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, v)
			ctx := ctxFor(t)
			ref := e.ref()
			iat := e.clk.Unix()

			created := e.signing(ctx, ref, ninA, ninB)
			checkEnvelope(t, "signing", created.Reason, created.Version, "Signature request propagated", v, docSigning)
			checkCreated(t, e, "signing", created.Document, iat, signingTTL, ref, []string{ninA, ninB}, docSigning)
			if created.Link != "" {
				t.Errorf("simulator: signing answer has data.link %q; only review has one (%s)", created.Link, docReview)
			}
			id := created.Document.ID
			if got := e.sim.CreateCalls(); got.Signing != 1 || got.Rejected != 0 {
				t.Errorf("simulator counted %+v create calls, want one signing", got)
			}
			flows := e.flowIDs(id)
			for _, nin := range []string{ninA, ninB} {
				checkFlowID(t, flows[nin], iat)
			}

			w := docWant{id: id, ref: ref, mode: pasbysim.ModeAPI, states: []signState{
				{nin: ninA, status: pasby.StatusStale}, {nin: ninB, status: pasby.StatusStale},
			}}

			// Before anyone signed.
			e.refresh(ctx, "refresh before signing", w)
			st, err := e.client.Ping(ctx, id)
			if err != nil {
				t.Fatalf("Ping(document): %v", err)
			}
			checkDocPing(t, e, "ping(document) before signing", st, w, iat, false)
			for i, nin := range []string{ninA, ninB} {
				st, err := e.client.Ping(ctx, flows[nin])
				if err != nil {
					t.Fatalf("Ping(flow %s): %v", nin, err)
				}
				checkFlowPing(t, e, "ping(flow) before signing", st, flows[nin], iat, w.states[i], false)
			}

			// A picks the flow up, then signs.
			e.clk.Advance(20 * time.Second)
			if err := e.sim.Open(id, ninA); err != nil {
				t.Fatal(err)
			}
			w.states[0].status = pasby.StatusViewing
			st, err = e.client.Ping(ctx, flows[ninA])
			if err != nil {
				t.Fatalf("Ping(flow A): %v", err)
			}
			checkFlowPing(t, e, "ping(flow A) while viewing", st, flows[ninA], iat, w.states[0], false)
			e.refresh(ctx, "refresh while A views", w)

			e.clk.Advance(10 * time.Second)
			w.states[0] = signState{nin: ninA, status: pasby.StatusSigned, signedAt: e.clk.Unix()}
			e.sign(id, ninA)
			e.refresh(ctx, "refresh after A signed", w)
			st, err = e.client.Ping(ctx, id)
			if err != nil {
				t.Fatalf("Ping(document): %v", err)
			}
			checkDocPing(t, e, "ping(document) after A signed", st, w, iat, false)
			for i, nin := range []string{ninA, ninB} {
				st, err := e.client.Ping(ctx, flows[nin])
				if err != nil {
					t.Fatalf("Ping(flow %s): %v", nin, err)
				}
				checkFlowPing(t, e, "ping(flow) after A signed", st, flows[nin], iat, w.states[i], false)
			}

			// B signs: the document completes.
			e.clk.Advance(45 * time.Second)
			w.states[1] = signState{nin: ninB, status: pasby.StatusSigned, signedAt: e.clk.Unix()}
			w.completed = true
			e.sign(id, ninB)
			doc := e.refresh(ctx, "refresh after both signed", w)
			st, err = e.client.Ping(ctx, id)
			if err != nil {
				t.Fatalf("Ping(document): %v", err)
			}
			checkDocPing(t, e, "ping(document) after both signed", st, w, iat, false)
			if st.Request.SignedAt != w.states[1].signedAt {
				t.Errorf("simulator: ping(document).signedAt = %d, want the last signature's time %d; %s", st.Request.SignedAt, w.states[1].signedAt, notesPing)
			}
			st, err = e.client.Ping(ctx, flows[ninB])
			if err != nil {
				t.Fatalf("Ping(flow B): %v", err)
			}
			checkFlowPing(t, e, "ping(flow B) after signing", st, flows[ninB], iat, w.states[1], false)

			checkStamped(t, doc)
			checkWebhooks(t, e, ctx, id, ref, true)
			e.checkRoutes()
		})
	}
}

// checkStamped fetches file.stamped: a PDF (the simulator serves it).
func checkStamped(t *testing.T, d pasby.Document) {
	t.Helper()
	if d.File.Stamped == "" {
		return // reported by checkDocument
	}
	resp, err := browser.Get(d.File.Stamped)
	if err != nil {
		t.Errorf("GET file.stamped: %v", err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "%PDF-") {
		t.Errorf("simulator: file.stamped %s answers %d %q…, want the stamped PDF; %s: \"file.stamped URL of the signed/stamped PDF\"", d.File.Stamped, resp.StatusCode, clip(b), docModel)
	}
	if got := pasby.VerificationURL(d.ID); got != "https://in.pasby.africa/document-checker/"+strings.TrimPrefix(d.ID, "doc_") {
		t.Errorf("client: VerificationURL(%s) = %s; NOTES.md (pasby): checked at https://in.pasby.africa/document-checker/<id without \"doc_\">", d.ID, got)
	}
}

func clip(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// TestReview: a review flow for two signees, signed on the hosted page
// over HTTP, with refresh, ping and the webhooks.
func TestReview(t *testing.T) {
	for _, v := range versions {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, v)
			ctx := ctxFor(t)
			ref := e.ref()
			iat := e.clk.Unix()

			created := e.review(ctx, ref)
			checkEnvelope(t, "review", created.Reason, created.Version, "Document signing flow created", v, docReview)
			d := created.Document
			checkCreated(t, e, "review", d, iat, reviewTTL, ref, []string{ninA, ninB}, docReview)
			id := d.ID
			if d.Mode != pasbysim.ModeInterface {
				t.Errorf("simulator: review data.request.mode = %q, want \"interface\"; %s", d.Mode, docReview)
			}
			if len(d.Signees) != len(reviewSignees) {
				t.Errorf("simulator: review data.request.signee has %d entries, want %d; %s", len(d.Signees), len(reviewSignees), docReview)
			} else {
				for i, in := range reviewSignees {
					got := d.Signees[i]
					if got.Name != in.Name || got.Type != in.Type || got.Email != in.Email || got.NIN != in.NIN ||
						got.Representing != in.Representing || got.Title != in.Title || got.SignedAt != 0 {
						t.Errorf("simulator: review data.request.signee[%d] = %+v, want %+v; %s", i, got, in, docReview)
					}
				}
			}
			if len(d.StatusLog) != 2 {
				t.Errorf("simulator: review data.request.statusLog = %+v, want one stale entry per NIN; %s", d.StatusLog, docReview)
			} else {
				for i, nin := range []string{ninA, ninB} {
					if s := d.StatusLog[i]; s.NIN != nin || s.Status != pasby.StatusStale || s.LUT != iat {
						t.Errorf("simulator: review data.request.statusLog[%d] = %+v, want {%s stale %d}; %s", i, s, nin, iat, docReview)
					}
				}
			}
			// "link": "https://sign.with.pasby.africa/contract/doc_…"
			if !absoluteURL(created.Link) || !strings.HasSuffix(created.Link, "/contract/"+id) {
				t.Errorf("simulator: review data.link = %q, want an absolute URL ending /contract/%s; %s", created.Link, id, docReview)
			}
			flows := e.flowIDs(id)

			w := docWant{id: id, ref: ref, mode: pasbysim.ModeInterface, signees: reviewSignees, states: []signState{
				{nin: ninA, status: pasby.StatusStale}, {nin: ninB, status: pasby.StatusStale},
			}, signedIP: map[string]string{ninA: "127.0.0.1", ninB: "127.0.0.1"}}
			e.refresh(ctx, "refresh before signing", w)
			st, err := e.client.Ping(ctx, id)
			if err != nil {
				t.Fatalf("Ping(document): %v", err)
			}
			checkDocPing(t, e, "ping(review) before signing", st, w, iat, false)

			// The hosted page, as a signer's browser sees it.
			code, hdr, body := getPage(t, created.Link)
			if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, "Partnership Agreement") {
				t.Fatalf("simulator: GET data.link = %d %s, want the review page; %s: \"Open data.link for signers who need the browser review experience\"", code, hdr.Get("Content-Type"), docReview)
			}
			form := func(i int) url.Values { return url.Values{"signee": {strconv.Itoa(i)}} }

			e.clk.Advance(30 * time.Second)
			if code, _ := postForm(t, created.Link+"/open", form(0)); code != http.StatusSeeOther {
				t.Fatalf("hosted page: open as signee 0 answered %d, want 303", code)
			}
			w.states[0].status = pasby.StatusViewing
			e.refresh(ctx, "refresh while A views", w)
			st, err = e.client.Ping(ctx, flows[ninA])
			if err != nil {
				t.Fatalf("Ping(flow A): %v", err)
			}
			checkFlowPing(t, e, "ping(flow A) while viewing", st, flows[ninA], iat, w.states[0], false)

			e.clk.Advance(30 * time.Second)
			w.states[0] = signState{nin: ninA, status: pasby.StatusSigned, signedAt: e.clk.Unix()}
			if code, _ := postForm(t, created.Link+"/sign", form(0)); code != http.StatusSeeOther {
				t.Fatalf("hosted page: sign as signee 0 answered %d, want 303", code)
			}
			e.refresh(ctx, "refresh after A signed", w)
			st, err = e.client.Ping(ctx, id)
			if err != nil {
				t.Fatalf("Ping(document): %v", err)
			}
			checkDocPing(t, e, "ping(review) after A signed", st, w, iat, false)

			e.clk.Advance(time.Hour)
			w.states[1] = signState{nin: ninB, status: pasby.StatusSigned, signedAt: e.clk.Unix()}
			w.completed = true
			if code, _ := postForm(t, created.Link+"/sign", form(1)); code != http.StatusSeeOther {
				t.Fatalf("hosted page: sign as signee 1 answered %d, want 303", code)
			}
			doc := e.refresh(ctx, "refresh after both signed", w)
			st, err = e.client.Ping(ctx, id)
			if err != nil {
				t.Fatalf("Ping(document): %v", err)
			}
			checkDocPing(t, e, "ping(review) after both signed", st, w, iat, false)
			for i, nin := range []string{ninA, ninB} {
				st, err := e.client.Ping(ctx, flows[nin])
				if err != nil {
					t.Fatalf("Ping(flow %s): %v", nin, err)
				}
				checkFlowPing(t, e, "ping(flow) after both signed", st, flows[nin], iat, w.states[i], false)
			}
			checkStamped(t, doc)
			checkWebhooks(t, e, ctx, id, ref, true)
			e.checkRoutes()
		})
	}
}
