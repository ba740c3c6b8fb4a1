package documents

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"portal/models"
	"portal/services"
	"portal/services/casework"
	"portal/services/sandbox"
	"portal/services/sandbox/pasbysim"
)

func TestCreateSimpleSubmitted(t *testing.T) {
	e := newEnv(t)
	d := e.create(simpleInput(ninA + ", " + ninB + "\n" + ninC))
	wantState(t, d, models.DocumentSubmitted)
	if d.UpstreamID == nil || !strings.HasPrefix(*d.UpstreamID, "doc_") || d.IAT == nil || d.Exp == nil || d.NextCheckAt == nil {
		t.Fatalf("submitted document lacks upstream fields: %+v", d)
	}
	if len(d.Reference) != 32 {
		t.Errorf("reference %q: want 32 base64url characters", d.Reference)
	}
	up, ok := e.sim.Document(*d.UpstreamID)
	if !ok {
		t.Fatal("the simulator has no such document")
	}
	if up.Reference != d.Reference || up.HookHost != e.srv.URL+"/webhooks/pasby/"+testSecret || up.Mode != pasbysim.ModeAPI || up.Title != "Loan agreement" {
		t.Errorf("pasby got reference %q hook %q mode %q title %q", up.Reference, up.HookHost, up.Mode, up.Title)
	}
	det := e.get(d.ID)
	if len(det.Signees) != 3 || det.Signees[0].NIN != ninA || det.Signees[2].NIN != ninC {
		t.Errorf("signees %+v", det.Signees)
	}
	var states []string
	for _, ev := range det.Events {
		states = append(states, string(ev.FromState)+"→"+string(ev.ToState))
	}
	if got := strings.Join(states, " "); got != "→queued queued→submitting submitting→submitted" {
		t.Errorf("timeline %s", got)
	}
	if len(det.Audit) != 1 || det.Audit[0].Action != "document.created" || strings.Contains(det.Audit[0].Details, ninA) {
		t.Errorf("audit %+v", det.Audit)
	}
	if c := e.sim.CreateCalls(); c.Signing != 1 || c.Review != 0 {
		t.Errorf("create calls %+v", c)
	}
}

func TestCreateReviewSubmitted(t *testing.T) {
	e := newEnv(t)
	d := e.create(reviewInput())
	wantState(t, d, models.DocumentSubmitted)
	up, _ := e.sim.Document(*d.UpstreamID)
	if d.HostedLink == "" || d.HostedLink != up.Link {
		t.Errorf("hosted link %q, pasby's %q", d.HostedLink, up.Link)
	}
	if up.Mode != pasbysim.ModeInterface || len(up.Signees) != 2 || up.Signees[0].Representing != "Ada Obi" || up.Signees[1].Representing != "Acme Ltd" {
		t.Errorf("pasby got %+v", up)
	}
	if e.sim.CreateCalls().Review != 1 {
		t.Errorf("create calls %+v", e.sim.CreateCalls())
	}
}

func TestInvalidInputSendsNothing(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.Create(context.Background(), operator, simpleInput(ninA+" "+ninA))
	if fe, ok := services.AsFieldErrors(err); !ok || fe["nins"] == "" {
		t.Fatalf("err = %v, want a message on nins", err)
	}
	if n := e.count(&models.Document{}, ""); n != 0 {
		t.Errorf("%d documents written", n)
	}
	if e.hits(epSigning) != 0 {
		t.Error("pasby was called")
	}
}

