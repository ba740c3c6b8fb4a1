package contract

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"portal/services/pasby"
	"portal/services/sandbox/pasbysim"
)

// Field checks shared by the tests. Each failure message says which side
// the documents prove wrong and quotes the passage.

func checkEnvelope(t *testing.T, what, reason, version, wantReason, wantVersion, passage string) {
	t.Helper()
	if version != wantVersion {
		t.Errorf("simulator: %s answer has version %q, want %q (the route's); %s, envelope {\"status\",\"reason\",\"data\",\"version\"}", what, version, wantVersion, passage)
	}
	if wantReason != "" && reason != wantReason {
		t.Errorf("simulator: %s answer has reason %q, want %q; %s", what, reason, wantReason, passage)
	}
	if reason == "" {
		t.Errorf("client or simulator: %s answer has no reason; NOTES.md (pasby): envelope {\"status\":\"successful\",\"reason\":\"…\",…}", what)
	}
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// checkCreated checks data.request of a signing or review answer.
func checkCreated(t *testing.T, e *env, what string, d pasby.Document, iat, ttl int64, ref string, nins []string, passage string) {
	t.Helper()
	checkDocID(t, what+" data.request.id", d.ID)
	if !equalStrings(d.To, nins) {
		t.Errorf("simulator: %s data.request.to = %q, want %q; %s and %s: \"to string[] Recipient NINs\"", what, d.To, nins, passage, docModel)
	}
	if d.Destination == "" {
		t.Errorf("simulator: %s data.request.destination is empty; %s: \"destination string Where the flow is completed (e.g. mobile)\"", what, docModel)
	}
	if d.Handled {
		t.Errorf("simulator: %s data.request.handled is true for a new request; %s (\"handled\": false)", what, passage)
	}
	if d.IAT != iat {
		t.Errorf("simulator: %s data.request.iat = %d, want the creation time %d; %s", what, d.IAT, iat, passage)
	}
	if d.Exp-d.IAT != ttl {
		t.Errorf("simulator: %s data.request exp - iat = %d s, want %d s as in the example; %s", what, d.Exp-d.IAT, ttl, passage)
	}
	if d.LUT < d.IAT {
		t.Errorf("simulator: %s data.request.lut = %d, before iat %d; %s", what, d.LUT, d.IAT, passage)
	}
	if d.File.Source != fileURL {
		t.Errorf("simulator: %s data.request.file.source = %q, want the file.url sent %q; %s: \"file.source Original file URL you supplied\"", what, d.File.Source, fileURL, docModel)
	}
	if d.File.Name == "" {
		t.Errorf("simulator: %s data.request.file.name is empty; %s: \"file.name Display title of the document\"", what, docModel)
	}
	if d.File.Stamped != "" {
		t.Errorf("simulator: %s data.request.file.stamped = %q before anyone signed; %s: \"present after completion on refresh\"", what, d.File.Stamped, docModel)
	}
	if want := e.hook(ref); d.Hook != want {
		t.Errorf("simulator: %s data.request.hook = %+v, want %+v; %s: \"hook Echo of your webhook.host and webhook.reference\"", what, d.Hook, want, docModel)
	}
	if !strings.HasPrefix(d.Request.Client, "bcn_") || !strings.HasPrefix(d.Request.App, "app_") || d.Request.IP == "" {
		t.Errorf("simulator: %s data.request.request = %+v, want client bcn_…, app app_… and the caller's ip; %s", what, d.Request, passage)
	}
}

// signState is what one NIN should show on a document.
type signState struct {
	nin      string
	status   string // pasby.StatusStale, StatusViewing or StatusSigned
	signedAt int64  // when signed
}

// docWant is what a refresh (or a webhook, or a ping of a document) should
// show.
type docWant struct {
	id        string
	ref       string
	mode      string               // pasbysim.ModeAPI or ModeInterface
	signees   []pasby.ReviewSignee // review: as sent; nil for simple signing
	states    []signState          // in signee order
	completed bool                 // everyone signed
	signedIP  map[string]string    // NIN -> the address they signed from, when known
}

// checkDocument checks a refresh document object (data.doc) field by field.
func checkDocument(t *testing.T, e *env, what string, d pasby.Document, w docWant) {
	t.Helper()
	if d.ID != w.id {
		t.Errorf("simulator: %s id = %q, want %q; %s", what, d.ID, w.id, docRefresh)
	}
	var nins []string
	for _, s := range w.states {
		nins = append(nins, s.nin)
	}
	if !equalStrings(d.To, nins) {
		t.Errorf("simulator: %s to = %q, want %q; %s", what, d.To, nins, docRefresh)
	}
	if d.Destination == "" {
		t.Errorf("simulator: %s destination is empty; %s", what, docRefresh)
	}
	if d.Domain != "test" && d.Domain != "live" {
		t.Errorf("simulator: %s domain = %q, want test or live; %s (\"domain\": \"live\") and %s", what, d.Domain, docRefresh, notesStatusLog)
	}
	if d.Mode != w.mode {
		t.Errorf("simulator: %s mode = %q, want %q; %s: \"mode interface on review flows (hosted UI)\", %s", what, d.Mode, w.mode, docModel, notesStatusLog)
	}
	if d.File.Source != fileURL || d.File.Name == "" {
		t.Errorf("simulator: %s file = %+v, want source %q and a name; %s", what, d.File, fileURL, docModel)
	}
	if want := e.hook(w.ref); d.Hook != want {
		t.Errorf("simulator: %s hook = %+v, want %+v; %s", what, d.Hook, want, docRefresh)
	}

	// statusLog: one entry per NIN.
	if len(d.StatusLog) != len(w.states) {
		t.Errorf("simulator: %s statusLog has %d entries, want one per NIN (%d); %s: \"statusLog array Per-NIN status (stale, etc.) and lut timestamps\"", what, len(d.StatusLog), len(w.states), docModel)
	} else {
		for i, s := range w.states {
			got := d.StatusLog[i]
			if got.NIN != s.nin || got.Status != s.status || got.LUT <= 0 {
				t.Errorf("simulator: %s statusLog[%d] = %+v, want nin %s, status %q and a lut; %s", what, i, got, s.nin, s.status, notesStatusLog)
			}
			if s.status == pasby.StatusSigned && got.LUT != s.signedAt {
				t.Errorf("simulator: %s statusLog[%d].lut = %d, want the signing time %d; %s: \"lut timestamps\"", what, i, got.LUT, s.signedAt, docModel)
			}
		}
	}

	// signee: one per NIN, structured.
	if len(d.Signees) != len(w.states) {
		t.Errorf("simulator: %s signee has %d entries, want %d; %s: \"signee array Structured signers on review/refresh (name, email, nin, type, representing, signedAt, etc.)\"", what, len(d.Signees), len(w.states), docModel)
	} else {
		for i, s := range w.states {
			got := d.Signees[i]
			if got.NIN != s.nin || got.Name == "" || got.Representing == "" || (got.Type != pasby.SigneeBusiness && got.Type != pasby.SigneePerson) {
				t.Errorf("simulator: %s signee[%d] = %+v, want nin %s with a name, representing and type business|person; %s", what, i, got, s.nin, docRefresh)
			}
			if w.signees != nil {
				in := w.signees[i]
				if got.Name != in.Name || got.Email != in.Email || got.Type != in.Type || got.Representing != in.Representing || got.Title != in.Title {
					t.Errorf("simulator: %s signee[%d] = %+v, want the signee sent %+v; %s", what, i, got, in, docReview)
				}
			}
			signed := s.status == pasby.StatusSigned
			switch {
			case signed && got.SignedAt != s.signedAt:
				t.Errorf("simulator: %s signee[%d].signedAt = %d, want %d; %s (\"signedAt\")", what, i, got.SignedAt, s.signedAt, docRefresh)
			case !signed && got.SignedAt != 0:
				t.Errorf("simulator: %s signee[%d].signedAt = %d before they signed; %s", what, i, got.SignedAt, docRefresh)
			case signed && got.IP == "":
				t.Errorf("simulator: %s signee[%d].ip is empty after signing; %s (\"ip\")", what, i, docRefresh)
			}
			if ip, ok := w.signedIP[s.nin]; ok && signed && got.IP != ip {
				t.Errorf("simulator: %s signee[%d].ip = %q, want %q (where they signed); %s", what, i, got.IP, ip, docRefresh)
			}
		}
	}

	// signatures: one per signer who signed (all of them once completed).
	var signed []signState
	for _, s := range w.states {
		if s.status == pasby.StatusSigned {
			signed = append(signed, s)
		}
	}
	// The documents promise signatures "on completed refresh"; before that
	// there may be none or those made so far.
	if !w.completed && len(d.Signatures) == 0 {
		signed = nil
	}
	if len(d.Signatures) != len(signed) {
		t.Errorf("simulator: %s has %d signatures, want %d (one per signer who signed); %s: \"signatures array Cryptographic signature payloads per signer (on completed refresh)\"", what, len(d.Signatures), len(signed), docModel)
	} else {
		for i, s := range signed {
			got := d.Signatures[i]
			var sg pasby.Signee
			for _, x := range d.Signees {
				if x.NIN == s.nin {
					sg = x
				}
			}
			raw, err := base64.StdEncoding.DecodeString(got.Signature)
			if got.NIN != s.nin || got.Name != sg.Name || got.Representing != sg.Representing || got.IAT != s.signedAt ||
				!uuidRe.MatchString(got.Identification) || err != nil || len(raw) == 0 {
				t.Errorf("simulator: %s signatures[%d] = %+v, want nin %s, the signee's name and representing, iat %d, a UUID identification and a base64 signature; %s and %s", what, i, got, s.nin, s.signedAt, docRefresh, notesStatusLog)
			}
		}
	}

	if w.completed {
		if !absoluteURL(d.File.Stamped) {
			t.Errorf("simulator: %s file.stamped = %q once everyone signed, want the stamped PDF's URL; %s: \"file.stamped URL of the signed/stamped PDF (present after completion on refresh)\"", what, d.File.Stamped, docModel)
		}
		if !d.Handled {
			t.Errorf("simulator: %s handled is false once everyone signed; %s (\"handled\": true)", what, docRefresh)
		}
		if !d.Completed() {
			t.Errorf("client: Document.Completed() is false for a document every signee signed (%+v)", d)
		}
	} else {
		if d.File.Stamped != "" {
			t.Errorf("simulator: %s file.stamped = %q before everyone signed; %s: \"present after completion\"", what, d.File.Stamped, docModel)
		}
		if d.Completed() {
			t.Errorf("client or simulator: Document.Completed() is true before everyone signed (%+v); %s", d, docModel)
		}
	}
}

func (e *env) refresh(ctx context.Context, what string, w docWant) pasby.Document {
	e.t.Helper()
	r, err := e.client.Refresh(ctx, w.id)
	if err != nil {
		e.t.Fatalf("%s: Refresh: %v", what, err)
	}
	checkEnvelope(e.t, what, r.Reason, r.Version, "Esignature refreshed successfully", e.version, docRefresh)
	if r.Link != "" {
		e.t.Errorf("simulator: %s refresh answer has data.link %q; %s has none", what, r.Link, docRefresh)
	}
	checkDocument(e.t, e, what, r.Document, w)
	return r.Document
}

// checkDocPing checks ping (or polling, or an SSE event) about a document
// id.
func checkDocPing(t *testing.T, e *env, what string, st pasby.FlowState, w docWant, iat int64, cancelled bool) {
	t.Helper()
	if st.Request.Reference != w.id {
		t.Errorf("client or simulator: %s data.request.reference = %q, want the document id %q; %s and %s: \"Document ids are accepted by ping too\"", what, st.Request.Reference, w.id, flowPing, notesPing)
	}
	if st.Document == nil {
		t.Errorf("client: %s about document %s has no Document (the package says it is set for a doc_ id)", what, w.id)
	} else if st.Document.ID != w.id {
		t.Errorf("client or simulator: %s Document.ID = %q, want %q", what, st.Document.ID, w.id)
	}
	if st.Request.IAT != iat {
		t.Errorf("simulator: %s data.request.iat = %d, want %d; %s (\"iat\")", what, st.Request.IAT, iat, notesPing)
	}
	if st.Request.Cancelled != cancelled {
		t.Errorf("simulator: %s data.request.cancelled = %v, want %v; %s", what, st.Request.Cancelled, cancelled, notesPing)
	}
	onsession := false
	for _, s := range w.states {
		if s.status != pasby.StatusStale {
			onsession = true
		}
	}
	if st.Request.OnSession != onsession {
		t.Errorf("simulator: %s data.request.onsession = %v, want %v; %s: \"onsession (a device picked it up)\"", what, st.Request.OnSession, onsession, notesPing)
	}
	if st.Request.Signed() != w.completed {
		t.Errorf("simulator: %s data.request.signature present = %v, want %v (every signee signed: %v); %s: \"Terminal states include cancelled or a truthy signature in data.request (signing flows)\"", what, st.Request.Signed(), w.completed, w.completed, flowPing)
	}
	if w.completed && st.Request.SignedAt == 0 {
		t.Errorf("simulator: %s data.request.signedAt is missing once signed; %s", what, notesPing)
	}
	if final := w.completed || cancelled; st.Final() != final {
		t.Errorf("client or simulator: %s FlowState.Final() = %v, want %v; %s", what, st.Final(), final, flowPing)
	}
	if st.Version != e.version {
		t.Errorf("simulator: %s version = %q, want %q", what, st.Version, e.version)
	}
	if st.Document != nil && !cancelled {
		checkDocument(t, e, what+" (document)", *st.Document, w)
	}
}

// checkFlowPing checks ping (or polling, or an SSE event) about a
// signee's req_ flow request.
func checkFlowPing(t *testing.T, e *env, what string, st pasby.FlowState, flowID string, iat int64, s signState, cancelled bool) {
	t.Helper()
	r := st.Request
	if r.Reference != flowID {
		t.Errorf("simulator: %s data.request.reference = %q, want the flow id %q; %s", what, r.Reference, flowID, notesPing)
	}
	if r.Mode != "signature" {
		t.Errorf("simulator: %s data.request.mode = %q, want \"signature\" for a signing flow; %s: \"mode (identification | signature)\"", what, r.Mode, notesPing)
	}
	if r.Data == "" {
		t.Errorf("simulator: %s data.request.data is empty; %s (\"data\")", what, notesPing)
	}
	if r.Requester == "" {
		t.Errorf("simulator: %s data.request.requester is empty; %s", what, notesPing)
	}
	picked := s.status != pasby.StatusStale
	switch {
	case picked && r.Requestee != s.nin:
		t.Errorf("simulator: %s data.request.requestee = %q, want the NIN %s once picked up; %s: \"requestee (NIN, empty until picked up)\"", what, r.Requestee, s.nin, notesPing)
	case !picked && r.Requestee != "":
		t.Errorf("simulator: %s data.request.requestee = %q before the flow was picked up; %s: \"empty until picked up\"", what, r.Requestee, notesPing)
	}
	if r.OnSession != picked {
		t.Errorf("simulator: %s data.request.onsession = %v, want %v; %s", what, r.OnSession, picked, notesPing)
	}
	if r.Cancelled != cancelled {
		t.Errorf("simulator: %s data.request.cancelled = %v, want %v; %s", what, r.Cancelled, cancelled, notesPing)
	}
	signed := s.status == pasby.StatusSigned
	if r.Signed() != signed || (signed && r.SignedAt != s.signedAt) || (!signed && r.SignedAt != 0) {
		t.Errorf("simulator: %s data.request signature present %v signedAt %d, want %v and %d; %s: \"signature and signedAt once signed\"", what, r.Signed(), r.SignedAt, signed, s.signedAt, notesPing)
	}
	if r.IAT != iat {
		t.Errorf("simulator: %s data.request.iat = %d, want %d; %s", what, r.IAT, iat, notesPing)
	}
	if st.Document != nil {
		t.Errorf("client: %s about flow request %s decoded as a document (%+v)", what, flowID, st.Document)
	}
	if st.Final() != (signed || cancelled) {
		t.Errorf("client or simulator: %s Final() = %v, want %v; %s", what, st.Final(), signed || cancelled, flowPing)
	}
}

// checkWebhooks checks the deliveries about docID: each a JSON POST to the
// webhook host carrying our reference, answered 200 on the first attempt,
// at least one once the document completed.
func checkWebhooks(t *testing.T, e *env, ctx context.Context, docID, ref string, completed bool) {
	t.Helper()
	if err := e.sim.WaitWebhooks(ctx); err != nil {
		t.Fatalf("webhooks still under way: %v", err)
	}
	var mine []pasby.Document
	for _, h := range e.hooks.Hits() {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(h.body, &raw); err != nil {
			t.Errorf("simulator: webhook body is not a JSON object: %q; %s", h.body, notesWebhooks)
			continue
		}
		var d pasby.Document
		if err := json.Unmarshal(h.body, &d); err != nil {
			t.Errorf("client: webhook body does not decode as pasby.Document: %v", err)
			continue
		}
		if d.ID != docID {
			continue
		}
		mine = append(mine, d)
		if h.method != "POST" || h.path != "/pasby/events" || !strings.HasPrefix(h.header.Get("Content-Type"), "application/json") {
			t.Errorf("simulator: webhook was %s %s (%s), want a JSON POST to webhook.host; %s", h.method, h.path, h.header.Get("Content-Type"), notesWebhooks)
		}
		if d.Hook.Reference != ref {
			t.Errorf("simulator: webhook about %s carries reference %q, want ours %q; %s", docID, d.Hook.Reference, ref, notesWebhooks)
		}
	}
	if len(mine) == 0 {
		t.Errorf("simulator: no webhook about %s reached webhook.host; pasby-documents.txt: \"pasby notifies your backend via webhook when signers complete\"", docID)
		return
	}
	// "Pass the id from signing/review create, or from a webhook payload."
	if r, err := e.client.Refresh(ctx, mine[len(mine)-1].ID); err != nil || r.Document.ID != docID {
		t.Errorf("client or simulator: Refresh with the id of the webhook payload: %v; %s: \"Pass the id … from a webhook payload\"", err, docRefresh)
	}
	// Deliveries run concurrently, as a real sender's may, so arrival order
	// says nothing; one of them must carry the completion.
	if completed && !slices.ContainsFunc(mine, pasby.Document.Completed) {
		t.Errorf("simulator: no webhook about %s shows it completed (last: %+v); pasby-documents.txt: \"notifies your backend via webhook when signers complete\"", docID, mine[len(mine)-1])
	}
	for _, dl := range e.sim.Deliveries() {
		if dl.DocumentID != docID {
			continue
		}
		if dl.Reference != ref || dl.Status != 200 || dl.Attempt != 1 {
			t.Errorf("simulator: delivery %+v, want reference %q answered 200 on the first attempt; %s", dl, ref, notesWebhooks)
		}
	}
}

func (e *env) simDoc(id string) pasbysim.Document {
	e.t.Helper()
	d, ok := e.sim.Document(id)
	if !ok {
		e.t.Fatalf("simulator does not know %s", id)
	}
	return d
}
