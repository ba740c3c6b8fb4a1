package oneflow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/upstream"
)

// The token lives expires_in from when its fetch started; without a usable
// expires_in it is kept until 1flow refuses it.
func TestTokenExpiryFromExpiresIn(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, rechargeOK) })
	clock := &fakeClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	u.tokenFail = func(int64) (int, string, bool) {
		clock.Advance(10 * time.Second) // a slow token endpoint
		return 0, "", false
	}
	c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.Now = clock.Now })
	for _, tc := range []struct {
		expiresIn any
		life      time.Duration // 0: no expiry
	}{
		{3600, time.Hour}, {"60", time.Minute}, {nil, defaultTokenLifetime}, {0, 0}, {-5, 0}, {1e9, maxTokenLifetime},
	} {
		u.mu.Lock()
		u.expiresIn = tc.expiresIn
		u.mu.Unlock()
		start := clock.Now()
		tok, exp, err := c.fetchToken(context.Background())
		if err != nil || tok == "" {
			t.Fatalf("expires_in %v: %q, %v", tc.expiresIn, tok, err)
		}
		want := time.Time{}
		if tc.life > 0 {
			want = start.Add(tc.life)
		}
		if !exp.Equal(want) {
			t.Errorf("expires_in %v: expires %v, want %v", tc.expiresIn, exp, want)
		}
	}
}

func TestUnauthorizedRechargeIsResentWithFreshToken(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 202, rechargeOK) })
	c := fastClient(u.URL, 5*time.Second)
	if _, err := c.GetRecharge(context.Background(), "r-1"); err != nil { // caches tok-1
		t.Fatal(err)
	}
	u.revokeAll() // the cached token expired upstream
	before := u.apiReqs.Load()
	r, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "68753500140920", Amount: decimal.RequireFromString("100.5")})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "r-1" {
		t.Errorf("id = %q", r.ID)
	}
	if n := u.apiReqs.Load() - before; n != 2 {
		t.Errorf("recharge requests = %d, want 2 (401 then once with a new token)", n)
	}
	if n := u.tokenReqs.Load(); n != 2 {
		t.Errorf("token requests = %d, want 2", n)
	}
}

func TestUnauthorizedTwiceIsBadCredentials(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		writeJSON(w, 401, `{"success":false,"timestamp":1,"message":"token rejected","data":null}`)
	})
	c := fastClient(u.URL, 5*time.Second)
	for _, call := range []struct {
		name string
		do   func() error
	}{
		{"lookup", func() error {
			_, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"})
			t.Logf("err: %v", err)
			return err
		}},
		{"recharge", func() error {
			_, err := c.Recharge(context.Background(), RechargeRequest{CardID: "C-1", Amount: decimal.NewFromInt(5)})
			return err
		}},
	} {
		t.Run(call.name, func(t *testing.T) {
			tokens0, api0 := u.tokenReqs.Load(), u.apiReqs.Load()
			err := call.do()
			if !errors.Is(err, upstream.ErrBadCredentials) {
				t.Fatalf("err = %v, want upstream.ErrBadCredentials", err)
			}
			if upstream.IsUnknown(err) {
				t.Fatalf("a 401 is not an unknown outcome: %v", err)
			}
			checkErrText(t, err, "tok-1", "tok-2", "tok-3", "tok-4")
			if n := u.apiReqs.Load() - api0; n != 2 {
				t.Errorf("API requests = %d, want 2", n)
			}
			if n := u.tokenReqs.Load() - tokens0; n != 2 {
				t.Errorf("token requests = %d, want 2 (initial + one refetch)", n)
			}
		})
	}
}

func TestBadClientCredentials(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
	c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.ClientSecret = "wrong-" + testSecret })
	_, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"})
	t.Logf("err: %v", err)
	if !errors.Is(err, upstream.ErrBadCredentials) {
		t.Fatalf("err = %v, want ErrBadCredentials", err)
	}
	checkErrText(t, err)
	if !strings.Contains(err.Error(), "invalid client credentials") {
		t.Errorf("error %q lacks the upstream message", err)
	}
	if n := u.tokenReqs.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1 (refusal is not retried)", n)
	}
	if n := u.apiReqs.Load(); n != 0 {
		t.Errorf("API requests = %d, want 0", n)
	}
	_, err = c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	if !errors.Is(err, upstream.ErrBadCredentials) || upstream.IsUnknown(err) {
		t.Fatalf("recharge err = %v, want ErrBadCredentials", err)
	}
	if n := u.apiReqs.Load(); n != 0 {
		t.Errorf("API requests = %d, want 0", n)
	}
}