// Both signees sign on the simulator; its webhooks drive the document to
// completed with the stamped PDF and the signatures.
func TestSignBothCompletesByWebhook(t *testing.T) {
	e := newEnv(t)
	d := e.create(reviewInput())

	e.sign(d, ninA)
	e.waitHooks()
	det := e.get(d.ID)
	wantState(t, det.Document, models.DocumentInProgress)
	if det.Signees[0].Status != models.SigneeSigned || det.Signees[0].Signature == "" || det.Signees[1].Status != models.SigneeStale {
		t.Fatalf("after one signature: %+v", det.Signees)
	}

	e.sign(d, ninB)
	e.waitHooks()
	det = e.get(d.ID)
	wantState(t, det.Document, models.DocumentCompleted)
	up, _ := e.sim.Document(*d.UpstreamID)
	if det.Document.StampedURL == "" || det.Document.StampedURL != up.Stamped || !det.Document.Handled || det.Document.CompletedAt == nil {
		t.Errorf("completed document: stamped %q (pasby %q) handled %v", det.Document.StampedURL, up.Stamped, det.Document.Handled)
	}
	if det.Document.NextCheckAt != nil {
		t.Error("a completed document is still scheduled for checks")
	}
	for i, sg := range det.Signees {
		if sg.Status != models.SigneeSigned || sg.Signature != up.Signees[i].Signature || sg.Identification == "" || sg.SignedAt == nil {
			t.Errorf("signee %d: %+v", i, sg)
		}
	}
	if det.VerificationURL != "https://in.pasby.africa/document-checker/"+strings.TrimPrefix(*d.UpstreamID, "doc_") {
		t.Errorf("verification URL %q", det.VerificationURL)
	}
	if n := e.count(&models.WebhookInbox{}, "processed_at IS NULL OR error <> ''"); n != 0 {
		t.Errorf("%d webhooks unprocessed or failed", n)
	}
	if e.hookCount(http.StatusOK) != 2 {
		t.Errorf("webhooks answered 200: %d, want 2", e.hookCount(http.StatusOK))
	}
}

// A simple signing's names come from pasby, and the reconciler alone
// follows the document when every webhook is lost.
func TestLostWebhooksReconcilerCatchesUp(t *testing.T) {
	e := newEnv(t)
	e.dropHooks.Store(true)
	d := e.create(simpleInput(ninA + " " + ninB))

	if err := e.sim.Open(*d.UpstreamID, ninA); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	wantState(t, e.get(d.ID).Document, models.DocumentInProgress)

	e.sign(d, ninA)
	e.sign(d, ninB)
	e.waitHooks()
	wantState(t, e.get(d.ID).Document, models.DocumentInProgress) // nothing arrived
	e.reconcile()
	det := e.get(d.ID)
	wantState(t, det.Document, models.DocumentCompleted)
	if det.Document.StampedURL == "" || det.Signees[0].Name == "" || det.Signees[1].Signature == "" {
		t.Errorf("after catching up: %+v %+v", det.Document, det.Signees)
	}
	if n := e.count(&models.WebhookInbox{}, ""); n != 0 {
		t.Errorf("%d webhooks stored though all were lost", n)
	}
	// Nothing left to check.
	e.clock.Advance(time.Hour)
	before := e.hits(epRefresh)
	if n, _ := e.svc.ReconcileOnce(context.Background()); n != 0 || e.hits(epRefresh) != before {
		t.Errorf("reconciler checked %d documents after completion", n)
	}
}

