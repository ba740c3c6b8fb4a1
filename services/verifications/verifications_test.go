package verifications

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/models"
	"portal/services"
	"portal/services/casework"
	"portal/services/passportreader"
	"portal/services/pawapass"
	"portal/services/sandbox"
	"portal/services/upstream"
)

func TestValidate(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		edit  func(*Input)
		field string // "" means valid
	}{
		{"valid pawaPass", func(*Input) {}, ""},
		{"valid without optional fields", func(in *Input) { in.Country, in.PhoneNo = "", "" }, ""},
		{"unknown provider", func(in *Input) { in.Provider = "acme" }, "provider"},
		{"no external id", func(in *Input) { in.ExternalID = "  " }, "external_id"},
		{"null byte in external id", func(in *Input) { in.ExternalID = "a\x00b" }, "external_id"},
		{"external id too long", func(in *Input) { in.ExternalID = strings.Repeat("x", 201) }, "external_id"},
		{"no requirements", func(in *Input) { in.Requirements = nil }, "requirements"},
		{"unknown requirement", func(in *Input) { in.Requirements = []string{"SELFIE"} }, "requirements"},
		{"country not supported", func(in *Input) { in.Country = "FR" }, "country"},
		{"lower-case country is fine", func(in *Input) { in.Country = "ke" }, ""},
		{"success url not http", func(in *Input) { in.SuccessURL = "javascript:alert(1)" }, "success_url"},
		{"error url missing", func(in *Input) { in.ErrorURL = "" }, "error_url"},
		{"support url without host", func(in *Input) { in.SupportURL = "https://" }, "support_url"},
		{"bad phone", func(in *Input) { in.PhoneNo = "call me" }, "phone_no"},
		{"expiry in the past", func(in *Input) { in.ExpiresAt = "2026-05-01T09:00" }, "expires_at"},
		{"expiry garbage", func(in *Input) { in.ExpiresAt = "tomorrow" }, "expires_at"},
		{"expiry too far", func(in *Input) { in.ExpiresAt = "2027-05-01T09:00" }, "expires_at"},
		{"expiry RFC 3339", func(in *Input) { in.ExpiresAt = "2026-05-05T09:00:00Z" }, ""},
		{"PassportReader ignores pawaPass fields", func(in *Input) { *in = Input{Provider: "passportreader"} }, ""},
		{"PassportReader bad phone", func(in *Input) { *in = Input{Provider: "passportreader", PhoneNo: "12"} }, "phone_no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := pawaInput()
			c.edit(&in)
			v, err := in.Validate(now, time.UTC)
			fe, isFE := services.AsFieldErrors(err)
			switch {
			case c.field == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case c.field != "" && (!isFE || fe[c.field] == ""):
				t.Fatalf("want a message on %s, got %v", c.field, err)
			case c.field == "" && v.Provider == models.ProviderPawaPass && (len(v.Requirements) == 0 || v.ExternalID == ""):
				t.Fatalf("valid result incomplete: %+v", v)
			}
		})
	}
	v, _ := pawaInput().Validate(now, time.UTC)
	if v.PhoneNo != "+260971234567" {
		t.Errorf("phone %q, want E.164", v.PhoneNo)
	}
	in := pawaInput()
	in.Requirements = []string{"FACE_SCAN", "FACE_SCAN"}
	if v, _ := in.Validate(now, time.UTC); len(v.Requirements) != 1 {
		t.Errorf("duplicate requirement kept: %v", v.Requirements)
	}
}

func FuzzValidate(f *testing.F) {
	f.Add("pawapass", "cust-1", "DOCUMENT_SCAN", "ZM", "+260971234567", "", "https://a.example/x")
	f.Add("passportreader", "", "", "", "0712345678", "2026-05-05T09:00", "http://b.example")
	f.Add("pawapass", "\x00", "FACE_SCAN", "zz", "++", "2026-13-45T99:99", "https://")
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, provider, external, req, country, phoneNo, expires, u string) {
		in := Input{Provider: provider, ExternalID: external, Requirements: []string{req}, Country: country, PhoneNo: phoneNo,
			ExpiresAt: expires, SuccessURL: u, ErrorURL: u, SupportURL: u}
		v, err := in.Validate(now, time.UTC)
		if err != nil {
			if _, ok := services.AsFieldErrors(err); !ok {
				t.Fatalf("error is not field errors: %v", err)
			}
			return
		}
		if !v.Provider.Valid() {
			t.Fatalf("invalid provider accepted: %q", v.Provider)
		}
		if v.Provider == models.ProviderPawaPass {
			if v.ExternalID == "" || strings.ContainsRune(v.ExternalID, 0) || len(v.Requirements) == 0 || !strings.HasPrefix(v.SuccessURL, "http") {
				t.Fatalf("invalid pawaPass input accepted: %+v", v)
			}
			if v.ExpiresAt != nil && !v.ExpiresAt.After(now) {
				t.Fatalf("past expiry accepted: %v", v.ExpiresAt)
			}
		}
		if v.PhoneNo != "" && !strings.HasPrefix(v.PhoneNo, "+") {
			t.Fatalf("phone not E.164: %q", v.PhoneNo)
		}
	})
}