// What the token endpoint refuses is about our credentials or base URL:
// never an unknown customer, and no recharge is sent.
func TestTokenEndpointErrors(t *testing.T) {
	for _, tc := range []struct {
		status    int
		want, not error
		text      string
		tries     int64
	}{
		{401, upstream.ErrBadCredentials, upstream.ErrUnavailable, "1flow: bad credentials: token endpoint refused the client id and secret: HTTP 401 Unauthorized: no such client", 1},
		{403, upstream.ErrBadCredentials, upstream.ErrForbidden, "1flow: bad credentials: token endpoint refused the client id and secret: HTTP 403 Forbidden: no such client", 1},
		{404, upstream.ErrUnavailable, upstream.ErrNotFound, "token endpoint not found (check the base URL)", 1},
		{503, upstream.ErrUnavailable, upstream.ErrNotFound, "token: HTTP 503 Service Unavailable: no such client", 3},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 202, rechargeOK) })
			u.tokenFail = func(int64) (int, string, bool) {
				return tc.status, `{"success":false,"message":"no such client"}`, true
			}
			c := fastClient(u.URL, 5*time.Second)
			_, err := c.Lookup(context.Background(), LookupQuery{DeviceID: "d"})
			t.Logf("err: %v", err)
			if !errors.Is(err, tc.want) || errors.Is(err, tc.not) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("lookup err = %v, want %v (not %v) with %q", err, tc.want, tc.not, tc.text)
			}
			checkErrText(t, err)
			if n := u.tokenReqs.Load(); n != tc.tries {
				t.Errorf("token requests = %d, want %d", n, tc.tries)
			}
			_, err = c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
			if !errors.Is(err, tc.want) || errors.Is(err, tc.not) || upstream.IsUnknown(err) {
				t.Errorf("recharge err = %v, want %v", err, tc.want)
			}
			if errors.Is(err, upstream.ErrUnavailable) && !errors.Is(err, upstream.ErrNotSent) {
				t.Errorf("recharge err = %v, want ErrNotSent with ErrUnavailable", err)
			}
			if n := u.apiReqs.Load(); n != 0 {
				t.Errorf("API requests = %d, want 0", n)
			}
		})
	}
}

func TestTokenRequestWireFormat(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
	c := fastClient(u.URL+"/", 5*time.Second) // a trailing slash is fine
	if _, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"}); err != nil {
		t.Fatal(err)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(testID+":"+testSecret))
	if got := u.tokenAuth[0]; got != want {
		t.Errorf("token Authorization = %q, want %q", got, want)
	}
	if len(u.tokenBody[0]) != 0 {
		t.Errorf("token request body = %q, want empty (as the document's curl)", u.tokenBody[0])
	}
}

func TestLookupWireBodies(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method != http.MethodPost || r.URL.Path != lookupPath {
			writeJSON(w, 405, `{"success":false,"message":"wrong method or path"}`)
			return
		}
		writeJSON(w, 200, lookupOK)
	})
	c := fastClient(u.URL, 5*time.Second)
	for _, tc := range []struct {
		q    LookupQuery
		want string
	}{
		{LookupQuery{PhoneNumber: "+254712345678"}, `{"phoneNumber":"+254712345678"}`},
		{LookupQuery{DeviceID: "68753500140920"}, `{"deviceId":"68753500140920"}`},
		{LookupQuery{PhoneNumber: "  +233241234567 "}, `{"phoneNumber":"+233241234567"}`},
	} {
		cust, err := c.Lookup(context.Background(), tc.q)
		if err != nil {
			t.Fatal(err)
		}
		req, body := u.last()
		if string(body) != tc.want {
			t.Errorf("body = %s, want %s", body, tc.want)
		}
		for h, want := range map[string]string{
			"Authorization": "Bearer tok-1",
			"Content-Type":  "application/json",
			"Accept":        "application/json",
		} {
			if got := req.Header.Get(h); got != want {
				t.Errorf("%s = %q, want %q", h, got, want)
			}
		}
		if cust.Name != "Jane Doe" || cust.PhoneNumber != "+254712345678" || len(cust.Devices) != 2 {
			t.Fatalf("customer = %+v", cust)
		}
		d0, d1 := cust.Devices[0], cust.Devices[1]
		if d0.SerialNumber != "68753500140920" || d0.DeviceType != "DEVICE" || d0.Balance.String() != "150052" {
			t.Errorf("device = %+v", d0)
		}
		if d1.SerialNumber != "C-0001" || d1.DeviceType != "CARD" || !d1.Balance.Equal(decimal.RequireFromString("12.5")) {
			t.Errorf("card = %+v", d1)
		}
	}
	// The document's own lookup body and ours are the same JSON.
	c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"})
	_, body := u.last()
	assertSameJSON(t, body, readTestdata(t, "lookup_request.json"))
}

