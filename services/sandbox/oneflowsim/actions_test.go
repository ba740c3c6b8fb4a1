package oneflowsim_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/simtest"
)

func (e *env) run(action string, in map[string]string) (string, error) {
	e.t.Helper()
	return e.harness.Run(e.t.Context(), "oneflow", action, in)
}

func TestActionComplete(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	d := e.rechargeNow(tok, `{"deviceId":"68753500140920","amount":10}`)
	e.clock.Advance(5 * time.Second) // well before it would settle by itself

	msg, err := e.run("complete", map[string]string{"recharge_id": d.ID})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "completed") || !strings.Contains(msg, "20 litres") || !strings.HasSuffix(msg, ".") {
		t.Errorf("message %q", msg)
	}
	v := e.verify(tok, d.ID)
	if v.Status != "COMPLETED" || v.Litres != "20" || v.Balance != "150051.9" || v.CompletedAt != "2026-05-04T09:01:46.197617901Z" {
		t.Fatalf("verify %+v", v)
	}
	if bal := e.balanceOf(tok, oneflowsim.SeedDeviceID); bal != "150051.9" {
		t.Errorf("lookup balance %s", bal)
	}
	// Settled: neither action applies any more, and the clock passing
	// SettleAfter changes nothing.
	_, err = e.run("complete", map[string]string{"recharge_id": d.ID})
	simtest.WantValidation(t, err, "recharge_id", "already COMPLETED")
	_, err = e.run("fail", map[string]string{"recharge_id": d.ID})
	simtest.WantValidation(t, err, "recharge_id", "already COMPLETED")
	e.clock.Advance(time.Minute)
	if v2 := e.verify(tok, d.ID); v2 != v {
		t.Errorf("changed after SettleAfter: %+v", v2)
	}
}

func TestActionCompleteSuspended(t *testing.T) {
	// A person may complete a recharge that would fail by itself.
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	d := e.rechargeNow(tok, `{"deviceId":"`+oneflowsim.SeedSuspendedDeviceID+`","amount":1}`)
	if _, err := e.run("complete", map[string]string{"recharge_id": d.ID}); err != nil {
		t.Fatal(err)
	}
	if v := e.verify(tok, d.ID); v.Status != "COMPLETED" || v.Balance != "14" {
		t.Fatalf("%+v", v)
	}
}