func TestDuplicateWebhookProcessedOnce(t *testing.T) {
	e := newEnv(t)
	d := e.create(reviewInput())
	body, _ := json.Marshal(map[string]any{"id": *d.UpstreamID, "hook": map[string]string{"reference": d.Reference}})
	ctx := context.Background()
	for range 3 {
		if err := e.svc.ReceiveWebhook(ctx, testSecret, body, http.Header{"Content-Type": {"application/json"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(&models.WebhookInbox{}, ""); n != 1 {
		t.Fatalf("%d inbox rows, want 1", n)
	}
	before := e.hits(epRefresh)
	n, err := e.svc.ProcessInbox(ctx)
	if err != nil || n != 1 {
		t.Fatalf("processed %d, %v", n, err)
	}
	if got := e.hits(epRefresh) - before; got != 1 {
		t.Errorf("%d refreshes for one webhook", got)
	}
	// The simulator resending the same state is deduplicated too.
	e.sign(d, ninA)
	e.waitHooks()
	if err := e.sim.ResendWebhook(*d.UpstreamID); err != nil {
		t.Fatal(err)
	}
	e.waitHooks()
	if n := e.count(&models.WebhookInbox{}, ""); n != 2 {
		t.Errorf("%d inbox rows after a resend, want 2", n)
	}
	if e.hookCount(http.StatusOK) != 2 {
		t.Errorf("pasby's webhooks answered 200: %d, want 2 (the duplicate too)", e.hookCount(http.StatusOK))
	}
}

func TestForgedWebhookStoresNothing(t *testing.T) {
	e := newEnv(t)
	d := e.create(reviewInput())
	body, _ := json.Marshal(map[string]any{"id": *d.UpstreamID, "hook": map[string]string{"reference": d.Reference}})
	for _, secret := range []string{"", "wrong", testSecret[:len(testSecret)-1], testSecret + "x", strings.ToUpper(testSecret)} {
		if err := e.svc.ReceiveWebhook(context.Background(), secret, body, nil); !errors.Is(err, ErrUnknownWebhookSecret) {
			t.Errorf("secret %q: err = %v", secret, err)
		}
	}
	// Over HTTP, as pasby (or anyone) would post it.
	res, err := http.Post(e.srv.URL+"/webhooks/pasby/not-the-secret-000000000", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("forged webhook answered %d", res.StatusCode)
	}
	if n := e.count(&models.WebhookInbox{}, ""); n != 0 {
		t.Errorf("%d forged webhooks stored", n)
	}
	if err := e.svc.ReceiveWebhook(context.Background(), testSecret, make([]byte, MaxWebhookBody+1), nil); !errors.Is(err, ErrWebhookTooLarge) {
		t.Errorf("huge body: %v", err)
	}
}

// A webhook with the right secret but naming nobody is refused (404) and
// stores nothing; one that is not JSON is refused as malformed (400), and
// stores nothing either.
func TestWebhookUnknownReference(t *testing.T) {
	e := newEnv(t)
	d := e.create(reviewInput())
	ctx := context.Background()
	for _, c := range []struct {
		body string
		want error
	}{
		{`{"id":"doc_nope","hook":{"reference":"nobody"}}`, ErrUnknownWebhookDocument},
		{`{"hello":"world"}`, ErrUnknownWebhookDocument},
		{`[]`, ErrUnknownWebhookDocument},
		{`not json`, ErrMalformedWebhook},
		{`{"id":`, ErrMalformedWebhook},
		{``, ErrMalformedWebhook},
	} {
		if err := e.svc.ReceiveWebhook(ctx, testSecret, []byte(c.body), nil); !errors.Is(err, c.want) {
			t.Errorf("%q: %v, want %v", c.body, err, c.want)
		}
	}
	if n := e.count(&models.WebhookInbox{}, ""); n != 0 {
		t.Errorf("%d webhooks naming nobody stored", n)
	}
	if got := e.get(d.ID); len(got.Events) != 3 || got.Document.State != models.DocumentSubmitted {
		t.Errorf("document changed: %s, %d events", got.Document.State, len(got.Events))
	}
	// Our reference alone is enough, at any depth pasby may put it.
	body := `{"data":{"hook":{"reference":"` + d.Reference + `"}}}`
	if err := e.svc.ReceiveWebhook(ctx, testSecret, []byte(body), nil); err != nil {
		t.Errorf("webhook naming our reference: %v", err)
	}
}

// A webhook arriving after completion (a late retry, a resend) is harmless.
func TestLateWebhookHarmless(t *testing.T) {
	e := newEnv(t)
	e.dropHooks.Store(true)
	d := e.create(reviewInput())
	e.sign(d, ninA)
	e.sign(d, ninB)
	e.reconcile()
	done := e.get(d.ID)
	wantState(t, done.Document, models.DocumentCompleted)

	e.dropHooks.Store(false)
	if err := e.sim.ResendWebhook(*d.UpstreamID); err != nil {
		t.Fatal(err)
	}
	before := e.hits(epRefresh)
	e.waitHooks()
	after := e.get(d.ID)
	if after.Document.State != models.DocumentCompleted || len(after.Events) != len(done.Events) || after.Document.UpdatedAt != done.Document.UpdatedAt {
		t.Errorf("late webhook changed the document: %+v", after.Document)
	}
	if e.hits(epRefresh) != before {
		t.Error("late webhook refreshed a finished document")
	}
	if n := e.count(&models.WebhookInbox{}, "processed_at IS NOT NULL AND error = ''"); n != 1 {
		t.Errorf("late webhook not processed cleanly (%d)", n)
	}
}

func TestCreateFaults(t *testing.T) {
	cases := []struct {
		name    string
		fault   sandbox.Fault
		want    models.DocumentState
		message string
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 500}, models.DocumentFailed, "not answering properly"},
		{"503", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503}, models.DocumentFailed, "not answering properly"},
		{"401", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 401}, models.DocumentFailed, "credentials"},
		{"502 from a gateway", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 502}, models.DocumentUnknown, "may or may not"},
		{"hang", sandbox.Fault{Kind: sandbox.FaultHang}, models.DocumentUnknown, "may or may not"},
		{"malformed", sandbox.Fault{Kind: sandbox.FaultMalformed}, models.DocumentUnknown, "may or may not"},
		{"reset", sandbox.Fault{Kind: sandbox.FaultReset}, models.DocumentUnknown, "may or may not"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.fault(epSigning, c.fault)
			d := e.create(simpleInput(ninA))
			wantState(t, d, c.want)
			if !strings.Contains(d.Error, c.message) || d.UpstreamID != nil {
				t.Errorf("error %q, upstream id %v", d.Error, d.UpstreamID)
			}
			// Never re-sent: not by the reconciler, not by a restart.
			e.harness.ClearAll()
			e.reconcile()
			if _, err := e.svc.RecoverLapsed(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := e.hits(epSigning); n != 1 {
				t.Errorf("signing sent %d times", n)
			}
			wantState(t, e.get(d.ID).Document, c.want)
		})
	}
}

