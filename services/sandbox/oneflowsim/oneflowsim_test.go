package oneflowsim_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/simtest"
)

func TestSimulatorRegistration(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	simtest.CheckRegistration(t, e.harness, e.sim, "oneflow", "1flow water credit", []string{
		"POST /v1/access/partners/token",
		"POST /v1/access/partners/lookup",
		"POST /v1/access/partners/recharge",
		"GET /v1/access/partners/recharge/{id}",
	}, []string{"complete", "fail", "add_customer"})
}

// --- token ---

func TestTokenOK(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	req, _ := http.NewRequest(http.MethodPost, e.base+oneflowsim.PathToken, strings.NewReader("{}"))
	req.SetBasicAuth("sandbox-client-id", "sandbox-client-secret")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var tr map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		t.Fatal(err)
	}
	if tr["token_type"] != "Bearer" || tr["expires_in"] != float64(3600) {
		t.Fatalf("token answer %v", tr)
	}
	tok, _ := tr["access_token"].(string)
	if len(tok) < 20 {
		t.Fatalf("access_token %q too short to be unguessable", tok)
	}
	if tok2 := e.token(); tok2 == tok {
		t.Fatal("two token requests got the same token")
	}
	// The token works.
	e.lookup(tok, `{"phoneNumber":"`+oneflowsim.SeedPhone+`"}`)
}

func TestTokenCustomCredentials(t *testing.T) {
	e := setup(t, oneflowsim.Options{ClientID: "partner-7", ClientSecret: "s3cret"})
	for _, tc := range []struct {
		id, secret string
		want       int
	}{
		{"partner-7", "s3cret", http.StatusOK},
		{oneflowsim.DefaultClientID, oneflowsim.DefaultClientSecret, http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest(http.MethodPost, e.base+oneflowsim.PathToken, nil)
		req.SetBasicAuth(tc.id, tc.secret)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s:%s: status %d, want %d", tc.id, tc.secret, resp.StatusCode, tc.want)
		}
	}
}

func TestTokenBadCredentials(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	for _, tc := range []struct {
		name, auth, msg string
	}{
		{"missing", "", "missing client credentials"},
		{"wrong secret", basic(oneflowsim.DefaultClientID, "nope"), "invalid client credentials"},
		{"wrong id", basic("someone", oneflowsim.DefaultClientSecret), "invalid client credentials"},
		{"empty", basic("", ""), "invalid client credentials"},
		{"bearer instead of basic", "Bearer abc", "missing client credentials"},
		{"not base64", "Basic %%%", "missing client credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.do(http.MethodPost, oneflowsim.PathToken, tc.auth, "")
			wantError(t, st, b, http.StatusUnauthorized, tc.msg)
			if strings.Contains(string(b), "access_token") {
				t.Fatalf("a refused token request leaked a token: %s", b)
			}
		})
	}
}

func basic(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}

func TestTokenExpiry(t *testing.T) {
	e := setup(t, oneflowsim.Options{TokenTTL: time.Minute})
	req, _ := http.NewRequest(http.MethodPost, e.base+oneflowsim.PathToken, nil)
	req.SetBasicAuth(oneflowsim.DefaultClientID, oneflowsim.DefaultClientSecret)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if tr.ExpiresIn != 60 {
		t.Fatalf("expires_in %d, want 60", tr.ExpiresIn)
	}
	lookup := `{"deviceId":"` + oneflowsim.SeedDeviceID + `"}`

	e.clock.Advance(59 * time.Second)
	if st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tr.AccessToken), lookup); st != http.StatusOK {
		t.Fatalf("at 59s: %d %s", st, b)
	}
	e.clock.Advance(time.Second)
	st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tr.AccessToken), lookup)
	wantError(t, st, b, http.StatusUnauthorized, "expired")
	// Still refused afterwards, and a new token works.
	st, b = e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tr.AccessToken), lookup)
	wantError(t, st, b, http.StatusUnauthorized, "")
	e.lookup(e.token(), lookup)
}