func TestPawaPassLifecycleByWebhooks(t *testing.T) {
	e := newEnv(t)
	v := e.create(pawaInput())
	wantState(t, v, models.VerificationSubmitted)
	if v.UpstreamID == nil || v.Link == "" || v.ProviderStatus != pawapass.StatusCreated {
		t.Fatalf("after create: %+v", v)
	}
	// Our reference travels in metadata, so a lost answer can be found.
	sv, _ := e.pawa.VerificationJSON(*v.UpstreamID)
	if !strings.Contains(string(sv), v.Reference) {
		t.Error("our reference is not in pawaPass's metadata")
	}
	e.pawaApprove(*v.UpstreamID)
	e.settle()
	got := e.get(v.ID)
	wantState(t, got, models.VerificationApproved)
	if got.DocumentNumber == "" || got.Surname == "" || got.FaceResult == "" || got.IdentityJSON == "" || got.CompletedAt == nil {
		t.Errorf("identity data not recorded: %+v", got)
	}
	if e.hookCount(http.StatusOK) == 0 {
		t.Error("no webhook was accepted")
	}
	// Every webhook is stored once, whatever the retries.
	if n := e.count(&models.WebhookInbox{}, "provider = 'pawapass' AND error <> ''"); n != 0 {
		t.Errorf("%d webhooks failed to process", n)
	}
}

