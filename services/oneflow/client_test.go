package oneflow

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestRefreshMargin(t *testing.T) {
	for _, tc := range []struct{ life, want time.Duration }{
		{3600 * time.Second, 30 * time.Second},
		{300 * time.Second, 30 * time.Second},
		{100 * time.Second, 10 * time.Second},
		{60 * time.Second, 6 * time.Second},
		{0, 0},
		{-time.Second, 0},
	} {
		if got := refreshMargin(tc.life); got != tc.want {
			t.Errorf("refreshMargin(%v) = %v, want %v", tc.life, got, tc.want)
		}
	}
}

func TestTokenCachedUntilShortlyBeforeExpiry(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, rechargeOK) })
	clock := &fakeClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.Now = clock.Now })
	ctx := context.Background()
	get := func() {
		t.Helper()
		if _, err := c.GetRecharge(ctx, "r-1"); err != nil {
			t.Fatal(err)
		}
	}
	get()
	get()
	if n := u.tokenReqs.Load(); n != 1 {
		t.Fatalf("token requests = %d, want 1 (cached)", n)
	}
	clock.Advance(3569 * time.Second) // expires_in 3600 minus the 30 s margin is 3570 s
	get()
	if n := u.tokenReqs.Load(); n != 1 {
		t.Fatalf("token requests at 3569 s = %d, want 1", n)
	}
	clock.Advance(2 * time.Second) // 3571 s: inside the margin
	get()
	if n := u.tokenReqs.Load(); n != 2 {
		t.Fatalf("token requests at 3571 s = %d, want 2 (refreshed before expiry)", n)
	}
	get()
	if n := u.tokenReqs.Load(); n != 2 {
		t.Fatalf("token requests = %d, want 2 (new token cached)", n)
	}
	req, _ := u.last()
	if got := req.Header.Get("Authorization"); got != "Bearer tok-2" {
		t.Errorf("Authorization = %q, want the refreshed token", got)
	}
}

func TestTokenShortLifeAndZeroLife(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, rechargeOK) })
	clock := &fakeClock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.Now = clock.Now })
	ctx := context.Background()
	u.expiresIn = 60 // margin 6 s
	if _, err := c.GetRecharge(ctx, "r-1"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(53 * time.Second)
	if _, err := c.GetRecharge(ctx, "r-1"); err != nil {
		t.Fatal(err)
	}
	if n := u.tokenReqs.Load(); n != 1 {
		t.Fatalf("token requests at 53 s of 60 = %d, want 1", n)
	}
	clock.Advance(2 * time.Second)
	u.mu.Lock()
	u.expiresIn = 0 // a token that must not be cached, but is used for its call
	u.mu.Unlock()
	if _, err := c.GetRecharge(ctx, "r-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetRecharge(ctx, "r-1"); err != nil {
		t.Fatal(err)
	}
	if n := u.tokenReqs.Load(); n != 3 {
		t.Fatalf("token requests = %d, want 3", n)
	}
}

func TestOneTokenRequestForConcurrentCallers(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
	u.tokenDelay = 100 * time.Millisecond
	c := fastClient(u.URL, 5*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: fmt.Sprintf("+2547123456%02d", i)})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := u.tokenReqs.Load(); n != 1 {
		t.Fatalf("token requests = %d, want 1 for 20 concurrent callers", n)
	}
	if n := u.apiReqs.Load(); n != 20 {
		t.Fatalf("lookups = %d, want 20", n)
	}
}

func TestWaiterCanGiveUpWhileTokenFetchGoesOn(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
	u.tokenDelay = 300 * time.Millisecond
	c := fastClient(u.URL, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Lookup(ctx, LookupQuery{DeviceID: "68753500140920"})
	t.Logf("err: %v", err)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable with the deadline", err)
	}
	checkErrText(t, err)
	// The shared fetch finished anyway; the next caller uses its token.
	if _, err := c.Lookup(context.Background(), LookupQuery{DeviceID: "68753500140920"}); err != nil {
		t.Fatal(err)
	}
	if n := u.tokenReqs.Load(); n != 1 {
		t.Fatalf("token requests = %d, want 1", n)
	}
}

func TestUnauthorizedRefetchesOnceThenSucceeds(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
	c := fastClient(u.URL, 5*time.Second)
	seedToken(c, "stale-token", time.Hour) // cached but unknown upstream (expired there)
	cust, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"})
	if err != nil {
		t.Fatal(err)
	}
	if cust.Name != "Jane Doe" {
		t.Errorf("name = %q", cust.Name)
	}
	if n := u.tokenReqs.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	if n := u.apiReqs.Load(); n != 2 {
		t.Errorf("lookups = %d, want 2 (401, then retried once)", n)
	}
	// The fresh token is cached now.
	if _, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"}); err != nil {
		t.Fatal(err)
	}
	if n := u.tokenReqs.Load(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
}

