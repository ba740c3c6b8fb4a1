package oneflowsim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox/oneflowsim"
	"portal/services/sandbox/simtest"
)

// Contract tests: the simulator's real answers have exactly the keys and
// JSON types of the document's examples (testdata/upstream/oneflow), and it
// accepts the document's example requests as they are.

func TestContractTokenResponse(t *testing.T) {
	e := setup(t, oneflowsim.Options{})
	st, b := e.do(http.MethodPost, oneflowsim.PathToken, basic(oneflowsim.DefaultClientID, oneflowsim.DefaultClientSecret), "")
	if st != http.StatusOK {
		t.Fatalf("status %d", st)
	}
	example := readUpstream(t, "token_response.json")
	simtest.CheckShape(t, "token answer", example, b)
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
	simtest.CheckShape(t, "recharge 202 answer", example202, accepted)

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
	simtest.CheckShape(t, "verify answer while PENDING", example202, pending)

	// Verify once COMPLETED: the verify example's shape.
	e.clock.Advance(10 * time.Minute)
	st, completed := e.do(http.MethodGet, oneflowsim.PathRecharge+"/"+id, bearer(tok), "")
	if st != http.StatusOK {
		t.Fatalf("verify: %d %s", st, completed)
	}
	simtest.CheckShape(t, "verify answer once COMPLETED", readUpstream(t, "verify_response.json"), completed)
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
	simtest.CheckShape(t, "verify answer of a card completed by the action", readUpstream(t, "verify_response.json"), b)
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
	simtest.CheckShape(t, "lookup answer", []byte(notes), b)
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
		simtest.CheckShape(t, "error answer of "+r.method+" "+r.path, shape, b)
	}
}
