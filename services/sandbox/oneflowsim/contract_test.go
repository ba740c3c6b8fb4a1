package oneflowsim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox/oneflowsim"
)

// Contract tests: the simulator's real answers have exactly the keys and
// JSON types of the document's examples (testdata/upstream/oneflow), and it
// accepts the document's example requests as they are.

func TestShapeDiff(t *testing.T) {
	// The helper itself must catch what the contract tests rely on it for.
	want := `{"a":1,"b":"x","c":{"d":true,"e":null},"f":[{"g":1}],"h":[]}`
	for _, tc := range []struct {
		name, got string
		diffs     []string
	}{
		{"same", `{"a":2.5,"b":"y","c":{"d":false,"e":null},"f":[{"g":3},{"g":4}],"h":[1]}`, nil},
		{"missing key", `{"b":"x","c":{"d":true,"e":null},"f":[{"g":1}],"h":[]}`, []string{"$.a: missing"}},
		{"extra key", `{"a":1,"b":"x","z":0,"c":{"d":true,"e":null},"f":[{"g":1}],"h":[]}`, []string{"$.z: not in the example"}},
		{"number as string", `{"a":"1","b":"x","c":{"d":true,"e":null},"f":[{"g":1}],"h":[]}`, []string{"$.a: want number, got string"}},
		{"nested missing", `{"a":1,"b":"x","c":{"d":true},"f":[{"g":1}],"h":[]}`, []string{"$.c.e: missing"}},
		{"null for object", `{"a":1,"b":"x","c":null,"f":[{"g":1}],"h":[]}`, []string{"$.c: want object, got null"}},
		{"element shape", `{"a":1,"b":"x","c":{"d":true,"e":null},"f":[{"g":1},{"g":"2"}],"h":[]}`, []string{"$.f[1].g: want number, got string"}},
		{"empty array", `{"a":1,"b":"x","c":{"d":true,"e":null},"f":[],"h":[]}`, []string{"$.f: empty, cannot check its elements"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := shapeDiff("$", decodeAny(t, []byte(want)), decodeAny(t, []byte(tc.got)))
			if strings.Join(got, "\n") != strings.Join(tc.diffs, "\n") {
				t.Fatalf("diffs %q, want %q", got, tc.diffs)
			}
		})
	}
}

func checkShape(t *testing.T, what string, example, answer []byte) {
	t.Helper()
	if diffs := shapeDiff("$", decodeAny(t, example), decodeAny(t, answer)); len(diffs) > 0 {
		t.Errorf("%s differs from the document's example:\n  %s\nanswer: %s", what, strings.Join(diffs, "\n  "), answer)
	}
}

func TestContractTokenResponse(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	st, b := e.do(http.MethodPost, oneflowsim.PathToken, basic(oneflowsim.DefaultClientID, oneflowsim.DefaultClientSecret), "")
	if st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	example := readUpstream(t, "token_response.json")
	checkShape(t, "token answer", example, b)
	// And the fixed values are the document's.
	var ex, got map[string]any
	_ = json.Unmarshal(example, &ex)
	_ = json.Unmarshal(b, &got)
	if got["token_type"] != ex["token_type"] || got["expires_in"] != ex["expires_in"] {
		t.Errorf("token_type/expires_in %v/%v, document %v/%v", got["token_type"], got["expires_in"], ex["token_type"], ex["expires_in"])
	}
}