func TestUnauthorizedRechargeIsResentWithFreshToken(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 202, rechargeOK) })
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
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
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
			if !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("err = %v, want ErrBadCredentials", err)
			}
			if isUnknown(err) {
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
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
	c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.ClientSecret = "wrong-" + testSecret })
	_, err := c.Lookup(context.Background(), LookupQuery{PhoneNumber: "+254712345678"})
	t.Logf("err: %v", err)
	if !errors.Is(err, ErrBadCredentials) {
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
	if !errors.Is(err, ErrBadCredentials) || isUnknown(err) {
		t.Fatalf("recharge err = %v, want ErrBadCredentials", err)
	}
	if n := u.apiReqs.Load(); n != 0 {
		t.Errorf("API requests = %d, want 0", n)
	}
}

func TestTokenRequestWireFormat(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
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
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
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
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
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
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 200, lookupOK) })
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
		if !errors.Is(err, ErrInvalidRequest) || errors.Is(err, ErrUnavailable) || isUnknown(err) {
			t.Errorf("%d: err = %v, want ErrInvalidRequest only", i, err)
		}
		checkErrText(t, err)
	}
	if n := u.tokenReqs.Load() + u.apiReqs.Load(); n != 0 {
		t.Errorf("requests = %d, want 0", n)
	}
	bad := New(Config{BaseURL: "api.1flow.org", ClientID: testID, ClientSecret: testSecret})
	if _, err := bad.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("relative base URL: err = %v, want ErrInvalidRequest", err)
	}
}

func TestRecharge202Decoded(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, 202, rechargeOK) })
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
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) { writeJSON(w, status, rechargeOK) })
		c := fastClient(u.URL, 5*time.Second)
		if _, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)}); err != nil {
			t.Errorf("%d: %v", status, err)
		}
	}
}

func TestRechargeServerErrorIsNotRetried(t *testing.T) {
	for _, status := range []int{500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				writeJSON(w, status, `{"success":false,"timestamp":1,"message":"temporarily out of order","data":null}`)
			})
			c := fastClient(u.URL, 5*time.Second)
			_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "68753500140920", Amount: decimal.NewFromInt(100)})
			t.Logf("err: %v", err)
			if !errors.Is(err, ErrUnavailable) || isUnknown(err) || errors.Is(err, ErrNotSent) {
				t.Fatalf("err = %v, want ErrUnavailable (processed as failed)", err)
			}
			checkErrText(t, err, "tok-1")
			if !strings.Contains(err.Error(), "temporarily out of order") {
				t.Errorf("error %q lacks the upstream message", err)
			}
			if n := u.apiReqs.Load(); n != 1 {
				t.Fatalf("recharge requests = %d, want exactly 1", n)
			}
		})
	}
}

func TestRechargeGatewayErrorIsUnknown(t *testing.T) {
	for _, status := range []int{502, 504} {
		u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			writeJSON(w, status, `<html>gateway</html>`)
		})
		c := fastClient(u.URL, 5*time.Second)
		_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
		t.Logf("err: %v", err)
		if !isUnknown(err) || errors.Is(err, ErrUnavailable) {
			t.Fatalf("%d: err = %v, want OutcomeUnknownError", status, err)
		}
		checkErrText(t, err)
		if n := u.apiReqs.Load(); n != 1 {
			t.Fatalf("%d: recharge requests = %d, want 1", status, n)
		}
	}
}

func TestRechargeHangPastTimeoutIsUnknown(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		<-r.Context().Done() // never answers; returns when the client gives up
	})
	c := fastClient(u.URL, 300*time.Millisecond)
	start := time.Now()
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "68753500140920", Amount: decimal.NewFromInt(100)})
	t.Logf("err: %v", err)
	if !isUnknown(err) {
		t.Fatalf("err = %v, want OutcomeUnknownError", err)
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown outcome must not match other kinds: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to wrap the deadline", err)
	}
	checkErrText(t, err, "tok-1")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v, want about the 300 ms timeout", d)
	}
	if n := u.apiReqs.Load(); n != 1 {
		t.Fatalf("recharge requests = %d, want 1", n)
	}
}

func TestRechargeCallerCancelAfterSendIsUnknown(t *testing.T) {
	arrived := make(chan struct{})
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		close(arrived)
		<-r.Context().Done()
	})
	c := fastClient(u.URL, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	_, err := c.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	if !isUnknown(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want OutcomeUnknownError wrapping context.Canceled", err)
	}
}