func TestTokenSubSecondTTL(t *testing.T) {
	e := setup(t, oneflowsim.Options{TokenTTL: 300 * time.Millisecond})
	req, _ := http.NewRequest(http.MethodPost, e.base+oneflowsim.PathToken, nil)
	req.SetBasicAuth(oneflowsim.DefaultClientID, oneflowsim.DefaultClientSecret)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		ExpiresIn json.Number `json:"expires_in"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	if tr.ExpiresIn != "1" {
		t.Fatalf("expires_in %q, want 1 (rounded up, never 0)", tr.ExpiresIn)
	}
}

func TestBearerRequired(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	endpoints := []struct{ method, path, body string }{
		{http.MethodPost, oneflowsim.PathLookup, `{"phoneNumber":"` + oneflowsim.SeedPhone + `"}`},
		{http.MethodPost, oneflowsim.PathRecharge, `{"deviceId":"` + oneflowsim.SeedDeviceID + `","amount":10}`},
		{http.MethodGet, oneflowsim.PathRecharge + "/98466062-2548-4dca-9ef9-f1b4b09c92dc", ""},
	}
	auths := []struct{ name, auth, msg string }{
		{"missing", "", "missing access token"},
		{"unknown token", "Bearer not-a-token", "invalid access token"},
		{"basic scheme", basic(oneflowsim.DefaultClientID, oneflowsim.DefaultClientSecret), "Bearer"},
		{"empty bearer", "Bearer ", "Bearer"},
		{"token without scheme", tok, "Bearer"},
	}
	for _, ep := range endpoints {
		for _, a := range auths {
			t.Run(ep.method+" "+ep.path+"/"+a.name, func(t *testing.T) {
				st, b := e.do(ep.method, ep.path, a.auth, ep.body)
				wantError(t, st, b, http.StatusUnauthorized, a.msg)
			})
		}
	}
	if n := e.sim.RechargeCalls(); n != 0 {
		t.Fatalf("RechargeCalls %d after only refused requests", n)
	}
	// The scheme is case-insensitive.
	e.lookup(tok, `{"phoneNumber":"`+oneflowsim.SeedPhone+`"}`)
	if st, b := e.do(http.MethodPost, oneflowsim.PathLookup, "bearer "+tok, `{"phoneNumber":"`+oneflowsim.SeedPhone+`"}`); st != http.StatusOK {
		t.Fatalf("lower-case bearer: %d %s", st, b)
	}
}

// --- lookup ---

func TestLookupByPhone(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	l := e.lookup(e.token(), `{"phoneNumber":"+254712345678"}`)
	if l.Customer.Name != oneflowsim.SeedCustomerName || l.Customer.PhoneNumber != oneflowsim.SeedPhone {
		t.Fatalf("customer %+v", l.Customer)
	}
	if len(l.Devices) != 2 {
		t.Fatalf("devices %+v", l.Devices)
	}
	d, c := l.Devices[0], l.Devices[1]
	if d.SerialNumber != oneflowsim.SeedDeviceID || d.DeviceType != "DEVICE" || d.Balance != "150031.9" {
		t.Errorf("device %+v", d)
	}
	if c.SerialNumber != oneflowsim.SeedCardID || c.DeviceType != "CARD" || c.Balance != "42.5" {
		t.Errorf("card %+v", c)
	}
}

func TestLookupByDeviceAndCard(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	for _, id := range []string{oneflowsim.SeedDeviceID, oneflowsim.SeedCardID} {
		l := e.lookup(tok, `{"deviceId":"`+id+`"}`)
		if l.Customer.PhoneNumber != oneflowsim.SeedPhone || len(l.Devices) != 2 {
			t.Errorf("lookup %s: %+v", id, l)
		}
	}
	g := e.lookup(tok, `{"deviceId":"`+oneflowsim.SeedGhanaDeviceID+`"}`)
	if g.Customer.PhoneNumber != oneflowsim.SeedGhanaPhone || g.Customer.Name != "Kwame Mensah" {
		t.Errorf("Ghana lookup %+v", g)
	}
	// A null or empty other field counts as absent.
	e.lookup(tok, `{"deviceId":"`+oneflowsim.SeedDeviceID+`","phoneNumber":null}`)
	e.lookup(tok, `{"deviceId":"`+oneflowsim.SeedDeviceID+`","phoneNumber":""}`)
}

func TestLookupSeed(t *testing.T) {
	// Every seeded customer can be found by phone and by each of their ids,
	// phones are Kenyan or Ghanaian E.164, serials 14 digits, cards 10.
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	seed := oneflowsim.DefaultSeed()
	if len(seed) < 6 {
		t.Fatalf("only %d seeded customers", len(seed))
	}
	suspended := 0
	for _, c := range seed {
		if !strings.HasPrefix(c.PhoneNumber, "+254") && !strings.HasPrefix(c.PhoneNumber, "+233") {
			t.Errorf("%s: phone %s", c.Name, c.PhoneNumber)
		}
		l := e.lookup(tok, `{"phoneNumber":"`+c.PhoneNumber+`"}`)
		if l.Customer.Name != c.Name || len(l.Devices) != len(c.Devices) || len(c.Devices) < 1 || len(c.Devices) > 3 {
			t.Errorf("%s: %+v", c.Name, l)
		}
		for i, d := range c.Devices {
			want := map[string]int{"DEVICE": 14, "CARD": 10}[d.Type]
			if len(d.ID) != want || l.Devices[i].SerialNumber != d.ID || l.Devices[i].DeviceType != d.Type {
				t.Errorf("%s: device %+v listed as %+v", c.Name, d, l.Devices[i])
			}
			if d.Suspended {
				suspended++
			}
		}
	}
	if suspended == 0 {
		t.Error("no suspended device in the seed")
	}
}

func TestLookupErrors(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	for _, tc := range []struct {
		name, body string
		status     int
		msg        string
	}{
		{"neither", `{}`, 400, "phoneNumber or deviceId"},
		{"only other fields", `{"cardId":"3081726354"}`, 400, "phoneNumber or deviceId"},
		{"both", `{"phoneNumber":"+254712345678","deviceId":"68753500140920"}`, 400, "not both"},
		{"phone not E.164 (local)", `{"phoneNumber":"0712345678"}`, 400, "E.164"},
		{"phone not E.164 (no plus)", `{"phoneNumber":"254712345678"}`, 400, "E.164"},
		{"phone with spaces", `{"phoneNumber":"+254 712 345 678"}`, 400, "E.164"},
		{"phone a number", `{"phoneNumber":254712345678}`, 400, "phoneNumber must be a string"},
		{"deviceId a number", `{"deviceId":68753500140920}`, 400, "deviceId must be a string"},
		{"empty body", ``, 400, "empty"},
		{"not json", `phoneNumber=+254712345678`, 400, "not valid JSON"},
		{"array", `[{"phoneNumber":"+254712345678"}]`, 400, "JSON object"},
		{"null", `null`, 400, "JSON object"},
		{"trailing data", `{"phoneNumber":"+254712345678"} {}`, 400, "nothing after it"},
		{"truncated", `{"phoneNumber":"+2547`, 400, "not valid JSON"},
		{"unknown phone", `{"phoneNumber":"+254799999999"}`, 404, "customer not found"},
		{"unknown device", `{"deviceId":"00000000000000"}`, 404, "device not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tok), tc.body)
			wantError(t, st, b, tc.status, tc.msg)
		})
	}
	// A body over 64 KiB is refused with 413.
	big := `{"phoneNumber":"` + strings.Repeat("1", 70<<10) + `"}`
	st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tok), big)
	wantError(t, st, b, http.StatusRequestEntityTooLarge, "64 KiB")
}

