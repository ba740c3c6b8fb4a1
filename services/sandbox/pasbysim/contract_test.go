package pasbysim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"portal/services/sandbox/pasbysim"
	"portal/services/sandbox/simtest"
)

// Contract tests: the simulator's real answers have exactly the keys and
// JSON types of the documents' examples (testdata/upstream/pasby), and it
// accepts the documents' example requests as they are.

// contractEnv is a simulator whose webhooks never leave the process: the
// documents' examples name real-looking hosts.
func contractEnv(t *testing.T) *env {
	return setup(t, pasbysim.Options{HTTPClient: simtest.OfflineClient()})
}

// postBoth posts body to the v2 path and its v1 mirror and returns both
// answers, checking the status.
func (e *env) postBoth(v2path, v1path, body string, want int) (v2, v1 []byte) {
	e.t.Helper()
	st, v2 := e.v2(v2path, body)
	if st != want {
		e.t.Fatalf("%s: %d %s", v2path, st, v2)
	}
	st, v1 = e.v1(e.token(), v1path, body)
	if st != want {
		e.t.Fatalf("%s: %d %s", v1path, st, v1)
	}
	return v2, v1
}

func TestContractSigning(t *testing.T) {
	e := contractEnv(t)
	example := readUpstream(t, "signing_response_201.json")
	v2, v1 := e.postBoth(pasbysim.PathV2Signing, pasbysim.PathV1Signing, string(readUpstream(t, "signing_request.json")), http.StatusCreated)
	for _, a := range []struct {
		version string
		body    []byte
	}{{"v2", v2}, {"v1", v1}} {
		simtest.CheckShape(t, a.version+" signing answer", example, a.body)
		// Values the documents fix, and the echo of the request.
		simtest.SameValues(t, a.version+" signing answer", example, a.body,
			"status", "reason", "data.request.to", "data.request.destination", "data.request.handled",
			"data.request.file", "data.request.hook", "data.request.request.client", "data.request.request.app")
		if v := decodeEnvelope(t, a.body).Version; v != a.version {
			t.Errorf("version %q, want %q", v, a.version)
		}
	}
}

func TestContractReview(t *testing.T) {
	e := contractEnv(t)
	example := readUpstream(t, "review_response_201.json")
	v2, v1 := e.postBoth(pasbysim.PathV2Review, pasbysim.PathV1Review, string(readUpstream(t, "review_request.json")), http.StatusCreated)
	for _, body := range [][]byte{v2, v1} {
		simtest.CheckShape(t, "review answer", example, body)
		simtest.SameValues(t, "review answer", example, body,
			"status", "reason", "data.request.to", "data.request.destination", "data.request.handled", "data.request.mode",
			"data.request.file", "data.request.hook", "data.request.signee",
			"data.request.statusLog.0.nin", "data.request.statusLog.0.status",
			"data.request.request.client", "data.request.request.app")
		var r createResult
		decodeData(t, body, &r)
		if r.Link != e.base+"/contract/"+r.Request.ID || r.Request.EXP-r.Request.IAT != 1707370700-1707025100 {
			t.Errorf("link %q, exp - iat %d", r.Link, r.Request.EXP-r.Request.IAT)
		}
	}
}

// refreshSignees are the refresh example's two signees, as a review
// request would send them.
func refreshSignees(t *testing.T) []signeeIn {
	var ex struct {
		Data struct {
			Doc struct {
				Signee []signeeIn `json:"signee"`
			} `json:"doc"`
		} `json:"data"`
	}
	if err := json.Unmarshal(readUpstream(t, "refresh_response_200.json"), &ex); err != nil || len(ex.Data.Doc.Signee) != 2 {
		t.Fatalf("refresh example: %v", err)
	}
	return ex.Data.Doc.Signee
}