func TestPawaPassDeclinedWithReason(t *testing.T) {
	e := newEnv(t)
	v := e.create(pawaInput())
	for _, step := range []func(string) error{e.pawa.Start, e.pawa.SubmitDocument, e.pawa.SubmitFace, e.pawa.Collect} {
		if err := step(*v.UpstreamID); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.pawa.Decline(*v.UpstreamID, "IMAGE_QUALITY"); err != nil {
		t.Fatal(err)
	}
	e.settle()
	got := e.get(v.ID)
	wantState(t, got, models.VerificationDeclined)
	if got.ReviewReason != "IMAGE_QUALITY" {
		t.Errorf("review reason %q", got.ReviewReason)
	}
}

// Lost webhooks: the reconciler catches up on its own.
func TestPawaPassLostWebhooksReconciled(t *testing.T) {
	e := newEnv(t)
	e.dropHooks.Store(true)
	v := e.create(pawaInput())
	e.pawaApprove(*v.UpstreamID)
	e.settle()
	wantState(t, e.get(v.ID), models.VerificationSubmitted)
	e.reconcile()
	wantState(t, e.get(v.ID), models.VerificationApproved)
}

// Duplicated and out-of-order webhooks: one row per notification, and an
// old status arriving late never moves a verification backwards (the
// state always comes from a fresh get).
func TestPawaPassDuplicateAndLateWebhooks(t *testing.T) {
	e := newEnv(t)
	v := e.create(pawaInput())
	if err := e.pawa.Start(*v.UpstreamID); err != nil {
		t.Fatal(err)
	}
	e.settle()
	early := e.pawa.Deliveries()
	if len(early) == 0 {
		t.Fatal("no delivery recorded")
	}
	e.pawaApprove2(*v.UpstreamID)
	e.settle()
	wantState(t, e.get(v.ID), models.VerificationApproved)
	// Resends arrive after the final state: harmless.
	for range early {
		if err := e.pawa.ResendWebhook(*v.UpstreamID); err != nil {
			t.Fatal(err)
		}
	}
	e.settle()
	wantState(t, e.get(v.ID), models.VerificationApproved)
	if n := e.count(&models.VerificationEvent{}, "verification_id = ? AND to_state = 'approved' AND from_state <> 'approved'", v.ID); n != 1 {
		t.Errorf("%d transitions to approved, want 1", n)
	}

	// A stale notification, signed correctly and new to us, says STARTED:
	// the fetch says APPROVED, so nothing moves.
	stale := map[string]any{"notificationId": "11111111-2222-4333-8444-555555555555", "type": pawapass.NotificationStatusChange,
		"object": "VERIFICATION", "createdAt": "2026-05-04T09:00:00.000Z",
		"data": map[string]any{"id": *v.UpstreamID, "status": "STARTED", "externalId": "cust-0042"}}
	body, _ := json.Marshal(stale)
	ctx := context.Background()
	for range 2 {
		if err := e.svc.ReceivePawaPass(ctx, body, signedHeader(pawapass.Sign(testPawaSecret, body))); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.count(&models.WebhookInbox{}, "dedupe_key = ?", "notification:11111111-2222-4333-8444-555555555555"); n != 1 {
		t.Errorf("duplicate notification stored %d times", n)
	}
	e.settle()
	wantState(t, e.get(v.ID), models.VerificationApproved)
}

func (e *env) pawaApprove2(id string) {
	e.t.Helper()
	for _, step := range []func(string) error{e.pawa.SubmitDocument, e.pawa.SubmitFace, e.pawa.Collect, e.pawa.Approve} {
		if err := step(id); err != nil {
			e.t.Fatal(err)
		}
	}
}

func TestPawaPassForgedWebhookRefused(t *testing.T) {
	e := newEnv(t)
	v := e.create(pawaInput())
	body, _ := json.Marshal(map[string]any{"notificationId": "n-1", "type": pawapass.NotificationStatusChange, "object": "VERIFICATION",
		"createdAt": "2026-05-04T09:00:00.000Z", "data": map[string]any{"id": *v.UpstreamID, "status": "APPROVED"}})
	ctx := context.Background()
	for _, sig := range []string{"", "deadbeef", pawapass.Sign("another-secret", body), pawapass.Sign(testPawaSecret, append(body, ' '))} {
		if err := e.svc.ReceivePawaPass(ctx, body, signedHeader(sig)); !errors.Is(err, ErrBadSignature) {
			t.Errorf("signature %q: %v, want ErrBadSignature", sig, err)
		}
	}
	if n := e.count(&models.WebhookInbox{}, ""); n != 0 {
		t.Errorf("%d forged webhooks stored", n)
	}
	// With no secret configured every webhook is refused.
	e.svc.opts.PawaPassWebhookSecret = ""
	if err := e.svc.ReceivePawaPass(ctx, body, signedHeader(pawapass.Sign("", body))); !errors.Is(err, ErrBadSignature) {
		t.Errorf("empty secret: %v", err)
	}
}

func TestPawaPassCreateFaults(t *testing.T) {
	cases := []struct {
		name  string
		fault sandbox.Fault
		want  models.VerificationState
	}{
		{"500", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 500}, models.VerificationFailed},
		{"401", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 401}, models.VerificationFailed},
		{"502 from a gateway", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 502}, models.VerificationUnknown},
		{"hang", sandbox.Fault{Kind: sandbox.FaultHang}, models.VerificationUnknown},
		{"malformed", sandbox.Fault{Kind: sandbox.FaultMalformed}, models.VerificationUnknown},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			e.fault("pawapass", "POST /v2/verifications/{$}", c.fault)
			v := e.create(pawaInput())
			wantState(t, v, c.want)
			if v.Error == "" || v.UpstreamID != nil {
				t.Errorf("error %q upstream %v", v.Error, v.UpstreamID)
			}
			e.harness.ClearAll()
			e.reconcile()
			if _, err := e.svc.RecoverLapsed(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := e.pawa.CreateCalls(); n > 1 {
				t.Errorf("create sent %d times", n)
			}
		})
	}
}

// lostPawaAnswers is pawaPass whose create answers are lost after the
// verification was made.
type lostPawaAnswers struct{ PawaPass }

func (l lostPawaAnswers) Create(ctx context.Context, r pawapass.CreateRequest) (pawapass.Verification, error) {
	if _, err := l.PawaPass.Create(ctx, r); err != nil {
		return pawapass.Verification{}, err
	}
	return pawapass.Verification{}, &upstream.OutcomeUnknownError{Vendor: "pawapass", Op: "create", Err: errors.New("connection reset after the request was sent")}
}

// A pawaPass create whose answer was lost is found by its externalId and
// our reference, never sent twice.
func TestPawaPassLostCreateFoundByExternalID(t *testing.T) {
	e := newEnv(t)
	other := e.create(pawaInput()) // same externalId, another verification
	e.use(lostPawaAnswers{e.pawaClient}, e.readerClient)
	v := e.create(pawaInput())
	wantState(t, v, models.VerificationUnknown)
	e.reconcile()
	got := e.get(v.ID)
	wantState(t, got, models.VerificationSubmitted)
	if got.UpstreamID == nil || *got.UpstreamID == *other.UpstreamID || got.Link == "" {
		t.Errorf("adopted the wrong verification: %+v", got)
	}
	if n := e.pawa.CreateCalls(); n != 2 {
		t.Errorf("%d creates, want 2 (one each)", n)
	}
}