func TestNotPDFFails(t *testing.T) {
	e := newEnv(t)
	in := simpleInput(ninA)
	in.FileURL = "https://files.example.com/contract.docx"
	d := e.create(in)
	wantState(t, d, models.DocumentFailed)
	if !strings.Contains(d.Error, "PDF") {
		t.Errorf("error %q", d.Error)
	}
}

// pasby got the request but its answer never came back: the document is
// unknown, is not sent again, and pasby's first webhook (naming our
// reference) brings it back once a refresh confirms it.
func TestUnknownResolvedByWebhook(t *testing.T) {
	e := newEnv(t)
	e.useUpstream(lostAnswers{e.client})
	d := e.create(reviewInput())
	wantState(t, d, models.DocumentUnknown)
	docs := e.sim.Documents()
	if len(docs) != 1 || docs[0].Reference != d.Reference {
		t.Fatalf("pasby has %d documents", len(docs))
	}
	e.reconcile()
	if c := e.sim.CreateCalls(); c.Review != 1 {
		t.Fatalf("review sent %d times", c.Review)
	}

	if err := e.sim.Sign(docs[0].ID, ninA); err != nil {
		t.Fatal(err)
	}
	e.waitHooks()
	got := e.get(d.ID)
	wantState(t, got.Document, models.DocumentInProgress)
	if got.Document.UpstreamID == nil || *got.Document.UpstreamID != docs[0].ID || got.Document.Error != "" || got.Signees[0].Status != models.SigneeSigned {
		t.Errorf("resolved document: %+v", got.Document)
	}
}