func TestContractRefreshCompleted(t *testing.T) {
	e := contractEnv(t)
	example := readUpstream(t, "refresh_response_200.json")
	signees := refreshSignees(t)
	d, _ := e.createReview(signees...)
	for _, sg := range signees {
		e.sign(d.ID, sg.NIN)
	}
	v2, v1 := e.postBoth(pasbysim.PathV2Refresh, pasbysim.PathV1Refresh, `{ "flow": "`+d.ID+`" }`, http.StatusOK)
	for _, body := range [][]byte{v2, v1} {
		simtest.CheckShape(t, "refresh answer of a completed review", example, body)
		simtest.SameValues(t, "refresh answer", example, body,
			"status", "reason", "data.doc.to", "data.doc.destination", "data.doc.mode", "data.doc.handled",
			"data.doc.signee.0.title", "data.doc.signee.0.name", "data.doc.signee.0.nin", "data.doc.signee.0.representing",
			"data.doc.signee.0.type", "data.doc.signee.0.email", "data.doc.signee.1.name", "data.doc.signee.1.type",
			"data.doc.signatures.0.nin", "data.doc.signatures.0.name", "data.doc.signatures.0.representing",
			"data.doc.signatures.1.representing")
	}
	// Not the example's value: the sandbox's domain is "test" (NOTES.md:
	// test|live). [ours]
	if simtest.At(simtest.DecodeAny(t, v2), "data.doc.domain") != "test" {
		t.Errorf("domain: %s", v2)
	}

	// A completed simple signing has the same shape.
	s := e.createSigning("12345678901", "98765432109")
	e.sign(s.ID, "12345678901")
	e.sign(s.ID, "98765432109")
	_, b := e.v2(pasbysim.PathV2Refresh, `{"flow":"`+s.ID+`"}`)
	simtest.CheckShape(t, "refresh answer of a completed simple signing", example, b)
}

func TestContractRefreshPending(t *testing.T) {
	// Before completion, file.stamped, signedAt and ip do not exist yet
	// ("present after completion on refresh"); nothing else differs.
	e := contractEnv(t)
	example := readUpstream(t, "refresh_response_200.json")
	signees := refreshSignees(t)
	d, _ := e.createReview(signees...)
	_, b := e.v2(pasbysim.PathV2Refresh, `{"flow":"`+d.ID+`"}`)
	simtest.CheckShapeExcept(t, "refresh answer before any signature", example, b,
		"$.data.doc.file.stamped: missing",
		"$.data.doc.signatures: empty, cannot check its elements",
		"$.data.doc.signee[0].ip: missing", "$.data.doc.signee[0].signedAt: missing",
		"$.data.doc.signee[1].ip: missing", "$.data.doc.signee[1].signedAt: missing")

	e.sign(d.ID, signees[0].NIN)
	_, b = e.v2(pasbysim.PathV2Refresh, `{"flow":"`+d.ID+`"}`)
	simtest.CheckShapeExcept(t, "refresh answer after one signature", example, b,
		"$.data.doc.file.stamped: missing",
		"$.data.doc.signee[1].ip: missing", "$.data.doc.signee[1].signedAt: missing")
}

func TestContractExampleRequestsRead(t *testing.T) {
	// The documents' refresh, ping and cancel requests, as they are, are
	// read (their ids are simply unknown here).
	e := contractEnv(t)
	for _, c := range []struct{ path, file string }{
		{pasbysim.PathV2Refresh, "refresh_request.json"},
		{pasbysim.PathV2Ping, "flow_ping_request.json"},
		{pasbysim.PathV2Cancel, "flow_cancel_request.json"},
	} {
		st, b := e.v2(c.path, string(readUpstream(t, c.file)))
		wantError(t, st, b, http.StatusBadRequest, "failed", "invalid_request", "Flow request with such id does not exists")
	}
}

// Shapes the documents do not show. They are ours, written down here so a
// change to them is deliberate. [ours]
const (
	oursError    = `{"status":"failed","reason":"x","type":"param_error","version":"v2"}`
	oursFlowReq  = `{"reference":"req_1-abcd","requester":"app_x","requestee":"","mode":"signature","data":{"document":"doc_x","title":"t"},"cancelled":false,"onsession":false,"iat":1}`
	oursAuthData = `{"status":"successful","reason":"x","data":{"token":"a.b.c"},"version":"v1"}`
)