func TestPassportReaderLifecycleByCallbacks(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "session_reference"
		var opts []envOption
		if legacy {
			name = "session_referenace"
			opts = append(opts, legacyReferenceKey())
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, opts...)
			v := e.create(readerInput())
			wantState(t, v, models.VerificationSubmitted)
			if !strings.Contains(v.Link, "/open?token=") || v.CustomerPhone != "+254712345678" {
				t.Fatalf("after create: %+v", v)
			}
			id := sessionID(t, v)
			for _, step := range []func(int64) error{e.reader.Initiate, e.reader.Complete, e.reader.Approve} {
				if err := step(id); err != nil {
					t.Fatal(err)
				}
			}
			e.settle()
			got := e.get(v.ID)
			wantState(t, got, models.VerificationApproved)
			if got.DocumentNumber == "" || got.Surname == "" || strings.Contains(got.LastUpstreamJSON, "iVBOR") {
				t.Errorf("recorded: %+v", got)
			}
			if n := e.count(&models.VerificationImage{}, "verification_id = ?", v.ID); n != 2 {
				t.Errorf("%d images stored, want portrait and face", n)
			}
			if e.hookCount(http.StatusNotFound) != 0 {
				t.Error("a genuine callback was refused")
			}
		})
	}
}

func TestPassportReaderImagesOffStoresNone(t *testing.T) {
	e := newEnv(t, imagesOff())
	v := e.create(readerInput())
	id := sessionID(t, v)
	for _, step := range []func(int64) error{e.reader.Initiate, e.reader.Complete, e.reader.Approve} {
		if err := step(id); err != nil {
			t.Fatal(err)
		}
	}
	e.settle()
	wantState(t, e.get(v.ID), models.VerificationApproved)
	if n := e.count(&models.VerificationImage{}, ""); n != 0 {
		t.Errorf("%d images stored with IDV_STORE_IMAGES off", n)
	}
}

func TestPassportReaderForgedCallbacks(t *testing.T) {
	e := newEnv(t)
	v := e.create(readerInput())
	ctx := context.Background()
	good := `{"session_id": ` + *v.UpstreamID + `, "session_state": "APPROVED", "session_reference": "` + v.Reference + `"}`
	cases := []struct {
		secret, body string
		want         error
	}{
		{"wrong-secret-0123456789abcdef", good, ErrUnknownSecret},
		{testCallbackSecret, `{"session_id": 1, "session_state": "APPROVED", "session_reference": "guessed"}`, ErrUnknownReference},
		{testCallbackSecret, `{"session_id": 1, "session_state": "APPROVED"}`, ErrUnknownReference},
		{testCallbackSecret, `not json`, ErrBadWebhook},
	}
	for _, c := range cases {
		if err := e.svc.ReceivePassportReader(ctx, c.secret, []byte(c.body), nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.body, err, c.want)
		}
	}
	if n := e.count(&models.WebhookInbox{}, ""); n != 0 {
		t.Errorf("%d forged callbacks stored", n)
	}
	// Even a genuine-looking callback changes nothing by itself: the state
	// comes from session.get, which still says CREATED.
	if err := e.svc.ReceivePassportReader(ctx, testCallbackSecret, []byte(good), nil); err != nil {
		t.Fatal(err)
	}
	e.settle()
	wantState(t, e.get(v.ID), models.VerificationSubmitted)
}

// lostReaderAnswers is PassportReader whose create answers are lost.
type lostReaderAnswers struct{ PassportReader }

func (l lostReaderAnswers) CreateSession(ctx context.Context, r passportreader.CreateSessionRequest) (passportreader.CreatedSession, error) {
	if _, err := l.PassportReader.CreateSession(ctx, r); err != nil {
		return passportreader.CreatedSession{}, err
	}
	return passportreader.CreatedSession{}, &upstream.OutcomeUnknownError{Vendor: "passportreader", Op: "session.create", Err: errors.New("timeout after sending")}
}

func TestPassportReaderLostCreateAdoptedByCallback(t *testing.T) {
	e := newEnv(t)
	e.use(e.pawaClient, lostReaderAnswers{e.readerClient})
	v := e.create(readerInput())
	wantState(t, v, models.VerificationUnknown)
	sessions := e.reader.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions", len(sessions))
	}
	if err := e.reader.Initiate(sessions[0].ID); err != nil {
		t.Fatal(err)
	}
	e.settle()
	got := e.get(v.ID)
	wantState(t, got, models.VerificationInProgress)
	if got.UpstreamID == nil || sessionID(t, got) != sessions[0].ID {
		t.Errorf("adopted %v", got.UpstreamID)
	}
}

func TestReviewRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cw := casework.New(e.db, e.clock.Now, 0)
	open := e.create(pawaInput())
	if _, err := cw.Decide(ctx, models.CaseVerification, compliance, open.ID, "approved", "", ""); !errors.Is(err, casework.ErrNotReviewable) {
		t.Errorf("review of an open verification: %v", err)
	}
	done := e.create(pawaInput())
	e.pawaApprove(*done.UpstreamID)
	e.settle()
	if q, _ := cw.Waiting(ctx, models.CaseVerification, casework.Everyone, 0, 10); len(q.Items) != 1 || q.Items[0].RecordID != done.ID {
		t.Fatalf("queue %+v", q.Items)
	}
	if _, err := cw.Decide(ctx, models.CaseVerification, compliance, done.ID, "flagged", "other", " "); err == nil {
		t.Error("flag for another reason without a note accepted")
	}
	if _, err := cw.Decide(ctx, models.CaseVerification, compliance, done.ID, "flagged", "data_mismatch", "name differs from the file"); err != nil {
		t.Fatal(err)
	}
	if _, err := cw.Decide(ctx, models.CaseVerification, compliance, done.ID, "approved", "", ""); !errors.Is(err, casework.ErrAlreadyDecided) {
		t.Errorf("second decision: %v", err)
	}
	if q, _ := cw.Waiting(ctx, models.CaseVerification, casework.Everyone, 0, 10); len(q.Items) != 0 {
		t.Errorf("reviewed verification still queued")
	}
	if n := e.count(&models.AuditEvent{}, "action = 'verification.reviewed'"); n != 1 {
		t.Errorf("%d review audit events", n)
	}
}

func TestRecoverLapsed(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	for _, st := range []models.VerificationState{models.VerificationQueued, models.VerificationSubmitting} {
		row := models.Verification{Provider: models.ProviderPawaPass, Reference: NewReference(), ExternalID: "x", State: st, CreatedAt: now, UpdatedAt: now}
		if err := e.db.Create(&row).Error; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.RecoverLapsed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.count(&models.Verification{}, "state = 'failed'"); n != 1 {
		t.Errorf("%d failed, want the queued one", n)
	}
	if n := e.count(&models.Verification{}, "state = 'unknown'"); n != 1 {
		t.Errorf("%d unknown, want the submitting one", n)
	}
	if n := e.pawa.CreateCalls(); n != 0 {
		t.Errorf("%d creates after a restart", n)
	}
}

func TestListSearch(t *testing.T) {
	e := newEnv(t)
	a := e.create(pawaInput())
	b := e.create(readerInput())
	ctx := context.Background()
	cases := []struct {
		f    Filter
		want []uint
	}{
		{Filter{}, []uint{b.ID, a.ID}},
		{Filter{Provider: "pawapass"}, []uint{a.ID}},
		{Filter{Q: "0971 234 567"}, nil}, // a Zambian national number without its country
		{Filter{Q: "+260971234567"}, []uint{a.ID}},
		{Filter{Q: "0712 345 678"}, []uint{b.ID}},
		{Filter{Q: "cust-00"}, []uint{a.ID}},
		{Filter{Q: *a.UpstreamID}, []uint{a.ID}},
		{Filter{Q: "#" + itoa(b.ID)}, []uint{b.ID}},
		{Filter{State: "submitted"}, []uint{b.ID, a.ID}},
	}
	for _, c := range cases {
		page, err := e.svc.List(ctx, c.f, "", "", 50)
		if err != nil {
			t.Fatalf("%+v: %v", c.f, err)
		}
		var got []uint
		for _, v := range page.Verifications {
			got = append(got, v.ID)
		}
		if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
			t.Errorf("%+v: got %v, want %v", c.f, got, c.want)
		}
	}
	for _, bad := range []Filter{{Provider: "x"}, {State: "nope"}, {Q: "ab"}, {Q: "#x"}, {From: "yesterday"}, {Status: "not a status!"}} {
		if _, err := e.svc.List(ctx, bad, "", "", 50); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	var sb strings.Builder
	if err := e.svc.ExportCSV(ctx, Filter{}, &sb); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(sb.String(), "\n"); lines != 3 {
		t.Errorf("export has %d lines, want header + 2", lines)
	}
}

func itoa(n uint) string { return strconv.FormatUint(uint64(n), 10) }