func TestActionFail(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	a := e.rechargeNow(tok, `{"deviceId":"68753500140920","amount":10}`)
	b := e.rechargeNow(tok, `{"cardId":"`+oneflowsim.SeedCardID+`","amount":10}`)

	msg, err := e.run("fail", map[string]string{"recharge_id": a.ID, "reason": "insufficient float"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "failed: insufficient float") {
		t.Errorf("message %q", msg)
	}
	if v := e.verify(tok, a.ID); v.Status != "FAILED" || v.FailureReason != "insufficient float" {
		t.Errorf("%+v", v)
	}
	if _, err := e.run("fail", map[string]string{"recharge_id": b.ID}); err != nil {
		t.Fatal(err)
	}
	if v := e.verify(tok, b.ID); v.Status != "FAILED" || v.FailureReason == "" {
		t.Errorf("default reason: %+v", v)
	}
	// Balances untouched, even after SettleAfter.
	e.clock.Advance(time.Minute)
	if bal := e.balanceOf(tok, oneflowsim.SeedDeviceID); bal != "150031.9" {
		t.Errorf("device balance %s", bal)
	}
	if bal := e.balanceOf(tok, oneflowsim.SeedCardID); bal != "42.5" {
		t.Errorf("card balance %s", bal)
	}
	_, err = e.run("complete", map[string]string{"recharge_id": a.ID})
	simtest.WantValidation(t, err, "recharge_id", "already FAILED")
}

func TestActionErrors(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	for _, action := range []string{"complete", "fail"} {
		_, err := e.run(action, map[string]string{})
		simtest.WantValidation(t, err, "recharge_id", "required")
		_, err = e.run(action, map[string]string{"recharge_id": "98466062-2548-4dca-9ef9-f1b4b09c92dc"})
		simtest.WantValidation(t, err, "recharge_id", "no recharge with that id")
	}
	// One that settled by itself is no longer pending.
	d := e.rechargeNow(tok, `{"deviceId":"68753500140920","amount":10}`)
	e.clock.Advance(oneflowsim.DefaultSettleAfter)
	_, err := e.run("fail", map[string]string{"recharge_id": d.ID})
	simtest.WantValidation(t, err, "recharge_id", "already COMPLETED")
}

func TestActionAddCustomer(t *testing.T) {
	e := setup(t, oneflowsim.Options{SettleAfter: time.Second})
	msg, err := e.run("add_customer", map[string]string{
		"name": "Akua Owusu", "phone_number": "+233241112233", "device_id": "99990000111122",
		"card_id": "2330099887", "balance": "250.5",
	})
	if err != nil {
		t.Fatal(err)
	}
	if msg != "Added Akua Owusu (+233241112233) with device 99990000111122 and card 2330099887." {
		t.Errorf("message %q", msg)
	}
	tok := e.token()
	l := e.lookup(tok, `{"phoneNumber":"+233241112233"}`)
	if l.Customer.Name != "Akua Owusu" || len(l.Devices) != 2 ||
		l.Devices[0].SerialNumber != "99990000111122" || l.Devices[0].DeviceType != "DEVICE" || l.Devices[0].Balance != "250.5" ||
		l.Devices[1].SerialNumber != "2330099887" || l.Devices[1].DeviceType != "CARD" || l.Devices[1].Balance != "0" {
		t.Fatalf("lookup %+v", l)
	}
	// Ghanaian, so GHS at 5 per litre.
	d := e.rechargeNow(tok, `{"cardId":"2330099887","amount":25}`)
	e.clock.Advance(time.Second)
	if v := e.verify(tok, d.ID); v.Currency != "GHS" || v.Litres != "5" || v.Balance != "5" {
		t.Errorf("verify %+v", v)
	}

	// Optional fields may be left out.
	msg, err = e.run("add_customer", map[string]string{"name": "Mwangi Njoroge", "phone_number": "+254711000111", "device_id": "99990000111133"})
	if err != nil || msg != "Added Mwangi Njoroge (+254711000111) with device 99990000111133." {
		t.Fatalf("%q, %v", msg, err)
	}
	if bal := e.balanceOf(tok, "99990000111133"); bal != "0" {
		t.Errorf("default balance %s", bal)
	}
}

func TestActionAddCustomerValidation(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	ok := map[string]string{"name": "Ama Serwaa", "phone_number": "+233244000111", "device_id": "99990000222211", "card_id": "", "balance": ""}
	with := func(k, v string) map[string]string {
		m := make(map[string]string, len(ok))
		for kk, vv := range ok {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name  string
		in    map[string]string
		field string
		msg   string
	}{
		{"name missing", with("name", ""), "name", "required"},
		{"name too long", with("name", strings.Repeat("a", 101)), "name", "too long"},
		{"name control char", with("name", "Ama\x00Serwaa"), "name", "not allowed"},
		{"phone missing", with("phone_number", ""), "phone_number", "required"},
		{"phone local format", with("phone_number", "0244000111"), "phone_number", "E.164"},
		{"phone with spaces", with("phone_number", "+233 24 400 0111"), "phone_number", "E.164"},
		{"phone other country", with("phone_number", "+14155550100"), "phone_number", "Kenyan (+254) and Ghanaian (+233)"},
		{"phone too short", with("phone_number", "+2332440001"), "phone_number", "not a valid mobile number"},
		{"phone taken", with("phone_number", oneflowsim.SeedPhone), "phone_number", "already exists"},
		{"device missing", with("device_id", ""), "device_id", "required"},
		{"device 13 digits", with("device_id", "9999000022221"), "device_id", "14 digits"},
		{"device letters", with("device_id", "9999000022221A"), "device_id", "14 digits"},
		{"device taken", with("device_id", oneflowsim.SeedDeviceID), "device_id", "already belongs"},
		{"card wrong length", with("card_id", "12345"), "card_id", "10 digits"},
		{"card taken", with("card_id", oneflowsim.SeedCardID), "card_id", "already belongs"},
		{"balance negative", with("balance", "-1"), "balance", "litres"},
		{"balance 3 decimals", with("balance", "1.005"), "balance", "litres"},
		{"balance words", with("balance", "lots"), "balance", "litres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.run("add_customer", tc.in)
			simtest.WantValidation(t, err, tc.field, tc.msg)
		})
	}
	// Nothing was added by the refused attempts.
	tok := e.token()
	st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tok), `{"phoneNumber":"+233244000111"}`)
	wantError(t, st, b, http.StatusNotFound, "customer not found")
	st, b = e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tok), `{"deviceId":"99990000222211"}`)
	wantError(t, st, b, http.StatusNotFound, "device not found")
}

func TestAddCustomerMethod(t *testing.T) {
	sim := oneflowsim.New(oneflowsim.Options{Seed: []oneflowsim.Customer{}})
	err := sim.AddCustomer(oneflowsim.Customer{Name: "No Devices", PhoneNumber: "+254711222333"})
	simtest.WantValidation(t, err, "device_id", "at least one device")
	err = sim.AddCustomer(oneflowsim.Customer{Name: "Twice", PhoneNumber: "+254711222333", Devices: []oneflowsim.Device{
		{ID: "12345678901234", Type: oneflowsim.DeviceTypeDevice},
		{ID: "12345678901234", Type: oneflowsim.DeviceTypeDevice},
	}})
	simtest.WantValidation(t, err, "device_id", "listed twice")
	err = sim.AddCustomer(oneflowsim.Customer{Name: "Odd Type", PhoneNumber: "+254711222333", Devices: []oneflowsim.Device{
		{ID: "12345678901234", Type: "METER"},
	}})
	simtest.WantValidation(t, err, "device_id", "Unknown device type")
	if err := sim.AddCustomer(oneflowsim.DefaultSeed()[0]); err != nil {
		t.Fatal(err)
	}
	if bal, ok, err := sim.Balance(oneflowsim.SeedDeviceID); err != nil || !ok || bal.String() != "150031.9" {
		t.Fatalf("Balance %s %v", bal, ok)
	}
	// DefaultSeed returns a fresh copy each time.
	s1 := oneflowsim.DefaultSeed()
	s1[0].Devices[0].ID = "changed"
	if oneflowsim.DefaultSeed()[0].Devices[0].ID != oneflowsim.SeedDeviceID {
		t.Fatal("DefaultSeed shares its slices")
	}
}