// --- recharge ---

func TestRechargeAccepted(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	st, b := e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), `{"deviceId":"68753500140920","amount":100.5}`)
	if st != http.StatusAccepted {
		t.Fatalf("status %d: %s", st, b)
	}
	env := decodeEnvelope(t, b)
	if env.Timestamp != start.UnixMilli() {
		t.Errorf("timestamp %d, want %d (unix ms of the clock)", env.Timestamp, start.UnixMilli())
	}
	if !strings.Contains(string(env.Data), `"amount":100.5,`) {
		t.Errorf("amount is not the JSON number 100.5: %s", env.Data)
	}
	d := decodeData[rechargeData](t, b)
	if len(d.ID) != 36 || d.ID[14] != '4' {
		t.Errorf("id %q is not a v4 UUID", d.ID)
	}
	if d.SerialNumber != oneflowsim.SeedDeviceID || d.DeviceType != "DEVICE" || d.Status != "PENDING" || d.Amount != "100.5" {
		t.Errorf("data %+v", d)
	}
	if d.CreatedAt != "2026-05-04T09:01:41.197617901Z" {
		t.Errorf("createdAt %q", d.CreatedAt)
	}
	if d.Customer != (customerData{oneflowsim.SeedCustomerName, oneflowsim.SeedPhone}) {
		t.Errorf("customer %+v", d.Customer)
	}
	if d.Currency != "" || d.Litres != "" || d.Balance != "" || d.CompletedAt != "" {
		t.Errorf("a PENDING recharge carries settlement fields: %s", env.Data)
	}
	if n := e.sim.RechargeCalls(); n != 1 {
		t.Errorf("RechargeCalls %d, want 1", n)
	}
	if st, ok, err := e.sim.Recharge(d.ID); err != nil || !ok || st != "PENDING" {
		t.Errorf("Recharge(id) = %q, %v", st, ok)
	}
	if _, ok, err := e.sim.Recharge("nope"); err != nil || ok {
		t.Error("Recharge(unknown) ok")
	}
	// Verify answers the same recharge, still PENDING.
	v := e.verify(tok, d.ID)
	if v.ID != d.ID || v.Status != "PENDING" || v.Amount != "100.5" || v.CreatedAt != d.CreatedAt {
		t.Errorf("verify %+v", v)
	}
	// The balance is unchanged while PENDING.
	if bal := e.balanceOf(tok, oneflowsim.SeedDeviceID); bal != "150031.9" {
		t.Errorf("balance %s while PENDING", bal)
	}
}