func TestRechargeWireBodies(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Method != http.MethodPost || r.URL.Path != rechargePath {
			writeJSON(w, 405, `{"success":false,"message":"wrong method or path"}`)
			return
		}
		writeJSON(w, 202, rechargeOK)
	})
	c := fastClient(u.URL, 5*time.Second)
	for _, tc := range []struct {
		r    RechargeRequest
		want string
	}{
		{RechargeRequest{DeviceID: "68753500140920", Amount: decimal.RequireFromString("100.5")}, `{"deviceId":"68753500140920","amount":100.5}`},
		{RechargeRequest{CardID: "C-0001", Amount: decimal.NewFromInt(5)}, `{"cardId":"C-0001","amount":5}`},
		{RechargeRequest{DeviceID: "d", Amount: decimal.RequireFromString("0.10")}, `{"deviceId":"d","amount":0.1}`},
		{RechargeRequest{DeviceID: "d", Amount: decimal.RequireFromString("12345678901234567.89")}, `{"deviceId":"d","amount":12345678901234567.89}`},
		{RechargeRequest{DeviceID: "d", Amount: decimal.New(15, 2)}, `{"deviceId":"d","amount":1500}`},
	} {
		if _, err := c.Recharge(context.Background(), tc.r); err != nil {
			t.Fatal(err)
		}
		req, body := u.last()
		if string(body) != tc.want {
			t.Errorf("body = %s, want %s", body, tc.want)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		if _, ok := m["amount"].(json.Number); !ok {
			t.Errorf("amount is %T, want a JSON number", m["amount"])
		}
		if req.Header.Get("Content-Type") != "application/json" || req.Header.Get("Accept") != "application/json" ||
			req.Header.Get("Authorization") != "Bearer tok-1" {
			t.Errorf("headers = %v", req.Header)
		}
	}
	// The document's example body, 100.0, is the same JSON as ours.
	if _, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "68753500140920", Amount: decimal.RequireFromString("100.0")}); err != nil {
		t.Fatal(err)
	}
	_, body := u.last()
	assertSameJSON(t, body, readTestdata(t, "recharge_request.json"))
}

func TestInvalidArgumentsSendNothing(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
	c := fastClient(u.URL, 5*time.Second)
	ctx := context.Background()
	var errs []error
	_, err := c.Lookup(ctx, LookupQuery{})
	errs = append(errs, err)
	_, err = c.Lookup(ctx, LookupQuery{PhoneNumber: "+254712345678", DeviceID: "d"})
	errs = append(errs, err)
	_, err = c.Recharge(ctx, RechargeRequest{Amount: decimal.NewFromInt(1)})
	errs = append(errs, err)
	_, err = c.Recharge(ctx, RechargeRequest{DeviceID: "d", CardID: "c", Amount: decimal.NewFromInt(1)})
	errs = append(errs, err)
	_, err = c.Recharge(ctx, RechargeRequest{DeviceID: "d"})
	errs = append(errs, err)
	_, err = c.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(-3)})
	errs = append(errs, err)
	_, err = c.GetRecharge(ctx, " ")
	errs = append(errs, err)
	for i, err := range errs {
		if !errors.Is(err, upstream.ErrInvalidRequest) || errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) {
			t.Errorf("%d: err = %v, want upstream.ErrInvalidRequest only", i, err)
		}
		checkErrText(t, err)
	}
	if n := u.tokenReqs.Load() + u.apiReqs.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
	bad := New(Config{BaseURL: "api.1flow.org", ClientID: testID, ClientSecret: testSecret})
	if _, err := bad.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)}); !errors.Is(err, upstream.ErrInvalidRequest) {
		t.Errorf("relative base URL: err = %v, want upstream.ErrInvalidRequest", err)
	}
}

