package customers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"portal/internal/dbtest"
	"portal/models"
	"portal/services"
	"portal/services/oneflow"
	"portal/services/upstream"
)

// fakeOneFlow answers lookups with customer or err and remembers what it
// was asked.
type fakeOneFlow struct {
	customer oneflow.Customer
	err      error
	asked    []oneflow.LookupQuery
}

func (f *fakeOneFlow) Lookup(_ context.Context, q oneflow.LookupQuery) (oneflow.Customer, error) {
	f.asked = append(f.asked, q)
	return f.customer, f.err
}

func lookupDB(t *testing.T) *gorm.DB {
	t.Helper()
	db := dbtest.Open(t)
	return db
}

func TestLookupReadsThePhoneOrDeviceAndAudits(t *testing.T) {
	db := lookupDB(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	up := &fakeOneFlow{customer: oneflow.Customer{Name: "Amina", PhoneNumber: "+254712345678",
		Devices: []oneflow.Device{{SerialNumber: "68753500140920", DeviceType: "DEVICE", Balance: decimal.NewFromInt(40)}}}}
	s := New(db, up, func() time.Time { return now })
	for i, r := range []models.Recharge{
		{DeviceID: "68753500140920"},
		{CardID: "card-1", CustomerPhone: "+254712345678"},
		{DeviceID: "someone-else", CustomerPhone: "+254700000000"},
	} {
		r.IdempotencyKey, r.Amount, r.State, r.CreatedAt, r.UpdatedAt = fmt.Sprintf("key-%016d", i), decimal.NewFromInt(100), models.RechargeCompleted, now, now
		if err := db.Create(&r).Error; err != nil {
			t.Fatal(err)
		}
	}
	actor := services.Actor{ID: 7, Email: "support@example.com"}

	res, err := s.Lookup(context.Background(), actor, " 0712 345 678 ")
	if err != nil {
		t.Fatal(err)
	}
	if res.Query != "+254712345678" || !res.ByPhone || up.asked[0] != (oneflow.LookupQuery{PhoneNumber: "+254712345678"}) {
		t.Errorf("phone read as %q (by phone %v), asked %+v", res.Query, res.ByPhone, up.asked)
	}
	if len(res.Recent) != 2 || res.Recent[0].CardID != "card-1" || res.Recent[1].DeviceID != "68753500140920" {
		t.Errorf("recent recharges %+v, want the card's and the device's, newest first", res.Recent)
	}

	res, err = s.LookupCustomer(context.Background(), actor, "68753500140920")
	if err != nil {
		t.Fatal(err)
	}
	if res.ByPhone || up.asked[1] != (oneflow.LookupQuery{DeviceID: "68753500140920"}) || res.Recent != nil {
		t.Errorf("device lookup: %+v, asked %+v", res, up.asked[1])
	}

	var audit []models.AuditEvent
	if err := db.Where("action = ?", "customer.lookup").Order("id").Find(&audit).Error; err != nil {
		t.Fatal(err)
	}
	if len(audit) != 2 || audit[0].Subject != "+254712345678" || audit[1].Subject != "68753500140920" ||
		audit[0].ActorEmail != actor.Email || audit[0].Details != "found=+254712345678" {
		t.Errorf("audit %+v", audit)
	}

	// Text that is neither is a field error, and 1flow is not asked.
	_, err = s.Lookup(context.Background(), actor, "<script>")
	if fe, ok := services.AsFieldErrors(err); !ok || fe["q"] == "" {
		t.Errorf("bad text: %v", err)
	}
	if len(up.asked) != 2 {
		t.Errorf("bad text reached 1flow: %+v", up.asked)
	}
}

// oneflowErr builds errors the way the 1flow client does.
const oneflowErr upstream.Vendor = "1flow"

func TestLookupErrorsInPlainWords(t *testing.T) {
	for _, c := range []struct {
		err      error
		want     string
		notFound bool
	}{
		{oneflowErr.NotFound("customer"), "does not know", true},
		{oneflowErr.Unavailable("HTTP 503", nil), "1flow is not answering properly", false},
		{context.DeadlineExceeded, "1flow is not answering properly", false},
		{oneflowErr.BadCredentials("token refused"), "credentials", false},
		{oneflowErr.Rejected(400, "", "bad phone"), "1flow refused the lookup: bad phone", false},
		{errors.New("dial tcp: refused"), "could not be reached", false},
	} {
		s := New(lookupDB(t), &fakeOneFlow{err: c.err}, time.Now)
		_, err := s.LookupCustomer(context.Background(), services.System, "+254712345678")
		var ue *UpstreamError
		if !errors.As(err, &ue) {
			t.Fatalf("%v: got %v, want an *UpstreamError", c.err, err)
		}
		if !strings.Contains(ue.Message, c.want) || ue.NotFound() != c.notFound || !errors.Is(err, c.err) {
			t.Errorf("%v: %q (not found %v), want %q (not found %v)", c.err, ue.Message, ue.NotFound(), c.want, c.notFound)
		}
	}
}