// oursDocView is the ping view of a document: the refresh object plus
// reference, iat, exp, lut, cancelled, onsession (and signature, signedAt
// once completed).
func oursDocView(t *testing.T, completed bool) []byte {
	doc := simtest.At(simtest.DecodeAny(t, readUpstream(t, "refresh_response_200.json")), "data.doc").(map[string]any)
	doc["reference"] = ""
	doc["cancelled"] = false
	doc["onsession"] = false
	for _, k := range []string{"iat", "exp", "lut"} {
		doc[k] = json.Number("1")
	}
	if completed {
		doc["signature"] = ""
		doc["signedAt"] = json.Number("1")
	}
	b, _ := json.Marshal(map[string]any{"status": "", "reason": "", "version": "", "data": map[string]any{"request": doc}})
	return b
}

func TestContractOursFlowShapes(t *testing.T) {
	e := contractEnv(t)
	signees := refreshSignees(t)
	d, _ := e.createReview(signees...)
	flowID := e.doc(d.ID).Signees[0].FlowID

	_, b := e.v2(pasbysim.PathV2Ping, `{"request":"`+d.ID+`"}`)
	simtest.CheckShapeExcept(t, "ping of a pending document", oursDocView(t, false), b,
		"$.data.request.file.stamped: missing",
		"$.data.request.signatures: empty, cannot check its elements",
		"$.data.request.signee[0].ip: missing", "$.data.request.signee[0].signedAt: missing",
		"$.data.request.signee[1].ip: missing", "$.data.request.signee[1].signedAt: missing")

	_, b = e.v2(pasbysim.PathV2Ping, `{"request":"`+flowID+`"}`)
	simtest.CheckShape(t, "ping of a flow request", []byte(`{"status":"","reason":"","data":{"request":`+oursFlowReq+`},"version":""}`), b)

	for _, sg := range signees {
		e.sign(d.ID, sg.NIN)
	}
	_, b = e.v2(pasbysim.PathV2Ping, `{"request":"`+d.ID+`"}`)
	simtest.CheckShape(t, "ping of a completed document", oursDocView(t, true), b)

	signedFlow := strings.Replace(oursFlowReq, `"iat":1`, `"iat":1,"signature":"s","signedAt":1`, 1)
	_, b = e.v2(pasbysim.PathV2Ping, `{"request":"`+flowID+`"}`)
	simtest.CheckShape(t, "ping of a signed flow request", []byte(`{"status":"","reason":"","data":{"request":`+signedFlow+`},"version":""}`), b)

	// cancel: 201 with data.model, the ping view.
	d2, _ := e.createReview(signees...)
	st, b := e.v2(pasbysim.PathV2Cancel, `{"request":"`+d2.ID+`"}`)
	if st != http.StatusCreated {
		t.Fatalf("cancel: %d %s", st, b)
	}
	model := strings.Replace(string(oursDocView(t, false)), `"data":{"request":`, `"data":{"model":`, 1)
	simtest.CheckShapeExcept(t, "cancel answer", []byte(model), b,
		"$.data.model.file.stamped: missing",
		"$.data.model.signatures: empty, cannot check its elements",
		"$.data.model.signee[0].ip: missing", "$.data.model.signee[0].signedAt: missing",
		"$.data.model.signee[1].ip: missing", "$.data.model.signee[1].signedAt: missing")

	_, b = e.api(http.MethodGet, pasbysim.PathV1Authorize+"?sub=s&app=a", v2Headers(), "")
	simtest.CheckShape(t, "authorize answer", []byte(oursAuthData), b)

	for _, r := range []struct{ path, body string }{
		{pasbysim.PathV2Ping, `{"request":"nope"}`},
		{pasbysim.PathV2Refresh, `{"flow":"` + flowID + `"}`},
		{pasbysim.PathV2Signing, `{}`},
		{pasbysim.PathV2Signing, `{"to":["12345678901"],"file":{"url":"https://x.example/a.pdf","title":"T"}}`},
	} {
		_, b := e.v2(r.path, r.body)
		simtest.CheckShape(t, "error answer of "+r.path, []byte(oursError), b)
	}
	_, b = e.api(http.MethodPost, pasbysim.PathV2Ping, nil, `{}`)
	simtest.CheckShape(t, "401 answer", []byte(oursError), b)
}