func TestRechargeAmountForms(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	for _, tc := range []struct{ in, out string }{
		{"100.0", "100"},
		{"100", "100"},
		{"0.01", "0.01"},
		{"12.50", "12.5"},
		{"1e2", "100"},
		{"1000000", "1000000"},
	} {
		d := e.rechargeNow(tok, `{"deviceId":"68753500140920","amount":`+tc.in+`}`)
		if d.Amount.String() != tc.out {
			t.Errorf("amount %s answered as %s, want %s", tc.in, d.Amount, tc.out)
		}
	}
}

func TestRechargeValidation(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	dev := `"deviceId":"68753500140920"`
	for _, tc := range []struct {
		name, body, msg string
	}{
		{"amount missing", `{` + dev + `}`, "amount is required"},
		{"amount null", `{` + dev + `,"amount":null}`, "amount is required"},
		{"amount string", `{` + dev + `,"amount":"100"}`, "JSON number"},
		{"amount bool", `{` + dev + `,"amount":true}`, "JSON number"},
		{"amount object", `{` + dev + `,"amount":{"value":1}}`, "JSON number"},
		{"amount zero", `{` + dev + `,"amount":0}`, "greater than 0"},
		{"amount negative", `{` + dev + `,"amount":-5}`, "greater than 0"},
		{"amount negative zero", `{` + dev + `,"amount":-0.0}`, "greater than 0"},
		{"amount 3 decimals", `{` + dev + `,"amount":10.005}`, "2 decimal"},
		{"amount tiny", `{` + dev + `,"amount":0.001}`, "2 decimal"},
		{"amount too large", `{` + dev + `,"amount":1000000.01}`, "at most"},
		{"amount huge exponent", `{` + dev + `,"amount":1e999999999}`, "out of range"},
		{"amount tiny exponent", `{` + dev + `,"amount":1e-999999999}`, "out of range"},
		{"amount long", `{` + dev + `,"amount":1` + strings.Repeat("0", 60) + `}`, "out of range"},
		{"neither id", `{"amount":10}`, "deviceId or cardId"},
		{"both ids", `{` + dev + `,"cardId":"3081726354","amount":10}`, "not both"},
		{"deviceId number", `{"deviceId":68753500140920,"amount":10}`, "deviceId must be a string"},
		{"cardId number", `{"cardId":3081726354,"amount":10}`, "cardId must be a string"},
		{"empty body", ``, "empty"},
		{"array", `[]`, "JSON object"},
		{"not json", `deviceId=1&amount=2`, "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), tc.body)
			wantError(t, st, b, http.StatusBadRequest, tc.msg)
		})
	}
	if n := e.sim.RechargeCalls(); n != 0 {
		t.Fatalf("RechargeCalls %d after only refused requests", n)
	}
}