// A webhook naming our reference but another pasby document is not
// believed.
func TestUnknownNotResolvedByAnotherDocument(t *testing.T) {
	e := newEnv(t)
	e.fault(epSigning, sandbox.Fault{Kind: sandbox.FaultHang, Times: 1})
	lost := e.create(simpleInput(ninA))
	wantState(t, lost, models.DocumentUnknown)
	other := e.create(simpleInput(ninB))
	body, _ := json.Marshal(map[string]any{"id": *other.UpstreamID, "hook": map[string]string{"reference": lost.Reference}})
	if err := e.svc.ReceiveWebhook(context.Background(), testSecret, body, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ProcessInbox(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(lost.ID).Document, models.DocumentUnknown)
	if n := e.count(&models.WebhookInbox{}, "error LIKE '%does not carry this reference%'"); n != 1 {
		t.Error("the mismatch was not recorded")
	}
}

// Only the caller that claims a queued row calls pasby.
func TestConcurrentSendCallsOnce(t *testing.T) {
	e := newEnv(t)
	e.fault(epSigning, sandbox.Fault{Kind: sandbox.FaultLatency, Latency: 50 * time.Millisecond})
	now := e.clock.Now()
	d := models.Document{Reference: NewReference(), Kind: models.DocumentKindSimple, Title: "T", FileURL: "https://files.example.com/a.pdf",
		State: models.DocumentQueued, CreatedAt: now, UpdatedAt: now}
	if err := e.db.Create(&d).Error; err != nil {
		t.Fatal(err)
	}
	if err := e.db.Create(&models.DocumentSignee{DocumentID: d.ID, NIN: ninA, Status: models.SigneeStale}).Error; err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := e.svc.send(context.Background(), d.ID); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := e.hits(epSigning); n != 1 {
		t.Errorf("signing sent %d times", n)
	}
	wantState(t, e.get(d.ID).Document, models.DocumentSubmitted)
}

func TestRecoverLapsed(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	ids := map[models.DocumentState]uint{}
	for _, st := range []models.DocumentState{models.DocumentQueued, models.DocumentSubmitting, models.DocumentSubmitted} {
		d := models.Document{Reference: NewReference(), Kind: models.DocumentKindSimple, Title: "T", FileURL: "https://files.example.com/a.pdf",
			State: st, CreatedAt: now, UpdatedAt: now}
		if err := e.db.Create(&d).Error; err != nil {
			t.Fatal(err)
		}
		ids[st] = d.ID
	}
	if _, err := e.svc.RecoverLapsed(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantState(t, e.get(ids[models.DocumentQueued]).Document, models.DocumentFailed)
	wantState(t, e.get(ids[models.DocumentSubmitting]).Document, models.DocumentUnknown)
	wantState(t, e.get(ids[models.DocumentSubmitted]).Document, models.DocumentSubmitted)
	if e.hits(epSigning) != 0 {
		t.Error("recovery sent something")
	}
}

func TestCancel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.create(reviewInput())
	got, err := e.svc.Cancel(ctx, operator, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, got, models.DocumentCancelled)
	if up, _ := e.sim.Document(*d.UpstreamID); up.State != pasbysim.StateCancelled {
		t.Errorf("pasby's document is %s", up.State)
	}
	det := e.get(d.ID)
	if last := det.Audit[len(det.Audit)-1]; last.Action != "document.cancelled" || last.ActorEmail != operator.Email {
		t.Errorf("audit %+v", last)
	}
	if _, err := e.svc.Cancel(ctx, operator, d.ID); !errors.Is(err, ErrNotOpen) {
		t.Errorf("second cancel: %v", err)
	}
	if e.hits(epCancel) != 1 {
		t.Errorf("cancel sent %d times", e.hits(epCancel))
	}

	// Cancelled at pasby by someone else: the reconciler sees it.
	d2 := e.create(simpleInput(ninA))
	if err := e.sim.Cancel(*d2.UpstreamID); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	wantState(t, e.get(d2.ID).Document, models.DocumentCancelled)

	// Completed before the cancel reached pasby: pasby refuses, the
	// document shows the truth.
	d3 := e.create(simpleInput(ninB))
	e.sign(d3, ninB)
	got, err = e.svc.Cancel(ctx, operator, d3.ID)
	var ue *UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("cancel of a signed document: %v", err)
	}
	wantState(t, got, models.DocumentCompleted)
}

func TestCancelUnavailable(t *testing.T) {
	e := newEnv(t)
	d := e.create(simpleInput(ninA))
	e.fault(epCancel, sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503})
	got, err := e.svc.Cancel(context.Background(), operator, d.ID)
	var ue *UpstreamError
	if !errors.As(err, &ue) || !strings.Contains(ue.Message, "Not cancelled") {
		t.Fatalf("err = %v", err)
	}
	wantState(t, got, models.DocumentSubmitted)
}