func TestRecharge202Decoded(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 202, rechargeOK) })
	c := fastClient(u.URL, 5*time.Second)
	r, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "68753500140920", Amount: decimal.RequireFromString("100.5")})
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "r-1" || r.Status != "PENDING" || r.SerialNumber != "68753500140920" || r.DeviceType != "DEVICE" ||
		r.Amount.String() != "100.5" || r.Customer.Name != "Jane Doe" || r.Litres.Valid || r.CompletedAt != nil {
		t.Errorf("recharge = %+v", r)
	}
	if !r.CreatedAt.Equal(time.Date(2026, 5, 4, 9, 1, 41, 197617901, time.UTC)) {
		t.Errorf("createdAt = %v", r.CreatedAt)
	}
}

func TestRechargeAcceptsOtherSuccessCodes(t *testing.T) {
	for _, status := range []int{200, 201} {
		u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, status, rechargeOK) })
		c := fastClient(u.URL, 5*time.Second)
		if _, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)}); err != nil {
			t.Errorf("%d: %v", status, err)
		}
	}
}

func TestRechargeBodyCutShortIsUnknown(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "500")
		w.WriteHeader(202)
		io.WriteString(w, rechargeOK[:40])
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	t.Logf("err: %v", err)
	if !upstream.IsUnknown(err) {
		t.Fatalf("err = %v, want OutcomeUnknownError", err)
	}
	if n := u.apiReqs.Load(); n != 1 {
		t.Fatalf("recharge requests = %d, want 1", n)
	}
}

func TestRechargeMalformedSuccessIsUnknown(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":     `{"success": tru`,
		"not json":      `<html>ok</html>`,
		"empty":         ``,
		"no id":         `{"success":true,"message":"success","data":{"status":"PENDING","amount":1}}`,
		"no success":    `{"data":{"id":"r-1"}}`,
		"data is array": `{"success":true,"data":[1]}`,
		"amount string": `{"success":true,"data":{"id":"r-1","amount":"lots"}}`,
		"bad time":      `{"success":true,"data":{"id":"r-1","createdAt":"yesterday"}}`,
		"trailing data": rechargeOK + `{"x":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 202, body) })
			c := fastClient(u.URL, 5*time.Second)
			_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
			t.Logf("err: %v", err)
			if !upstream.IsUnknown(err) || errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("err = %v, want OutcomeUnknownError", err)
			}
			checkErrText(t, err)
			if n := u.apiReqs.Load(); n != 1 {
				t.Fatalf("recharge requests = %d, want 1", n)
			}
		})
	}
}

func TestSuccessFalseIsRejected(t *testing.T) {
	body := `{"success":false,"timestamp":1,"message":"Device is blocked","data":null}`
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, body) })
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	var rej *upstream.RejectedError
	if !errors.As(err, &rej) || rej.Message != "Device is blocked" || rej.Status != 200 || upstream.IsUnknown(err) {
		t.Fatalf("recharge err = %v, want RejectedError", err)
	}
	_, err = c.Lookup(context.Background(), LookupQuery{DeviceID: "d"})
	if !errors.As(err, &rej) || err.Error() != "1flow: rejected: HTTP 200 OK: Device is blocked" {
		t.Fatalf("lookup err = %v, want RejectedError", err)
	}
}

func TestMalformedJSONOnReadIsUnavailable(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":   `{"success": tru`,
		"html":        `<html>`,
		"wrong types": `{"success":true,"data":{"customer":"Jane","devices":5}}`,
		"no customer": `{"success":true,"data":{}}`,
		"null data":   `{"success":true,"data":null}`,
		"big number":  `{"success":true,"data":{"customer":{"name":"J"},"devices":[{"serialNumber":"d","balance":1e999999999}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, body) })
			c := fastClient(u.URL, 5*time.Second)
			_, err := c.Lookup(context.Background(), LookupQuery{DeviceID: "d"})
			t.Logf("err: %v", err)
			if !errors.Is(err, upstream.ErrUnavailable) {
				t.Fatalf("lookup err = %v, want upstream.ErrUnavailable", err)
			}
			checkErrText(t, err)
			_, err = c.GetRecharge(context.Background(), "r-1")
			if !errors.Is(err, upstream.ErrUnavailable) || upstream.IsUnknown(err) {
				t.Fatalf("get err = %v, want upstream.ErrUnavailable", err)
			}
			if n := u.apiReqs.Load(); n != 2 {
				t.Errorf("requests = %d, want 2 (malformed answers are not retried)", n)
			}
		})
	}
}