func TestRechargeNotFound(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	for _, tc := range []struct{ name, body, msg string }{
		{"unknown device", `{"deviceId":"00000000000000","amount":10}`, "device not found"},
		{"unknown card", `{"cardId":"0000000000","amount":10}`, "card not found"},
		{"card sent as deviceId", `{"deviceId":"` + oneflowsim.SeedCardID + `","amount":10}`, "send it as cardId"},
		{"device sent as cardId", `{"cardId":"` + oneflowsim.SeedDeviceID + `","amount":10}`, "send it as deviceId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, b := e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), tc.body)
			wantError(t, st, b, http.StatusNotFound, tc.msg)
		})
	}
	for _, id := range []string{"98466062-2548-4dca-9ef9-f1b4b09c92dc", "x", "%20"} {
		st, b := e.do(http.MethodGet, oneflowsim.PathRecharge+"/"+id, bearer(tok), "")
		wantError(t, st, b, http.StatusNotFound, "recharge not found")
	}
	if n := e.sim.RechargeCalls(); n != 0 {
		t.Fatalf("RechargeCalls %d", n)
	}
}

func TestRechargeSettlesAfterDelay(t *testing.T) {
	e := setup(t, oneflowsim.Options{}) // default SettleAfter: 20 s
	tok := e.token()
	d := e.rechargeNow(tok, `{"deviceId":"68753500140920","amount":100.5}`)

	e.clock.Advance(19*time.Second + 999*time.Millisecond)
	if v := e.verify(tok, d.ID); v.Status != "PENDING" {
		t.Fatalf("settled early: %+v", v)
	}
	e.clock.Advance(time.Millisecond)
	v := e.verify(tok, d.ID)
	// Kenya: KES at 0.5 per litre, so 100.5 buys 201 litres.
	want := rechargeData{
		ID: d.ID, SerialNumber: oneflowsim.SeedDeviceID, DeviceType: "DEVICE", Status: "COMPLETED",
		Amount: "100.5", Currency: "KES", Litres: "201", PricePerLitre: "0.5", Balance: "150232.9",
		CreatedAt: d.CreatedAt, CompletedAt: "2026-05-04T09:02:01.197617901Z",
		Customer: customerData{oneflowsim.SeedCustomerName, oneflowsim.SeedPhone},
	}
	if v != want {
		t.Fatalf("verify\n got %+v\nwant %+v", v, want)
	}
	if st, _, err := e.sim.Recharge(d.ID); err != nil || st != "COMPLETED" {
		t.Errorf("Recharge(id) = %q", st)
	}
	// Lookup shows the same balance; reading again changes nothing.
	if bal := e.balanceOf(tok, oneflowsim.SeedDeviceID); bal != "150232.9" {
		t.Errorf("lookup balance %s", bal)
	}
	e.clock.Advance(time.Hour)
	tok = e.token() // the first one has expired
	if v2 := e.verify(tok, d.ID); v2 != want {
		t.Errorf("a settled recharge changed: %+v", v2)
	}
	if bal, _, err := e.sim.Balance(oneflowsim.SeedDeviceID); err != nil || bal.String() != "150232.9" {
		t.Errorf("Balance() %s", bal)
	}
}

func TestRechargeGhana(t *testing.T) {
	// The document's verify example: 100.5 GHS at 5 per litre is 20.1 litres.
	e := setup(t, oneflowsim.Options{SettleAfter: time.Second})
	tok := e.token()
	d := e.rechargeNow(tok, `{"deviceId":"`+oneflowsim.SeedGhanaDeviceID+`","amount":100.5}`)
	e.clock.Advance(time.Second)
	st, b := e.do(http.MethodGet, oneflowsim.PathRecharge+"/"+d.ID, bearer(tok), "")
	if st != http.StatusOK {
		t.Fatalf("%d %s", st, b)
	}
	for _, frag := range []string{`"currency":"GHS"`, `"litres":20.1,`, `"pricePerLitre":5,`, `"balance":108.5,`, `"amount":100.5,`} {
		if !strings.Contains(string(b), frag) {
			t.Errorf("answer lacks %s: %s", frag, b)
		}
	}
	if bal := e.balanceOf(tok, oneflowsim.SeedGhanaDeviceID); bal != "108.5" {
		t.Errorf("lookup balance %s", bal)
	}
}