func TestExpire(t *testing.T) {
	e := newEnv(t)
	d := e.create(simpleInput(ninA))
	if err := e.sim.Expire(*d.UpstreamID); err != nil {
		t.Fatal(err)
	}
	e.reconcile()
	wantState(t, e.get(d.ID).Document, models.DocumentExpired)

	// Time passing beyond exp does it too.
	d2 := e.create(reviewInput())
	e.sign(d2, ninA)
	e.clock.Advance(pasbysim.DefaultReviewTTL)
	e.reconcile()
	wantState(t, e.get(d2.ID).Document, models.DocumentExpired)
}

func TestManualRefresh(t *testing.T) {
	e := newEnv(t)
	e.dropHooks.Store(true)
	ctx := context.Background()
	d := e.create(simpleInput(ninA))
	e.sign(d, ninA)
	got, err := e.svc.Refresh(ctx, operator, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, got, models.DocumentCompleted)
	det := e.get(d.ID)
	if last := det.Audit[len(det.Audit)-1]; last.Action != "document.refreshed" {
		t.Errorf("audit %+v", last)
	}
	e.fault(epRefresh, sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503})
	if _, err := e.svc.Refresh(ctx, operator, d.ID); err == nil {
		t.Error("refresh during an outage reported no error")
	}

	failed := models.Document{Reference: NewReference(), Kind: models.DocumentKindSimple, Title: "T", FileURL: "https://files.example.com/a.pdf",
		State: models.DocumentFailed, CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now()}
	e.db.Create(&failed)
	if _, err := e.svc.Refresh(ctx, operator, failed.ID); !errors.Is(err, ErrNotOpen) {
		t.Errorf("refresh of a failed document: %v", err)
	}
	if _, err := e.svc.Refresh(ctx, operator, 9999); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("refresh of nothing: %v", err)
	}
}

// Checks back off while nothing happens: 5 s doubling, ±20 %, up to 5 min.
func TestReconcilerBackoff(t *testing.T) {
	e := newEnv(t)
	d := e.create(simpleInput(ninA))
	first := d.NextCheckAt.Sub(e.clock.Now())
	if first != 5*time.Second {
		t.Errorf("first check after %s", first)
	}
	for attempt := 1; attempt <= 8; attempt++ {
		e.clock.Advance(e.get(d.ID).Document.NextCheckAt.Sub(e.clock.Now()))
		if n, err := e.svc.ReconcileOnce(context.Background()); err != nil || n != 1 {
			t.Fatalf("attempt %d: checked %d, %v", attempt, n, err)
		}
		got := e.get(d.ID).Document
		delay := got.NextCheckAt.Sub(e.clock.Now())
		want := min(5*time.Second<<(attempt-1), 5*time.Minute)
		if got.CheckAttempts != attempt || delay < want*8/10 || delay > want*12/10 {
			t.Errorf("attempt %d: next check in %s, want %s ±20%%", got.CheckAttempts, delay, want)
		}
	}
	if n, _ := e.svc.ReconcileOnce(context.Background()); n != 0 {
		t.Error("a document not due was checked")
	}
}

func TestRunReconcilerProcessesWebhooks(t *testing.T) {
	e := newEnv(t)
	d := e.create(reviewInput())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.svc.RunReconciler(ctx, time.Hour); close(done) }()
	e.sign(d, ninA)
	e.sign(d, ninB)
	deadline := time.Now().Add(5 * time.Second)
	for e.get(d.ID).Document.State != models.DocumentCompleted && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	wantState(t, e.get(d.ID).Document, models.DocumentCompleted)
}