func TestRechargeConnectionClosedAfterRequestIsUnknown(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Close()
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "68753500140920", Amount: decimal.NewFromInt(100)})
	t.Logf("err: %v", err)
	if !isUnknown(err) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want OutcomeUnknownError", err)
	}
	checkErrText(t, err)
	if n := u.apiReqs.Load(); n != 1 {
		t.Fatalf("recharge requests = %d, want 1 (never re-sent)", n)
	}
}

func TestRechargeBodyCutShortIsUnknown(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
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
	if !isUnknown(err) {
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
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 202, body) })
			c := fastClient(u.URL, 5*time.Second)
			_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
			t.Logf("err: %v", err)
			if !isUnknown(err) || errors.Is(err, ErrUnavailable) {
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
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, body) })
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Message != "Device is blocked" || rej.Status != 200 || isUnknown(err) {
		t.Fatalf("recharge err = %v, want RejectedError", err)
	}
	_, err = c.Lookup(context.Background(), LookupQuery{DeviceID: "d"})
	if !errors.As(err, &rej) || err.Error() != "1flow: rejected: Device is blocked" {
		t.Fatalf("lookup err = %v, want RejectedError", err)
	}
}

func TestRechargeDialErrorRetriedThenNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	var dials atomic.Int64
	d := &net.Dialer{Timeout: time.Second}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, a)
	}}}
	c := fastClient("http://"+addr, 5*time.Second, func(cfg *Config) { cfg.HTTPClient = hc })
	seedToken(c, "cached-token", time.Hour) // the token is cached; only the recharge fails to connect

	_, err = c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	t.Logf("err: %v", err)
	if isUnknown(err) {
		t.Fatalf("err = %v: a dial error never reached 1flow, it is not an unknown outcome", err)
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrUnavailable and ErrNotSent", err)
	}
	checkErrText(t, err, "cached-token")
	if n := dials.Load(); n != 3 {
		t.Errorf("dials = %d, want 3 (1 + 2 retries)", n)
	}

	// With no cached token the token fetch fails first: still not sent.
	c2 := fastClient("http://"+addr, 5*time.Second)
	_, err = c2.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	if isUnknown(err) || !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrUnavailable and ErrNotSent", err)
	}
}

// opaqueTransport fails every request with an error that says nothing about
// how far it got, and reports no trace events.
type opaqueTransport struct{ calls atomic.Int64 }

func (o *opaqueTransport) RoundTrip(*http.Request) (*http.Response, error) {
	o.calls.Add(1)
	return nil, errors.New("something broke")
}

func TestRechargeUnclassifiableErrorIsUnknown(t *testing.T) {
	tr := &opaqueTransport{}
	c := fastClient("http://1flow.invalid", 5*time.Second, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: tr} })
	seedToken(c, "cached-token", time.Hour)
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	if !isUnknown(err) {
		t.Fatalf("err = %v, want OutcomeUnknownError when it cannot be proven unsent", err)
	}
	if n := tr.calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
}

func TestRechargeRedirectIsNotFollowed(t *testing.T) {
	var elsewhere atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/elsewhere" {
			elsewhere.Add(1)
			writeJSON(w, 200, rechargeOK)
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	t.Logf("err: %v", err)
	if !errors.Is(err, ErrUnavailable) || isUnknown(err) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if elsewhere.Load() != 0 || u.apiReqs.Load() != 1 {
		t.Fatalf("redirect followed: elsewhere=%d requests=%d", elsewhere.Load(), u.apiReqs.Load())
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
			u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 200, body) })
			c := fastClient(u.URL, 5*time.Second)
			_, err := c.Lookup(context.Background(), LookupQuery{DeviceID: "d"})
			t.Logf("err: %v", err)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("lookup err = %v, want ErrUnavailable", err)
			}
			checkErrText(t, err)
			_, err = c.GetRecharge(context.Background(), "r-1")
			if !errors.Is(err, ErrUnavailable) || isUnknown(err) {
				t.Fatalf("get err = %v, want ErrUnavailable", err)
			}
			if n := u.apiReqs.Load(); n != 2 {
				t.Errorf("requests = %d, want 2 (malformed answers are not retried)", n)
			}
		})
	}
}

func TestReadsRetriedOn5xxThenSucceed(t *testing.T) {
	var n atomic.Int64
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
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

func TestReadsGiveUpAfterThreeTries(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 500, `{"success":false,"message":"down"}`)
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.GetRecharge(context.Background(), "r-1")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	checkErrText(t, err)
	if got := u.apiReqs.Load(); got != 3 {
		t.Errorf("requests = %d, want 3", got)
	}
}

