package pasby

// Contract tests: every example request and response of
// pasby-documents.txt and pasby-flow.txt, copied verbatim into testdata/,
// decodes in this client with every field at its value, and what the client
// sends is the example.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"
)

// leaves flattens a JSON document into path → value, numbers kept as their
// text so 1707025000 and "1707025000" differ.
func leaves(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out := map[string]any{}
	var walk func(string, any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if len(x) == 0 {
				out[p] = "{}"
			}
			for k, e := range x {
				walk(p+"."+k, e)
			}
		case []any:
			if len(x) == 0 {
				out[p] = "[]"
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", p, i), e)
			}
		case json.Number:
			out[p] = struct{ N string }{x.String()}
		default:
			out[p] = x
		}
	}
	walk("", v)
	return out
}

func isZeroLeaf(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == "" || x == "{}" || x == "[]"
	case bool:
		return !x
	case struct{ N string }:
		return x.N == "0"
	}
	return false
}

// assertCovers checks that every leaf of the document's example is in ours
// with the same value, and that ours adds nothing but zero values (fields
// the example does not show, serialised by our types).
func assertCovers(t *testing.T, example, ours []byte) {
	t.Helper()
	want, got := leaves(t, example), leaves(t, ours)
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: the document's field is lost (want %v)", p, want[p])
			continue
		}
		if !reflect.DeepEqual(g, want[p]) {
			t.Errorf("%s = %v, want %v", p, g, want[p])
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok && !isZeroLeaf(g) {
			t.Errorf("%s = %v: not in the document's example", p, g)
		}
	}
}

// assertSameJSON: the same leaves both ways.
func assertSameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	if !reflect.DeepEqual(leaves(t, got), leaves(t, want)) {
		t.Errorf("JSON differs:\n got %s\nwant %s", got, want)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// strictDecode refuses fields our request types do not know.
func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("the document's example does not fit %T: %v", v, err)
	}
}

// answering serves body with status for every API call and records it.
func answering(t *testing.T, status int, body []byte) *fake {
	return newFake(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { writeJSON(w, status, string(body)) })
}

// envelopeOf re-serialises a response the way the document shows it.
func envelopeOf(reason, version string, data any) map[string]any {
	return map[string]any{"status": "successful", "reason": reason, "data": data, "version": version}
}

func checkRaw(t *testing.T, raw json.RawMessage, body []byte) {
	t.Helper()
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(raw), bytes.TrimSpace(env.Data)) {
		t.Errorf("Raw is not the data object:\n%s", raw)
	}
}

func TestContractSigning(t *testing.T) {
	reqBody := readTestdata(t, "signing_request.json")
	resBody := readTestdata(t, "signing_response_201.json")
	var req SigningRequest
	strictDecode(t, reqBody, &req)
	assertSameJSON(t, mustJSON(t, req), reqBody)

	for _, version := range []string{"v2", "v1"} {
		u := answering(t, http.StatusCreated, resBody)
		c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.APIVersion = version })
		res, err := c.Signing(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		sent := u.lastAPI()
		if sent.Path != "/api/"+version+"/document/signing" {
			t.Errorf("path = %s", sent.Path)
		}
		assertSameJSON(t, sent.Body, reqBody)
		assertCovers(t, resBody, mustJSON(t, envelopeOf(res.Reason, res.Version, map[string]any{"request": res.Document})))
		checkRaw(t, res.Raw, resBody)

		d := res.Document
		want := Document{
			ID: "doc_1707025000-AaBb", To: []string{"12345678901"}, Destination: "mobile",
			IAT: 1707025000, Exp: 1707032200, LUT: 1707025001, Handled: false,
			File:    DocumentFile{Source: "https://your-cdn.com/documents/contract.pdf", Name: "Service Agreement"},
			Hook:    Webhook{Host: "https://your-app.com/pasby/events", Reference: "doc-contract-001"},
			Request: RequestContext{Client: "bcn_•••••••", App: "app_•••••••", IP: "203.0.113.10"},
		}
		if !reflect.DeepEqual(d, want) {
			t.Errorf("document = %+v\nwant %+v", d, want)
		}
		if res.Reason != "Signature request propagated" || res.Version != "v2" || res.Link != "" {
			t.Errorf("reason %q version %q link %q", res.Reason, res.Version, res.Link)
		}
		if d.Completed() {
			t.Error("a fresh signing request is not completed")
		}
	}
}

