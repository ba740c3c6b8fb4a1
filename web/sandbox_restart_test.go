package web_test

// The restart test of issue 16: the portal binary, in sandbox mode, is
// killed (SIGKILL) while one record per provider is mid-way, and started
// again on the same data folder. The simulators keep their records in
// sandbox.db, so every record must still reach its final state: due
// webhooks are delivered, refetches find the record, the reconcilers
// finish it, and no inbox row fails.

import (
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/internal/apptest"
	"portal/internal/proctest"
	"portal/models"
	"portal/services/sandbox/oneflowsim"
)

// srPace makes the simulated customers act within seconds, so that what
// was due when the first process died comes due in the second.
var srPace = []string{"SANDBOX_AUTO_SIGN=4s", "SANDBOX_AUTO_ADVANCE=2s", "SANDBOX_SETTLE_AFTER=4s"}

// srRunPortal starts the binary at addr: a restarted portal keeps its
// address, which the documents' webhook URLs and the pawaPass callback
// settings name.
func srRunPortal(t *testing.T, bin, addr string, db rcDatabase) *rcProc {
	t.Helper()
	p := proctest.Start(t, "portal", bin, addr, append(append(db.env(),
		"PORTAL_ADDR="+addr,
		"PORTAL_SANDBOX=on",
		"PORTAL_ADMIN_PASSWORD="+rcCrashAdminPassword,
		"PORTAL_LOG_LEVEL=info",
		"PORTAL_CLAIM_LEASE=2s",
	), srPace...))
	p.WaitReady(t, "/readyz", 15*time.Second)
	return &rcProc{Proc: p, base: "http://" + addr}
}

// srCreate posts a create form and returns the new record's id from the
// redirect to it.
func srCreate(t *testing.T, b rcBrowser, path string, form url.Values) uint {
	t.Helper()
	loc, _ := b.post(t, path, form, http.StatusSeeOther)
	id, err := strconv.ParseUint(strings.TrimPrefix(loc, path+"/"), 10, 32)
	if err != nil || !strings.HasPrefix(loc, path+"/") {
		t.Fatalf("POST %s redirected to %q, not to the new record", path, loc)
	}
	return uint(id)
}

func TestSandboxRecordsFinishAfterAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the portal binary")
	}
	t.Parallel()
	bin := filepath.Join(proctest.Build(t, "./cmd/portal"), "portal")
	db := rcNewDatabase(t)

	addr := proctest.FreeAddr(t)
	first := srRunPortal(t, bin, addr, db)
	phone := &apptest.Authenticator{}
	admin := rcSignIn(t, first, phone)

	docID := srCreate(t, admin, "/documents", url.Values{
		"kind": {"review"}, "title": {"Lease across a restart"}, "file_url": {"https://files.example.com/lease.pdf"},
		"signee_name": {"Ada Obi", "Kofi Mensah"}, "signee_type": {"person", "person"},
		"signee_email": {"ada@example.com", "kofi@example.com"}, "signee_nin": {docNIN1, docNIN2},
		"signee_representing": {"", ""}, "signee_title": {"", ""},
	})
	pawaID := srCreate(t, admin, "/verifications", pawaForm())
	readerID := srCreate(t, admin, "/verifications", url.Values{"provider": {"passportreader"}, "face_verification": {"true"}, "phone_no": {"+254712345678"}})

	form := admin.get(t, "/recharges/new?"+url.Values{"device_id": {oneflowsim.SeedDeviceID}, "phone_number": {oneflowsim.SeedPhone}}.Encode())
	key, ok := rcInput(form, "idempotency_key")
	if !ok || key == "" {
		t.Fatalf("no idempotency key in the form:\n%s", clip(form))
	}
	_, review := admin.post(t, "/recharges", url.Values{"device_id": {oneflowsim.SeedDeviceID}, "phone_number": {oneflowsim.SeedPhone}, "amount": {"100"}, "idempotency_key": {key}}, http.StatusOK)
	loc, _ := admin.post(t, "/recharges", rcHiddenInputs(t, review, "/recharges"), http.StatusSeeOther)
	rechargeID, err := strconv.ParseUint(strings.TrimPrefix(loc, "/recharges/"), 10, 32)
	if err != nil {
		t.Fatalf("the confirmed recharge redirected to %q", loc)
	}

	ro := rcOpenReadOnly(t, db)
	var doc models.Document
	var pawa, reader models.Verification
	var rc models.Recharge
	read := func() {
		t.Helper()
		for _, err := range []error{
			ro.Take(&doc, docID).Error, ro.Take(&pawa, pawaID).Error,
			ro.Take(&reader, readerID).Error, ro.Take(&rc, rechargeID).Error,
		} {
			if err != nil {
				t.Fatalf("read the records: %v", err)
			}
		}
	}
	read()
	if doc.State.Final() || pawa.State.Final() || reader.State.Final() || rc.State.Final() {
		t.Fatalf("a record is final before the kill: document %s, pawaPass %s, PassportReader %s, recharge %s", doc.State, pawa.State, reader.State, rc.State)
	}
	first.Kill()
	firstLogs := first.Logs()

	second := srRunPortal(t, bin, addr, db)
	deadline := time.Now().Add(60 * time.Second)
	for {
		read()
		if doc.State.Final() && pawa.State.Final() && reader.State.Final() && rc.State.Final() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("60 s after the restart: document %s, pawaPass %s, PassportReader %s, recharge %s\nsecond run:\n%s",
				doc.State, pawa.State, reader.State, rc.State, second.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if doc.State != models.DocumentCompleted || pawa.State != models.VerificationApproved ||
		reader.State != models.VerificationApproved || rc.State != models.RechargeCompleted {
		t.Errorf("final states: document %s, pawaPass %s, PassportReader %s, recharge %s; want completed, approved, approved, completed",
			doc.State, pawa.State, reader.State, rc.State)
	}

	// Every webhook that arrived was applied; none is failing or waiting.
	time.Sleep(2 * time.Second) // let the last webhooks' inbox rows be taken
	var inbox []models.WebhookInbox
	if err := ro.Order("id").Find(&inbox).Error; err != nil {
		t.Fatal(err)
	}
	if len(inbox) == 0 {
		t.Error("no webhook reached the inbox: the test proves nothing about them")
	}
	for _, row := range inbox {
		if row.ProcessedAt == nil || row.Error != "" {
			t.Errorf("inbox row %d (%s) processed %v, error %q, attempts %d", row.ID, row.Provider, row.ProcessedAt, row.Error, row.Attempts)
		}
	}
	for name, logs := range map[string]string{"first": firstLogs, "second": second.Logs()} {
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				t.Errorf("the %s run logged: %s", name, line)
			}
		}
	}
}