func TestReadsRetriedOn5xxThenSucceed(t *testing.T) {
	var n atomic.Int64
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if n.Add(1) <= 2 {
			writeJSON(w, 503, `{"success":false,"message":"busy"}`)
			return
		}
		writeJSON(w, 200, lookupOK)
	})
	u.tokenFail = func(n int64) (int, string, bool) { return 503, `{"message":"busy"}`, n == 1 }
	c := fastClient(u.URL, 5*time.Second)
	cust, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"})
	if err != nil {
		t.Fatal(err)
	}
	if cust.Name != "Jane Doe" {
		t.Errorf("customer = %+v", cust)
	}
	if got := u.apiReqs.Load(); got != 3 {
		t.Errorf("lookups = %d, want 3", got)
	}
	if got := u.tokenReqs.Load(); got != 2 {
		t.Errorf("token requests = %d, want 2 (one 503, then success)", got)
	}
}

func TestNotFoundAndRejected(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch {
		case r.URL.Path == rechargePath+"/missing":
			writeJSON(w, 404, `{"success":false,"timestamp":1,"message":"Recharge not found","data":null}`)
		case r.URL.Path == lookupPath:
			writeJSON(w, 404, `{"success":false,"timestamp":1,"message":"Customer not found","data":null}`)
		case r.URL.Path == rechargePath:
			writeJSON(w, 400, `{"success":false,"timestamp":1,"message":"amount must be at least 10","data":null}`)
		default:
			writeJSON(w, 422, `not json`)
		}
	})
	c := fastClient(u.URL, 5*time.Second)
	ctx := context.Background()
	_, err := c.GetRecharge(ctx, "missing")
	if !errors.Is(err, upstream.ErrNotFound) || !strings.Contains(err.Error(), "Recharge not found") {
		t.Errorf("get err = %v, want upstream.ErrNotFound", err)
	}
	checkErrText(t, err)
	_, err = c.Lookup(ctx, LookupQuery{PhoneNumber: "+254700000000"})
	if !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("lookup err = %v, want upstream.ErrNotFound", err)
	}
	_, err = c.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	var rej *upstream.RejectedError
	if !errors.As(err, &rej) || rej.Status != 400 || rej.Message != "amount must be at least 10" || upstream.IsUnknown(err) {
		t.Fatalf("recharge err = %#v, want RejectedError", err)
	}
	if err.Error() != "1flow: rejected: HTTP 400 Bad Request: amount must be at least 10" {
		t.Errorf("Error() = %q", err.Error())
	}
	_, err = c.GetRecharge(ctx, "odd/id")
	if !errors.As(err, &rej) || rej.Status != 422 || rej.Message != "" {
		t.Errorf("err = %v, want RejectedError with no message (the body had none)", err)
	}
	req, _ := u.last()
	if req.URL.EscapedPath() != rechargePath+"/odd%2Fid" {
		t.Errorf("path = %q, want the id escaped", req.URL.EscapedPath())
	}
	if n := u.apiReqs.Load(); n != 4 {
		t.Errorf("requests = %d, want 4 (4xx is not retried)", n)
	}
}

func TestConfigReachesTheTransport(t *testing.T) {
	c := New(Config{BaseURL: "https://api.1flow.org/", ClientID: "a", ClientSecret: "b"})
	if c.up.Timeout() != upstream.DefaultTimeout || c.up.Retry() != upstream.DefaultRetry || c.up.ConfigErr() != nil {
		t.Fatalf("defaults: timeout %v, retry %+v, %v", c.up.Timeout(), c.up.Retry(), c.up.ConfigErr())
	}
	r := upstream.Retry{Attempts: 5, Base: time.Second, Max: time.Minute}
	c = New(Config{BaseURL: "https://api.1flow.org", Timeout: 3 * time.Second, Retry: r})
	if c.up.Timeout() != 3*time.Second || c.up.Retry() != r {
		t.Fatalf("timeout %v, retry %+v", c.up.Timeout(), c.up.Retry())
	}
}

func TestRechargeWithCancelledContextIsNotSent(t *testing.T) {
	u := newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 202, rechargeOK) })
	c := fastClient(u.URL, 5*time.Second)
	if _, err := c.GetRecharge(context.Background(), "r-1"); err != nil { // caches a token
		t.Fatal(err)
	}
	before := u.apiReqs.Load()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	t.Logf("err: %v", err)
	if upstream.IsUnknown(err) || !errors.Is(err, upstream.ErrNotSent) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want upstream.ErrUnavailable + upstream.ErrNotSent", err)
	}
	if n := u.apiReqs.Load() - before; n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}
