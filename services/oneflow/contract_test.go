package oneflow

// Contract tests: the example bodies of oneflow-partner-api.txt, copied
// verbatim into testdata/, decode in this client with every field.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// dataKeys lists the keys of the example's data object, so a field the
// document shows and this test does not check fails the test.
func dataKeys(t *testing.T, body []byte) []string {
	t.Helper()
	var env struct{ Data map[string]json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range env.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func checkCovered(t *testing.T, keys []string, checked map[string]bool) {
	t.Helper()
	for _, k := range keys {
		if !checked[k] {
			t.Errorf("the document's field %q is not checked by this contract test", k)
		}
	}
}

func TestContractTokenResponse(t *testing.T) {
	body := readTestdata(t, "token_response.json")
	tok, life, err := decodeToken(body)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6IC..." {
		t.Errorf("access_token = %q", tok)
	}
	if life != 3600*time.Second {
		t.Errorf("expires_in = %v, want 1h", life)
	}

	// Over HTTP: the token endpoint answers the document's example, and the
	// next call carries it as a Bearer token; it is cached for 3600 s - 30 s.
	var mu sync.Mutex
	var tokenReqs int
	var gotAuth string
	clock := &fakeClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	srv := newRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case tokenPath:
			tokenReqs++
			w.Write(body)
		default:
			gotAuth = r.Header.Get("Authorization")
			w.WriteHeader(http.StatusOK)
			w.Write(readTestdata(t, "verify_response.json"))
		}
	})
	c := fastClient(srv, 5*time.Second, func(cfg *Config) { cfg.Now = clock.Now })
	for range 2 {
		if _, err := c.GetRecharge(context.Background(), "800cb2a6-1b5f-4e5d-aba0-22550fab12bb"); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	auth := gotAuth
	mu.Unlock()
	if auth != "Bearer eyJhbGciOiJSUzI1NiIsInR5cCIgOiAiSldUIiwia2lkIiA6IC..." {
		t.Errorf("Authorization = %q", auth)
	}
	clock.Advance(3570 * time.Second)
	if _, err := c.GetRecharge(context.Background(), "800cb2a6-1b5f-4e5d-aba0-22550fab12bb"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := tokenReqs
	mu.Unlock()
	if n != 2 {
		t.Errorf("token requests = %d, want 2 (cached, refreshed 30 s before expiry)", n)
	}
}

func TestContractRecharge202Response(t *testing.T) {
	body := readTestdata(t, "recharge_202_response.json")
	r, err := decodeRecharge(http.StatusAccepted, body)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	eq := func(field string, got, want any) {
		t.Helper()
		checked[field] = true
		if got != want {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	eq("id", r.ID, "98466062-2548-4dca-9ef9-f1b4b09c92dc")
	eq("serialNumber", r.SerialNumber, "68753500140920")
	eq("deviceType", r.DeviceType, "DEVICE")
	eq("status", r.Status, "PENDING")
	eq("amount", r.Amount.String(), "100.5")
	eq("createdAt", r.CreatedAt.Equal(time.Date(2026, 5, 4, 9, 1, 41, 197617901, time.UTC)), true)
	eq("customer", r.Customer.Name+" / "+r.Customer.PhoneNumber, "Jane Doe / +254712345678")
	checkCovered(t, dataKeys(t, body), checked)
	// Not in a PENDING answer: absent, not zero.
	if r.Currency != "" || r.Litres.Valid || r.PricePerLitre.Valid || r.Balance.Valid || r.CompletedAt != nil {
		t.Errorf("fields of a completed recharge are set on a pending one: %+v", r)
	}
	if !r.Amount.Equal(dec("100.5")) {
		t.Errorf("amount = %v", r.Amount)
	}
	checkRaw(t, r.Raw, body)

	// Over HTTP, answered 202 with the document's body.
	srv := newAPIServer(t, http.StatusAccepted, body)
	got, err := fastClient(srv, 5*time.Second).Recharge(context.Background(),
		RechargeRequest{DeviceID: "68753500140920", Amount: dec("100.5")})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != r.ID || !got.Amount.Equal(r.Amount) || !got.CreatedAt.Equal(r.CreatedAt) || got.Customer != r.Customer {
		t.Errorf("over HTTP: %+v, want %+v", got, r)
	}
}

func TestContractVerifyResponse(t *testing.T) {
	body := readTestdata(t, "verify_response.json")
	r, err := decodeRecharge(http.StatusOK, body)
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	eq := func(field string, got, want any) {
		t.Helper()
		checked[field] = true
		if got != want {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	eqDec := func(field string, got decimal.NullDecimal, want string) {
		t.Helper()
		checked[field] = true
		if !got.Valid || !got.Decimal.Equal(dec(want)) || got.Decimal.String() != want {
			t.Errorf("%s = %v (valid %v), want %s", field, got.Decimal, got.Valid, want)
		}
	}
	eq("id", r.ID, "800cb2a6-1b5f-4e5d-aba0-22550fab12bb")
	eq("serialNumber", r.SerialNumber, "68753500140920")
	eq("deviceType", r.DeviceType, "DEVICE")
	eq("status", r.Status, "COMPLETED")
	eq("amount", r.Amount.String(), "100.5")
	eq("currency", r.Currency, "GHS")
	eqDec("litres", r.Litres, "20.1")
	eqDec("pricePerLitre", r.PricePerLitre, "5")
	eqDec("balance", r.Balance, "150052")
	eq("createdAt", r.CreatedAt.Equal(time.Date(2026, 5, 4, 9, 36, 30, 112536000, time.UTC)), true)
	checked["completedAt"] = true
	if r.CompletedAt == nil || !r.CompletedAt.Equal(time.Date(2026, 5, 4, 9, 46, 28, 331923000, time.UTC)) {
		t.Errorf("completedAt = %v", r.CompletedAt)
	}
	eq("customer", r.Customer.Name+" / "+r.Customer.PhoneNumber, "Jane Doe / +254712345678")
	checkCovered(t, dataKeys(t, body), checked)
	checkRaw(t, r.Raw, body)

	// Over HTTP, GET /v1/access/partners/recharge/{id}.
	var mu sync.Mutex
	var path, method string
	srv := newRawServer(t, func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == tokenPath {
			w.Write(readTestdata(t, "token_response.json"))
			return
		}
		mu.Lock()
		path, method = req.URL.Path, req.Method
		mu.Unlock()
		w.Write(body)
	})
	got, err := fastClient(srv, 5*time.Second).GetRecharge(context.Background(), "800cb2a6-1b5f-4e5d-aba0-22550fab12bb")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if method != http.MethodGet || path != "/v1/access/partners/recharge/800cb2a6-1b5f-4e5d-aba0-22550fab12bb" {
		t.Errorf("sent %s %s", method, path)
	}
	if got.Status != "COMPLETED" || !got.Balance.Decimal.Equal(dec("150052")) || got.CompletedAt == nil {
		t.Errorf("over HTTP: %+v", got)
	}
}

// The document's example recharge as the simulator or 1flow may vary it:
// integer and exponent forms, quoted numbers, and null for absent fields.
func TestDecodeNumberForms(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`5`, "5"}, {`150052`, "150052"}, {`100.5`, "100.5"}, {`100.0`, "100"}, {`20.1`, "20.1"},
		{`0.1`, "0.1"}, {`1e2`, "100"}, {`1.5E-1`, "0.15"}, {`-3`, "-3"}, {`"100.5"`, "100.5"},
		{`12345678901234567890.123456789`, "12345678901234567890.123456789"},
	} {
		var w wireDecimal
		if err := json.Unmarshal([]byte(tc.in), &w); err != nil || !w.valid || w.d.String() != tc.want {
			t.Errorf("%s: got %v valid=%v err=%v, want %s", tc.in, w.d, w.valid, err, tc.want)
		}
	}
	for _, bad := range []string{`true`, `{}`, `[]`, `"abc"`, `""`, `"1 "`, `01`, `1.`, `.5`, `+1`, `NaN`, `1e999999999`, `1e41`, `"0x10"`} {
		var w wireDecimal
		if err := json.Unmarshal([]byte(bad), &w); err == nil {
			t.Errorf("%s: accepted as %v", bad, w.d)
		}
	}
	var w wireDecimal
	if err := json.Unmarshal([]byte(`null`), &w); err != nil || w.valid {
		t.Errorf("null: valid=%v err=%v", w.valid, err)
	}
}

func checkRaw(t *testing.T, raw json.RawMessage, body []byte) {
	t.Helper()
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, env.Data) {
		t.Errorf("Raw = %s, want the data object %s", raw, env.Data)
	}
}

// newRawServer serves h with no token checking and returns its URL.
func newRawServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// newAPIServer answers the token with the document's example and any other
// call with status and body.
func newAPIServer(t *testing.T, status int, body []byte) string {
	t.Helper()
	return newRawServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == tokenPath {
			w.Write(readTestdata(t, "token_response.json"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	})
}
