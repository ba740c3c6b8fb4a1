package documents

import (
	"context"
	"errors"
	"strings"
	"testing"

	"portal/models"
	"portal/services"
)

// A person who learnt pasby's id for a lost request can adopt it, but only
// when pasby's document carries our reference.
func TestResolveUnknownWithUpstreamID(t *testing.T) {
	e := newEnv(t)
	e.useUpstream(lostAnswers{e.client})
	d := e.create(reviewInput())
	wantState(t, d, models.DocumentUnknown)
	e.useUpstream(e.client)
	e.dropHooks.Store(true)
	other := e.create(simpleInput(ninA))
	ctx := context.Background()
	docs := e.sim.Documents()
	var lostID string
	for _, doc := range docs {
		if doc.Reference == d.Reference {
			lostID = doc.ID
		}
	}
	if lostID == "" {
		t.Fatal("pasby never received the lost request")
	}

	cases := []struct {
		name, id, field string
	}{
		{"not an id", "hello", "upstream_id"},
		{"another document's id", *other.UpstreamID, "upstream_id"},
		{"unknown to pasby", "doc_00000000-0000-0000-0000-000000000000", "upstream_id"},
	}
	for _, c := range cases {
		_, err := e.svc.ResolveWithUpstreamID(ctx, operator, d.ID, c.id)
		fe, ok := services.AsFieldErrors(err)
		if !ok || fe[c.field] == "" {
			t.Errorf("%s: %v, want a message on %s", c.name, err, c.field)
		}
	}
	wantState(t, e.get(d.ID).Document, models.DocumentUnknown)

	got, err := e.svc.ResolveWithUpstreamID(ctx, operator, d.ID, "  "+lostID+" ")
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, got, models.DocumentSubmitted)
	if got.UpstreamID == nil || *got.UpstreamID != lostID || got.NextCheckAt == nil {
		t.Errorf("resolved: %+v", got)
	}
	if _, err := e.svc.ResolveWithUpstreamID(ctx, operator, d.ID, lostID); !errors.Is(err, ErrNotUnknown) {
		t.Errorf("second resolution: %v, want ErrNotUnknown", err)
	}
	if n := e.count(&models.AuditEvent{}, "action = 'document.resolved_upstream_id'"); n != 1 {
		t.Errorf("%d audit events", n)
	}
}

func TestMarkUnknownNotSent(t *testing.T) {
	e := newEnv(t)
	e.useUpstream(lostAnswers{e.client})
	d := e.create(reviewInput())
	wantState(t, d, models.DocumentUnknown)
	ctx := context.Background()
	if _, err := e.svc.MarkNotSent(ctx, operator, d.ID, "   "); err == nil {
		t.Fatal("an empty note was accepted")
	}
	got, err := e.svc.MarkNotSent(ctx, operator, d.ID, "pasby support found nothing")
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, got, models.DocumentFailed)
	if !strings.Contains(got.Error, "pasby support found nothing") {
		t.Errorf("error %q", got.Error)
	}
	if _, err := e.svc.MarkNotSent(ctx, operator, d.ID, "again"); !errors.Is(err, ErrNotUnknown) {
		t.Errorf("second: %v", err)
	}
	// An open document cannot be closed this way.
	e.useUpstream(e.client)
	open := e.create(simpleInput(ninB))
	if _, err := e.svc.MarkNotSent(ctx, operator, open.ID, "x"); !errors.Is(err, ErrNotUnknown) {
		t.Errorf("open document: %v", err)
	}
}