func TestContractReview(t *testing.T) {
	reqBody := readTestdata(t, "review_request.json")
	resBody := readTestdata(t, "review_response_201.json")
	var req ReviewRequest
	strictDecode(t, reqBody, &req)
	assertSameJSON(t, mustJSON(t, req), reqBody)
	if want := (ReviewSignee{Name: "Jane Doe", Type: SigneePerson, Email: "jane@example.com", NIN: "12345678901", Representing: "Jane Doe", Title: "Director"}); len(req.Signees) != 1 || req.Signees[0] != want {
		t.Errorf("signees = %+v", req.Signees)
	}

	u := answering(t, http.StatusCreated, resBody)
	c := fastClient(u.URL, 5*time.Second)
	res, err := c.Review(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	sent := u.lastAPI()
	if sent.Path != "/api/v2/document/review" {
		t.Errorf("path = %s", sent.Path)
	}
	assertSameJSON(t, sent.Body, reqBody)
	assertCovers(t, resBody, mustJSON(t, envelopeOf(res.Reason, res.Version, map[string]any{"link": res.Link, "request": res.Document})))
	checkRaw(t, res.Raw, resBody)

	want := Document{
		ID: "doc_1707025100-BbCc", To: []string{"12345678901"}, Destination: "mobile",
		IAT: 1707025100, Exp: 1707370700, LUT: 1707025100, Handled: false, Mode: "interface",
		File:      DocumentFile{Source: "https://your-cdn.com/documents/agreement.pdf", Name: "Partnership Agreement"},
		Hook:      Webhook{Host: "https://your-app.com/pasby/events", Reference: "review-001"},
		Signees:   []Signee{{Name: "Jane Doe", Representing: "Jane Doe", Title: "Director", Type: "person", Email: "jane@example.com", NIN: "12345678901"}},
		StatusLog: []StatusEntry{{NIN: "12345678901", Status: StatusStale, LUT: 1707025100}},
		Request:   RequestContext{Client: "bcn_•••••••", App: "app_•••••••", IP: "203.0.113.10"},
	}
	if !reflect.DeepEqual(res.Document, want) {
		t.Errorf("document = %+v\nwant %+v", res.Document, want)
	}
	if res.Link != "https://sign.with.pasby.africa/contract/doc_1707025100-BbCc" || res.Reason != "Document signing flow created" || res.Version != "v2" {
		t.Errorf("link %q reason %q version %q", res.Link, res.Reason, res.Version)
	}
}

func TestContractRefresh(t *testing.T) {
	reqBody := readTestdata(t, "refresh_request.json")
	resBody := readTestdata(t, "refresh_response_200.json")
	var req refreshBody
	strictDecode(t, reqBody, &req)

	u := answering(t, http.StatusOK, resBody)
	c := fastClient(u.URL, 5*time.Second)
	res, err := c.Refresh(context.Background(), req.Flow)
	if err != nil {
		t.Fatal(err)
	}
	sent := u.lastAPI()
	if sent.Path != "/api/v2/document/refresh" {
		t.Errorf("path = %s", sent.Path)
	}
	assertSameJSON(t, sent.Body, reqBody)
	assertCovers(t, resBody, mustJSON(t, envelopeOf(res.Reason, res.Version, map[string]any{"doc": res.Document})))
	checkRaw(t, res.Raw, resBody)

	want := Document{
		ID: "doc_1707025200-CcDd0123456789012345678901234567890", To: []string{"12345678901", "98765432109"},
		Destination: "mobile", Domain: "live", Mode: "interface", Handled: true,
		File: DocumentFile{Source: "https://your-cdn.com/documents/agreement.pdf", Name: "Service Agreement",
			Stamped: "https://cdn.pasby.africa/edoc/doc_1707025200-CcDd-stamped.pdf"},
		StatusLog: []StatusEntry{{NIN: "12345678901", Status: "stale", LUT: 1707025200}, {NIN: "98765432109", Status: "stale", LUT: 1707025200}},
		Signees: []Signee{
			{Title: "Signatory A", Name: "Jane Doe", NIN: "12345678901", Representing: "Acme Ltd", Type: "business", Email: "jane@example.com", SignedAt: 1707025300, IP: "203.0.113.10"},
			{Title: "Signatory B", Name: "John Smith", NIN: "98765432109", Representing: "John Smith", Type: "person", Email: "john@example.com", SignedAt: 1707025400, IP: "203.0.113.11"},
		},
		Signatures: []Signature{
			{NIN: "12345678901", Name: "Jane Doe", Representing: "Acme Ltd", IAT: 1707025300, Identification: "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", Signature: "<base64-encoded-signature>"},
			{NIN: "98765432109", Name: "John Smith", Representing: "John Smith", IAT: 1707025400, Identification: "ffffffff-gggg-hhhh-iiii-jjjjjjjjjjjj", Signature: "<base64-encoded-signature>"},
		},
		Hook: Webhook{Reference: "doc-contract-001", Host: "https://your-app.com/pasby/events"},
	}
	if !reflect.DeepEqual(res.Document, want) {
		t.Errorf("document = %+v\nwant %+v", res.Document, want)
	}
	if res.Reason != "Esignature refreshed successfully" || res.Version != "v2" {
		t.Errorf("reason %q version %q", res.Reason, res.Version)
	}
	if !res.Document.Completed() {
		t.Error("a document with a stamped file is completed")
	}
}

func TestContractFlowRequests(t *testing.T) {
	u := newFake(t, cannedAPI(t))
	for _, version := range []string{"v2", "v1"} {
		c := fastClient(u.URL, 5*time.Second, func(cfg *Config) { cfg.APIVersion = version })
		for _, tc := range []struct {
			file, path string
			call       func(id string) error
		}{
			{"flow_ping_request.json", "/flow/ping", func(id string) error { _, err := c.Ping(context.Background(), id); return err }},
			{"flow_cancel_request.json", "/flow/cancel", func(id string) error { _, err := c.Cancel(context.Background(), id); return err }},
			{"polling_request.json", "/flow/polling", func(id string) error { _, err := c.Polling(context.Background(), id); return err }},
		} {
			body := readTestdata(t, tc.file)
			var req flowBody
			strictDecode(t, body, &req)
			if err := tc.call(req.Request); err != nil {
				t.Fatalf("%s: %v", tc.file, err)
			}
			sent := u.lastAPI()
			if sent.Path != "/api/"+version+tc.path {
				t.Errorf("%s: path = %s", tc.file, sent.Path)
			}
			assertSameJSON(t, sent.Body, body)
		}
	}
}