// TestReview follows documents into the compliance queue (services/casework)
// as pasby completes them, and out of it as they are decided.
func TestReview(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cw := casework.New(e.db, e.clock.Now, 0)
	older := e.create(simpleInput(ninA))
	newer := e.create(simpleInput(ninB))
	open := e.create(simpleInput(ninC))
	if _, err := cw.Decide(ctx, models.CaseDocument, compliance, open.ID, "approved", "", ""); !errors.Is(err, casework.ErrNotReviewable) {
		t.Errorf("review of an open document: %v", err)
	}
	e.sign(older, ninA)
	e.waitHooks()
	e.clock.Advance(time.Minute)
	e.sign(newer, ninB)
	e.waitHooks()

	q, err := cw.Waiting(ctx, models.CaseDocument, casework.Everyone, 0, 10)
	if err != nil || len(q.Items) != 2 || q.Items[0].RecordID != older.ID || q.Items[1].RecordID != newer.ID {
		t.Fatalf("queue %+v, %v", q.Items, err)
	}
	cases := []struct {
		decision, reason, note string
		field                  string
	}{
		{"flagged", "", "", "reason"},
		{"flagged", "other", "   ", "note"},
		{"maybe", "", "x", "decision"},
		{"", "", "", "decision"},
		{"approved", "", strings.Repeat("n", casework.MaxNote+1), "note"},
	}
	for _, c := range cases {
		_, err := cw.Decide(ctx, models.CaseDocument, compliance, older.ID, c.decision, c.reason, c.note)
		if fe, ok := services.AsFieldErrors(err); !ok || fe[c.field] == "" {
			t.Errorf("Decide(%q, %q, %q) = %v, want a message on %s", c.decision, c.reason, c.note, err, c.field)
		}
	}
	out, err := cw.Decide(ctx, models.CaseDocument, compliance, older.ID, "flagged", "signer_mismatch", "Signature name does not match the ID")
	if err != nil || !out.SecondReview {
		t.Fatalf("flag: %+v, %v", out, err)
	}
	if _, err := cw.Decide(ctx, models.CaseDocument, compliance, older.ID, "approved", "", ""); !errors.Is(err, casework.ErrAlreadyDecided) {
		t.Errorf("second decision: %v", err)
	}
	if _, err := cw.Decide(ctx, models.CaseDocument, compliance, newer.ID, "approved", "", ""); err != nil {
		t.Errorf("approve without a note: %v", err)
	}
	det := e.get(older.ID)
	if det.Review == nil || det.Review.Note != "Signature name does not match the ID" || det.Review.Reason != "signer_mismatch" ||
		det.Document.ReviewDecision != models.ReviewFlagged || det.Document.ComplianceReason != "signer_mismatch" {
		t.Errorf("detail review %+v", det.Review)
	}
	if last := det.Audit[len(det.Audit)-1]; last.Action != "document.reviewed" {
		t.Errorf("audit %+v", last)
	}
	if q, _ := cw.Waiting(ctx, models.CaseDocument, casework.Everyone, 0, 10); len(q.Items) != 0 {
		t.Errorf("queue after decisions: %d", len(q.Items))
	}
	if err := e.db.Exec("UPDATE document_reviews SET decision = 'approved'").Error; err == nil {
		t.Error("a review decision could be rewritten")
	}
}

func TestRevealNIN(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.create(reviewInput())
	det := e.get(d.ID)
	nin, err := e.svc.RevealNIN(ctx, compliance, d.ID, det.Signees[1].ID)
	if err != nil || nin != ninB {
		t.Fatalf("reveal = %q, %v", nin, err)
	}
	det = e.get(d.ID)
	last := det.Audit[len(det.Audit)-1]
	if last.Action != "document.nin_revealed" || last.ActorEmail != compliance.Email || strings.Contains(last.Details, ninB) || !strings.Contains(last.Details, "9012") {
		t.Errorf("audit %+v", last)
	}
	other := e.create(simpleInput(ninC))
	if _, err := e.svc.RevealNIN(ctx, compliance, other.ID, det.Signees[1].ID); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("reveal through another document: %v", err)
	}
}