func TestRetryNeverSleepsPastDeadline(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 503, `{"success":false,"message":"down"}`)
	})
	c := fastClient(u.URL, 5*time.Second)
	c.backoffBase, c.backoffMax = time.Second, 2*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.GetRecharge(ctx, "r-1")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("took %v: should give up at once when the backoff would pass the deadline", d)
	}
	if got := u.apiReqs.Load(); got != 1 {
		t.Errorf("requests = %d, want 1", got)
	}
}

func TestReadTimeoutIsUnavailable(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { <-r.Context().Done() })
	c := fastClient(u.URL, 200*time.Millisecond)
	_, err := c.GetRecharge(context.Background(), "r-1")
	t.Logf("err: %v", err)
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable wrapping the deadline", err)
	}
}

func TestNotFoundAndRejected(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
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
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "Recharge not found") {
		t.Errorf("get err = %v, want ErrNotFound", err)
	}
	checkErrText(t, err)
	_, err = c.Lookup(ctx, LookupQuery{PhoneNumber: "+254700000000"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup err = %v, want ErrNotFound", err)
	}
	_, err = c.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	var rej *RejectedError
	if !errors.As(err, &rej) || rej.Status != 400 || rej.Message != "amount must be at least 10" || isUnknown(err) {
		t.Fatalf("recharge err = %#v, want RejectedError", err)
	}
	if err.Error() != "1flow: rejected: amount must be at least 10" {
		t.Errorf("Error() = %q", err.Error())
	}
	_, err = c.GetRecharge(ctx, "odd/id")
	if !errors.As(err, &rej) || rej.Status != 422 || rej.Message == "" {
		t.Errorf("err = %v, want RejectedError with a message", err)
	}
	req, _ := u.last()
	if req.URL.EscapedPath() != rechargePath+"/odd%2Fid" {
		t.Errorf("path = %q, want the id escaped", req.URL.EscapedPath())
	}
	if n := u.apiReqs.Load(); n != 4 {
		t.Errorf("requests = %d, want 4 (4xx is not retried)", n)
	}
}

func TestUpstreamMessageCannotLeakToken(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		writeJSON(w, 400, `{"success":false,"message":"bad token echo `+tok+`\n\u0007"}`)
	})
	c := fastClient(u.URL, 5*time.Second)
	_, err := c.Lookup(context.Background(), LookupQuery{DeviceID: "d"})
	checkErrText(t, err, "tok-1")
	if strings.ContainsAny(err.Error(), "\n\a") {
		t.Errorf("control characters in %q", err)
	}
}

func TestDefaults(t *testing.T) {
	c := New(Config{BaseURL: "https://api.1flow.org/", ClientID: "a", ClientSecret: "b"})
	if c.timeout != DefaultTimeout || c.now == nil || c.hc == nil || c.hc.CheckRedirect == nil {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.base != "https://api.1flow.org" {
		t.Errorf("base = %q", c.base)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok || tr.TLSHandshakeTimeout == 0 {
		t.Errorf("default transport lacks timeouts")
	}
	// A caller's client is copied, not modified.
	mine := &http.Client{}
	New(Config{HTTPClient: mine})
	if mine.CheckRedirect != nil {
		t.Error("caller's http.Client was modified")
	}
}

func TestRechargeWithCancelledContextIsNotSent(t *testing.T) {
	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, 202, rechargeOK) })
	c := fastClient(u.URL, 5*time.Second)
	seedToken(c, "tok-x", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Recharge(ctx, RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	t.Logf("err: %v", err)
	if isUnknown(err) || !errors.Is(err, ErrNotSent) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want ErrUnavailable + ErrNotSent", err)
	}
	if n := u.apiReqs.Load(); n != 0 {
		t.Fatalf("requests = %d, want 0", n)
	}
}

type dialFailTransport struct{ calls atomic.Int64 }

func (d *dialFailTransport) RoundTrip(*http.Request) (*http.Response, error) {
	d.calls.Add(1)
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
}

func TestRechargeOpaqueTransportDialErrorIsNotSent(t *testing.T) {
	tr := &dialFailTransport{}
	c := fastClient("http://1flow.invalid", 5*time.Second, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: tr} })
	seedToken(c, "cached-token", time.Hour)
	_, err := c.Recharge(context.Background(), RechargeRequest{DeviceID: "d", Amount: decimal.NewFromInt(1)})
	if isUnknown(err) || !errors.Is(err, ErrNotSent) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable + ErrNotSent", err)
	}
	if n := tr.calls.Load(); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
}