func TestLitresRounding(t *testing.T) {
	// 10.01 KES / 0.5 = 20.02 exactly; 0.03 GHS / 5 = 0.006 -> 0.01.
	e := setup(t, oneflowsim.Options{SettleAfter: time.Second})
	tok := e.token()
	a := e.rechargeNow(tok, `{"deviceId":"68753500140937","amount":10.01}`)
	g := e.rechargeNow(tok, `{"deviceId":"23310400215537","amount":0.03}`)
	e.clock.Advance(time.Second)
	if v := e.verify(tok, a.ID); v.Litres != "20.02" || v.Balance != "338.27" {
		t.Errorf("KES: %+v", v)
	}
	if v := e.verify(tok, g.ID); v.Litres != "0.01" || v.Balance != "64.01" {
		t.Errorf("GHS: %+v", v)
	}
}

func TestCardRecharge(t *testing.T) {
	e := setup(t, oneflowsim.Options{SettleAfter: time.Second})
	tok := e.token()
	d := e.rechargeNow(tok, `{"cardId":"`+oneflowsim.SeedCardID+`","amount":5}`)
	if d.SerialNumber != oneflowsim.SeedCardID || d.DeviceType != "CARD" || d.Status != "PENDING" {
		t.Fatalf("card recharge %+v", d)
	}
	// Settling is lazy: a lookup alone, without any verify, sees the new
	// balance once the recharge is due.
	e.clock.Advance(time.Second)
	if bal := e.balanceOf(tok, oneflowsim.SeedCardID); bal != "52.5" {
		t.Errorf("card balance %s, want 52.5", bal)
	}
	if v := e.verify(tok, d.ID); v.Status != "COMPLETED" || v.Balance != "52.5" || v.Litres != "10" {
		t.Errorf("verify %+v", v)
	}
	// The device beside it is untouched.
	if bal := e.balanceOf(tok, oneflowsim.SeedDeviceID); bal != "150031.9" {
		t.Errorf("device balance %s", bal)
	}
}

func TestSuspendedFails(t *testing.T) {
	e := setup(t, oneflowsim.Options{SettleAfter: time.Second})
	tok := e.token()
	for _, body := range []string{
		`{"deviceId":"` + oneflowsim.SeedSuspendedDeviceID + `","amount":50}`,
		`{"cardId":"` + oneflowsim.SeedSuspendedCardID + `","amount":50}`,
	} {
		d := e.rechargeNow(tok, body) // accepted: the failure comes later
		id := d.SerialNumber
		before := e.balanceOf(tok, id)
		e.clock.Advance(time.Second)
		v := e.verify(tok, d.ID)
		if v.Status != "FAILED" || !strings.Contains(v.FailureReason, "suspended") {
			t.Errorf("%s: %+v", id, v)
		}
		if v.Litres != "" || v.Balance != "" || v.Currency != "" || v.CompletedAt != "" {
			t.Errorf("%s: FAILED carries settlement fields: %+v", id, v)
		}
		if after := e.balanceOf(tok, id); after != before {
			t.Errorf("%s: balance %s -> %s after a FAILED recharge", id, before, after)
		}
	}
}

func TestSettleDisabled(t *testing.T) {
	e := setup(t, oneflowsim.Options{SettleAfter: -1})
	tok := e.token()
	d := e.rechargeNow(tok, `{"deviceId":"68753500140920","amount":1}`)
	e.clock.Advance(24 * time.Hour)
	if v := e.verify(e.token(), d.ID); v.Status != "PENDING" {
		t.Fatalf("settled with SettleAfter < 0: %+v", v)
	}
}

func TestRealClockDefault(t *testing.T) {
	// With no fake clock, timestamps follow time.Now.
	sim := oneflowsim.New(oneflowsim.Options{})
	e := setupWith(t, sim)
	before := time.Now().UnixMilli()
	st, b := e.do(http.MethodPost, oneflowsim.PathLookup, "", `{}`)
	env := decodeEnvelope(t, b)
	if st != http.StatusUnauthorized || env.Timestamp < before || env.Timestamp > time.Now().UnixMilli() {
		t.Fatalf("%d %s", st, b)
	}
}