func TestMaskNIN(t *testing.T) {
	cases := []struct {
		nin    string
		reveal bool
		want   string
	}{
		{"12345678901", false, "•••••••8901"},
		{"12345678901", true, "12345678901"},
		{"1234", false, "••••"},
		{"", false, ""},
		{"12345", false, "•2345"},
	}
	for _, c := range cases {
		if got := MaskNIN(c.nin, c.reveal); got != c.want {
			t.Errorf("MaskNIN(%q, %v) = %q, want %q", c.nin, c.reveal, got, c.want)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, o := range []Options{
		{BaseURL: "", WebhookSecret: testSecret},
		{BaseURL: "portal.example.com", WebhookSecret: testSecret},
		{BaseURL: "https://portal.example.com", WebhookSecret: "short"},
		{BaseURL: "https://portal.example.com", WebhookSecret: "has/slash-0123456789abcdef"},
	} {
		if _, err := New(nil, nil, time.Now, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestListAndExport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var docs []models.Document
	for i, title := range []string{"Loan agreement", "lease for office", "Board minutes", "Loan top-up"} {
		in := simpleInput([]string{ninA, ninB, ninC, "45678901234"}[i])
		in.Title = title
		docs = append(docs, e.create(in))
	}
	rev := e.create(reviewInput())
	e.sign(docs[0], ninA)
	e.waitHooks()

	ids := func(p Page) []uint {
		var out []uint
		for _, d := range p.Documents {
			out = append(out, d.ID)
		}
		return out
	}
	cases := []struct {
		name string
		f    Filter
		want []uint
	}{
		{"all", Filter{}, []uint{rev.ID, docs[3].ID, docs[2].ID, docs[1].ID, docs[0].ID}},
		{"completed", Filter{State: "completed"}, []uint{docs[0].ID}},
		{"review kind", Filter{Kind: "review"}, []uint{rev.ID}},
		{"not reviewed, completed", Filter{State: "completed", Decision: "none"}, []uint{docs[0].ID}},
		{"title prefix any case", Filter{Q: "loa"}, []uint{docs[3].ID, docs[0].ID}},
		{"title prefix lower", Filter{Q: "LEASE"}, []uint{docs[1].ID}},
		{"NIN prefix", Filter{Q: "2345"}, []uint{rev.ID, docs[1].ID}},
		{"full NIN", Filter{Q: ninC}, []uint{docs[2].ID}},
		{"reference", Filter{Q: docs[2].Reference}, []uint{docs[2].ID}},
		{"upstream id", Filter{Q: *docs[1].UpstreamID}, []uint{docs[1].ID}},
		{"number", Filter{Q: "#" + itoa(docs[3].ID)}, []uint{docs[3].ID}},
		{"nothing", Filter{Q: "zzz"}, nil},
	}
	for _, c := range cases {
		p, err := e.svc.List(ctx, c.f, "", "", 50)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := ids(p); !equalIDs(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	for _, f := range []Filter{{State: "done"}, {Kind: "x"}, {Decision: "maybe"}, {From: "yesterday"}, {Q: "ab"}, {Q: "#x"}, {From: "2026-02-01", To: "2026-01-01"}} {
		if _, err := e.svc.List(ctx, f, "", "", 50); err == nil {
			t.Errorf("filter %+v accepted", f)
		}
	}

	// Keyset paging both ways.
	p1, _ := e.svc.List(ctx, Filter{}, "", "", 2)
	p2, _ := e.svc.List(ctx, Filter{}, p1.Following, "", 2)
	p3, _ := e.svc.List(ctx, Filter{}, p2.Following, "", 2)
	if !equalIDs(ids(p2), []uint{docs[2].ID, docs[1].ID}) || !equalIDs(ids(p3), []uint{docs[0].ID}) || p3.Following != "" {
		t.Errorf("pages %v %v %v", ids(p1), ids(p2), ids(p3))
	}
	back, _ := e.svc.List(ctx, Filter{}, "", p2.Prev, 2)
	if !equalIDs(ids(back), ids(p1)) {
		t.Errorf("newer page %v, want %v", ids(back), ids(p1))
	}

	var buf bytes.Buffer
	if err := e.svc.ExportCSV(ctx, Filter{Q: "loa"}, &buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "id,created_at_utc,kind,state") {
		t.Fatalf("csv:\n%s", out)
	}
	if strings.Contains(out, ninA) || !strings.Contains(out, "•••••••8901") || !strings.Contains(out, ",1/1,") {
		t.Errorf("csv NINs not masked or counts wrong:\n%s", out)
	}
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }

func equalIDs(a, b []uint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
