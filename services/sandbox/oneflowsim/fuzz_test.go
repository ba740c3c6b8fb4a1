package oneflowsim_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/simtest"
)

// FuzzRechargeBody posts arbitrary bodies to the recharge endpoint with a
// valid token: the answer is always a 2xx or 4xx envelope, never a 5xx, and
// the simulator never panics (a panic would reach the client as a broken
// connection).
func FuzzRechargeBody(f *testing.F) {
	f.Add(readUpstream(f, "recharge_request.json"))
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"deviceId":"68753500140920","amount":100.5}`,
		`{"cardId":"3081726354","amount":0.01}`, `{"deviceId":"68753500140920","amount":"100"}`,
		`{"deviceId":68753500140920,"amount":1}`, `{"deviceId":"68753500140920","amount":1e999999999}`,
		`{"deviceId":"68753500140920","amount":-1e-999999999}`, `{"deviceId":"68753500140920","amount":1E+40}`,
		`{"deviceId":"68753500140920","amount":0.5e-39}`, `{"deviceId":"68753500140920","cardId":"3081726354","amount":1}`,
		`{"deviceId":"\u0000","amount":1}`, `{"deviceId":"68753500140920","amount":1} trailing`,
		`{"deviceId":"68753500141251","amount":1,"deviceId":"3081726354"}`, "\xff\xfe{", `{"amount":`,
	} {
		f.Add([]byte(s))
	}
	e := setup(f, oneflowsim.Options{})
	tok := e.token()
	f.Fuzz(func(t *testing.T, body []byte) {
		status, answer := fuzzPost(t, e, tok, body)
		if status >= 500 || status < 200 || (status >= 300 && status < 400) {
			t.Fatalf("status %d for %q: %s", status, body, answer)
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(answer, &v); err != nil || len(v) != 4 {
			t.Fatalf("not an envelope (%v) for %q: %s", err, body, answer)
		}
		var success bool
		if err := json.Unmarshal(v["success"], &success); err != nil || v["timestamp"] == nil || v["message"] == nil || v["data"] == nil {
			t.Fatalf("not an envelope for %q: %s", body, answer)
		}
		if success != (status == http.StatusAccepted) {
			t.Fatalf("success %v with status %d: %s", success, status, answer)
		}
	})
}

// fuzzPost posts body to the recharge endpoint of e with token tok. It
// does not use e.do, whose failures would be reported on the *testing.F.
func fuzzPost(t *testing.T, e *env, tok string, body []byte) (int, []byte) {
	t.Helper()
	req := simtest.NewRequest(t, http.MethodPost, e.base+oneflowsim.PathRecharge, string(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	st, _, b := simtest.Send(t, e.srv.Client(), req)
	return st, b
}