func TestConcurrentRechargesKeepBalanceConsistent(t *testing.T) {
	e := setup(t, oneflowsim.Options{SettleAfter: time.Second})
	tok := e.token()
	const n = 40
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// 1.00 KES at 0.5 per litre: 2 litres each.
			st, b := e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), `{"deviceId":"68753500140937","amount":1.00}`)
			if st != http.StatusAccepted {
				t.Errorf("status %d: %s", st, b)
				return
			}
			var env struct {
				Data struct{ ID string } `json:"data"`
			}
			_ = json.Unmarshal(b, &env)
			ids[i] = env.Data.ID
		}()
	}
	wg.Wait()
	if got := e.sim.RechargeCalls(); got != n {
		t.Fatalf("RechargeCalls %d, want %d", got, n)
	}
	e.clock.Advance(time.Second)

	// Verify them concurrently too; every recharge's balance is a distinct
	// step of 2 litres, and the last step is what lookup shows.
	balances := make([]string, n)
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			balances[i] = e.verify(tok, id).Balance.String()
		}()
	}
	wg.Wait()
	initial := decimal.RequireFromString("318.25")
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, initial.Add(decimal.NewFromInt(int64(2*i))).String())
	}
	slices.SortFunc(balances, func(a, b string) int {
		return decimal.RequireFromString(a).Cmp(decimal.RequireFromString(b))
	})
	if !slices.Equal(balances, want) {
		t.Fatalf("balances %v\nwant %v", balances, want)
	}
	if bal := e.balanceOf(tok, "68753500140937"); bal != want[n-1] {
		t.Fatalf("lookup balance %s, want %s", bal, want[n-1])
	}
}

func TestSeedOption(t *testing.T) {
	e := setup(t, oneflowsim.Options{Seed: []oneflowsim.Customer{
		{Name: "Esi Quaye", PhoneNumber: "+233209876543", Devices: []oneflowsim.Device{
			{ID: "11112222333344", Type: oneflowsim.DeviceTypeDevice, Balance: decimal.NewFromInt(7)},
		}},
		{Name: "Bad Phone", PhoneNumber: "+14155550100", Devices: []oneflowsim.Device{
			{ID: "11112222333355", Type: oneflowsim.DeviceTypeDevice},
		}},
	}})
	tok := e.token()
	if l := e.lookup(tok, `{"phoneNumber":"+233209876543"}`); l.Customer.Name != "Esi Quaye" {
		t.Fatalf("%+v", l)
	}
	for _, body := range []string{`{"phoneNumber":"` + oneflowsim.SeedPhone + `"}`, `{"phoneNumber":"+14155550100"}`} {
		st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tok), body)
		wantError(t, st, b, http.StatusNotFound, "customer not found")
	}
	empty := setup(t, oneflowsim.Options{Seed: []oneflowsim.Customer{}})
	st, b := empty.do(http.MethodPost, oneflowsim.PathLookup, bearer(empty.token()), `{"phoneNumber":"`+oneflowsim.SeedPhone+`"}`)
	wantError(t, st, b, http.StatusNotFound, "customer not found")
}

func TestHarnessFaultsReachTheDocumentedEndpoints(t *testing.T) {
	// Fault injection is the harness's job; it must address this
	// simulator's endpoints by their documented names.
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	if err := e.harness.SetFault("oneflow", "POST "+oneflowsim.PathRecharge, faultStatus(503)); err != nil {
		t.Fatal(err)
	}
	st, _ := e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), `{"deviceId":"68753500140920","amount":1}`)
	if st != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want the injected 503", st)
	}
	if n := e.sim.RechargeCalls(); n != 0 {
		t.Fatalf("the simulator counted a faulted recharge: %d", n)
	}
	st, _ = e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), `{"deviceId":"68753500140920","amount":1}`)
	if st != http.StatusAccepted || e.sim.RechargeCalls() != 1 {
		t.Fatalf("after the one-shot fault: status %d, calls %d", st, e.sim.RechargeCalls())
	}
}
