package pasby

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"portal/services/upstream"
)

// FuzzSSEReader feeds arbitrary streams, cut at arbitrary places, to the
// event-stream reader. It must never panic, must find the same events
// however the stream is cut, and every event must be well-formed.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"data: {\"a\":1}\n\n",
		"data: 1\r\n\r\ndata: 2\r\rdata: 3\n\n",
		"retry: 100\nid: x\nevent: e\ndata: a\ndata: b\n\n: c\n\n",
		"\xEF\xBB\xBFdata\n\ndata:\n\n",
		"id: a\x00b\ndata: \xff\xfe\n\n",
		"data: 1\r",
		"retry: 99999999999999999999999999\n\n",
		event(reqSigned),
	} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, cut uint8) {
		whole, rdWhole, errWhole := readAllEvents(t, &chunkReader{chunks: []string{string(b)}})
		n := int(cut)%16 + 1
		split, rdSplit, errSplit := readAllEvents(t, &chunkReader{chunks: splitEvery(string(b), n)})
		if (errWhole == nil) != (errSplit == nil) {
			t.Fatalf("errors differ: %v / %v", errWhole, errSplit)
		}
		if fmt.Sprint(whole) != fmt.Sprint(split) {
			t.Fatalf("cut every %d bytes: %q, whole: %q", n, split, whole)
		}
		r1, ok1 := rdWhole.Retry()
		r2, ok2 := rdSplit.Retry()
		if r1 != r2 || ok1 != ok2 || r1 < 0 {
			t.Fatalf("retry differs: %v %v / %v %v", r1, ok1, r2, ok2)
		}
		for _, ev := range whole {
			if ev.Type == "" || strings.ContainsAny(ev.Type, "\r\n") || strings.ContainsAny(ev.ID, "\r\n\x00") || strings.Contains(ev.Data, "\r") {
				t.Fatalf("bad event %q", ev)
			}
			if !utf8.ValidString(ev.Data) || !utf8.ValidString(ev.Type) || !utf8.ValidString(ev.ID) {
				t.Fatalf("invalid UTF-8 in %q", ev)
			}
			// What an event carries goes through the stream decoder too.
			if st, err := decodeStreamData(ev.Data, "req_1"); err == nil && !json.Valid(st.Raw) {
				t.Fatalf("Raw is not JSON: %q", st.Raw)
			}
		}
	})
}

var fuzzClient = New(Config{BaseURL: "https://s.pasby.africa", APIKey: "k", AppSecret: "s"})

// FuzzDecodeEnvelope feeds arbitrary bytes to every answer decoder. They
// must never panic, what they accept must be usable, and what they refuse
// must be a typed error or a malformed answer.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, name := range []string{"signing_response_201.json", "review_response_201.json", "refresh_response_200.json"} {
		b, err := readFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(200))
	}
	for _, s := range []string{pingPending, pingSigned, cancelOK, errExpired, errUnknown,
		`{"status":"successful","data":{"token":"a.b.c"}}`,
		`{"status":"mismatch","reason":{"x":[1]},"type":7}`,
		`{"status":"successful","data":{"request":{"iat":1e400,"signature":{}}}}`,
		`{"status": tru`, `null`, `[]`, `""`,
	} {
		f.Add([]byte(s), uint16(200))
		f.Add([]byte(s), uint16(401))
	}
	f.Fuzz(func(t *testing.T, b []byte, status uint16) {
		code := int(status)%500 + 100
		var checkAt func(what string, code int, err error)
		check := func(what string, err error) { checkAt(what, code, err) }
		checkAt = func(what string, code int, err error) {
			if err == nil {
				return
			}
			var me *upstream.MalformedError
			var rej *upstream.RejectedError
			switch {
			case errors.As(err, &me):
				_ = me.Error()
			case errors.As(err, &rej):
				if rej.Status != code || !strings.HasPrefix(err.Error(), "pasby: ") {
					t.Fatalf("%s: %v", what, err)
				}
			default:
				if !strings.HasPrefix(err.Error(), "pasby: ") {
					t.Fatalf("%s: untyped error %v", what, err)
				}
			}
			if len(err.Error()) > 4000 {
				t.Fatalf("%s: error text too long: %d", what, len(err.Error()))
			}
		}
		env, err := decodeEnvelope(code, b)
		check("envelope", err)
		if err == nil && (!isSuccessful(env.Status) || !json.Valid(env.Data)) {
			t.Fatalf("accepted %+v", env)
		}
		for _, key := range []string{"request", "doc"} {
			d, err := decodeDocumentResponse(code, b, key)
			check("document", err)
			if err == nil && (d.Document.ID == "" || !json.Valid(d.Raw)) {
				t.Fatalf("accepted %+v", d)
			}
		}
		st, err := decodeFlowResponse(code, b, "req_1")
		check("flow", err)
		if err == nil && (!json.Valid(st.Raw) || st.Request.Reference == "") {
			t.Fatalf("accepted %+v", st)
		}
		cr, err := decodeCancel(code, b)
		check("cancel", err)
		if err == nil && !json.Valid(cr.Raw) {
			t.Fatalf("accepted %+v", cr)
		}
		tok, err := decodeToken(code, b)
		check("token", err)
		if err == nil && (tok == "" || strings.ContainsAny(tok, "\r\n")) {
			t.Fatalf("accepted token %q", tok)
		}
		keyOut := func(m string) string { return upstream.CleanMessage(m, testKey) }
		check("status", statusError(code, b, keyOut))
		st2, err := decodeStreamData(string(b), "req_1")
		checkAt("stream", http.StatusOK, err)
		if err == nil {
			_ = st2.Final()
		}
		if code >= 400 {
			check("classify", fuzzClient.up.StatusErrorOf(&upstream.Response{Status: code, Body: b}))
		}
	})
}