func TestContractRecharge(t *testing.T) {
	e := setup(t, oneflowsim.Options{SettleAfter: 10 * time.Minute})
	tok := e.token()

	// The document's request, as it is, is accepted with 202.
	st, accepted := e.do(http.MethodPost, oneflowsim.PathRecharge, bearer(tok), string(readUpstream(t, "recharge_request.json")))
	if st != http.StatusAccepted {
		t.Fatalf("document's recharge request: status %d: %s", st, accepted)
	}
	example202 := readUpstream(t, "recharge_response_202.json")
	checkShape(t, "recharge 202 answer", example202, accepted)

	// Values the document fixes: same device, type, status and customer as
	// the example (the first seeded customer is the document's).
	var ex, got struct {
		Data struct {
			SerialNumber, DeviceType, Status string
			Customer                         struct{ Name, PhoneNumber string }
		}
		Message string
		Success bool
	}
	_ = json.Unmarshal(example202, &ex)
	_ = json.Unmarshal(accepted, &got)
	if got != ex {
		t.Errorf("202 values %+v, document %+v", got, ex)
	}
	id := decodeData[rechargeData](t, accepted).ID

	// Verify while PENDING: the 202 example's shape.
	st, pending := e.do(http.MethodGet, oneflowsim.PathRecharge+"/"+id, bearer(tok), "")
	if st != http.StatusOK {
		t.Fatalf("verify: %d %s", st, pending)
	}
	checkShape(t, "verify answer while PENDING", example202, pending)

	// Verify once COMPLETED: the verify example's shape.
	e.clock.Advance(10 * time.Minute)
	st, completed := e.do(http.MethodGet, oneflowsim.PathRecharge+"/"+id, bearer(tok), "")
	if st != http.StatusOK {
		t.Fatalf("verify: %d %s", st, completed)
	}
	checkShape(t, "verify answer once COMPLETED", readUpstream(t, "verify_response.json"), completed)
	if !strings.Contains(string(completed), `"status":"COMPLETED"`) {
		t.Errorf("not COMPLETED: %s", completed)
	}
}

func TestContractCompletedByAction(t *testing.T) {
	// A recharge completed from the sandbox page answers the same shape.
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	d := e.rechargeNow(tok, `{"cardId":"`+oneflowsim.SeedCardID+`","amount":100.5}`)
	if _, err := e.harness.Run(t.Context(), "oneflow", "complete", map[string]string{"recharge_id": d.ID}); err != nil {
		t.Fatal(err)
	}
	_, b := e.do(http.MethodGet, oneflowsim.PathRecharge+"/"+d.ID, bearer(tok), "")
	checkShape(t, "verify answer of a card completed by the action", readUpstream(t, "verify_response.json"), b)
}

func TestContractLookup(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	// The document's request, as it is.
	st, b := e.do(http.MethodPost, oneflowsim.PathLookup, bearer(tok), string(readUpstream(t, "lookup_request.json")))
	if st != http.StatusOK {
		t.Fatalf("document's lookup request: status %d: %s", st, b)
	}
	// The document shows no lookup answer: this shape is NOTES.md's. [ours]
	notes := `{"success":true,"timestamp":1,"message":"success","data":{
		"customer":{"name":"","phoneNumber":""},
		"devices":[{"serialNumber":"","deviceType":"","balance":1}]}}`
	checkShape(t, "lookup answer", []byte(notes), b)
}

func TestContractErrorEnvelope(t *testing.T) {
	// Errors: the documented envelope with success false and data null. [ours]
	e := setup(t, oneflowsim.Options{})
	tok := e.token()
	shape := []byte(`{"success":false,"timestamp":1,"message":"x","data":null}`)
	for _, r := range []struct{ method, path, auth, body string }{
		{http.MethodPost, oneflowsim.PathToken, "", ""},
		{http.MethodPost, oneflowsim.PathLookup, "", `{}`},
		{http.MethodPost, oneflowsim.PathLookup, bearer(tok), `{}`},
		{http.MethodPost, oneflowsim.PathLookup, bearer(tok), `{"phoneNumber":"+254700000000"}`},
		{http.MethodPost, oneflowsim.PathRecharge, bearer(tok), `{"deviceId":"68753500140920"}`},
		{http.MethodPost, oneflowsim.PathRecharge, bearer(tok), `{"deviceId":"00000000000000","amount":1}`},
		{http.MethodGet, oneflowsim.PathRecharge + "/nope", bearer(tok), ""},
	} {
		_, b := e.do(r.method, r.path, r.auth, r.body)
		checkShape(t, "error answer of "+r.method+" "+r.path, shape, b)
	}
}
