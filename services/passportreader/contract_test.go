package passportreader

// Contract tests: every example of idv-sessions.txt, copied verbatim into
// testdata/, decodes in this client (the document's "..." placeholders
// included), what the client sends is the example, and every property of
// the session.get example lands in its own Session field.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"portal/services/upstream"
)

func TestDocExamples(t *testing.T) {
	createRes := readTestdata(t, "session_create_response.json")
	getReq := readTestdata(t, "session_get_request.json")
	getRes := readTestdata(t, "session_get_response.json")
	stateReq := readTestdata(t, "session_state_request.json")
	stateRes := readTestdata(t, "session_state_response.json")

	u := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/api/v1/session.create":
			writeJSON(w, 200, string(createRes))
		case "/api/v1/session.get":
			writeJSON(w, 200, string(getRes))
		case "/api/v1/session.state":
			writeJSON(w, 200, string(stateRes))
		default:
			writeJSON(w, 404, `{}`)
		}
	})
	c := fastClient(u.URL)
	ctx := context.Background()

	t.Run("session.create", func(t *testing.T) {
		got, err := c.CreateSession(ctx, CreateSessionRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if want := (CreatedSession{ID: 123, Token: "i_dI5hs7m..."}); got != want {
			t.Errorf("created = %+v, want %+v", got, want)
		}
		// The example sends no body; the document guarantees {} is accepted.
		if body := u.last().Body; string(body) != "{}" {
			t.Errorf("body = %s", body)
		}
	})

	t.Run("session.get", func(t *testing.T) {
		s, err := c.GetSession(ctx, 123)
		if err != nil {
			t.Fatal(err)
		}
		assertSameJSON(t, u.last().Body, getReq)
		if s.ID != 123 || s.State != StateCreated {
			t.Errorf("id %d state %q", s.ID, s.State)
		}
		if want := time.Date(2024, 1, 27, 0, 0, 0, 0, time.UTC); !s.Created.Equal(want) {
			t.Errorf("created = %v, want %v", s.Created, want)
		}
		if !s.Expires.IsZero() {
			t.Errorf(`expires "..." = %v, want zero`, s.Expires)
		}
		if s.Portrait != nil || s.Face != nil {
			t.Errorf(`images "..." = %q, %q, want nil`, s.Portrait, s.Face)
		}
		for name, v := range map[string]string{
			"Reference": s.Reference, "UserIP": s.UserIP, "UserAgent": s.UserAgent, "GivenNames": s.GivenNames,
			"Surname": s.Surname, "Nationality": s.Nationality, "Sex": s.Sex, "DateOfBirth": s.DateOfBirth,
			"PersonalNumber": s.PersonalNumber, "DocumentType": s.DocumentType, "DocumentNumber": s.DocumentNumber,
			"ExpiryDate": s.ExpiryDate, "IssuingCountry": s.IssuingCountry, "Issuer": s.Issuer,
		} {
			if v != "..." {
				t.Errorf("%s = %q, want the placeholder as sent", name, v)
			}
		}
		if !bytes.Equal(s.Raw, getRes) {
			t.Errorf("Raw is not the answer as received:\n%s", s.Raw)
		}
	})

	t.Run("session.state", func(t *testing.T) {
		st, err := c.SessionState(ctx, 123)
		if err != nil {
			t.Fatal(err)
		}
		assertSameJSON(t, u.last().Body, stateReq)
		if st != StateCreated {
			t.Errorf("state = %q", st)
		}
	})
}

func TestDocErrorExample(t *testing.T) {
	body := readTestdata(t, "error_response.json")
	for _, ep := range endpoints() {
		t.Run(ep.name, func(t *testing.T) {
			u := answering(t, http.StatusNotFound, string(body))
			err := ep.call(context.Background(), fastClient(u.URL))
			if !errors.Is(err, upstream.ErrNotFound) || upstream.IsUnknown(err) {
				t.Fatalf("err = %v, want upstream.ErrNotFound", err)
			}
			if got, want := err.Error(), "passportreader: not found: HTTP 404 Not Found: SessionNotFound: No session found with id: 123"; got != want {
				t.Errorf("text = %q, want %q", got, want)
			}
		})
	}
}

// sessionFields maps every property of the session.get example to the
// Session field that carries it.
var sessionFields = map[string]string{
	"id": "ID", "created": "Created", "expires": "Expires", "state": "State", "reference": "Reference",
	"user_ip": "UserIP", "user_agent": "UserAgent", "given_names": "GivenNames", "surname": "Surname",
	"nationality": "Nationality", "sex": "Sex", "date_of_birth": "DateOfBirth", "personal_number": "PersonalNumber",
	"document_type": "DocumentType", "document_number": "DocumentNumber", "expiry_date": "ExpiryDate",
	"issuing_country": "IssuingCountry", "issuer": "Issuer", "portrait": "Portrait", "face": "Face",
}

// TestEveryDocumentedPropertyIsRead gives each property of the example a
// value of its own and finds it in the right field: a misspelt tag or two
// fields swapped fail here.
func TestEveryDocumentedPropertyIsRead(t *testing.T) {
	example := jsonLeaves(t, readTestdata(t, "session_get_response.json"))
	keys := make([]string, 0, len(example))
	for k := range example {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	obj := map[string]any{}
	want := map[string]any{}
	for i, k := range keys {
		name, ok := sessionFields[k]
		if !ok {
			t.Errorf("the example's %q has no Session field", k)
			continue
		}
		switch name {
		case "ID":
			obj[k], want[name] = json.Number("9007199254740995"), int64(9007199254740995)
		case "Created", "Expires":
			ts := time.Date(2001+i, time.Month(i%12+1), 3, 4, 5, i, 0, time.UTC)
			obj[k], want[name] = ts.Format("2006-01-02T15:04:05Z"), ts
		case "Portrait", "Face":
			img := []byte("img-" + k)
			obj[k], want[name] = base64.StdEncoding.EncodeToString(img), img
		default:
			obj[k], want[name] = "v-"+k, "v-"+k
		}
	}
	if len(sessionFields) != len(keys) {
		t.Errorf("the example has %d properties, the table %d", len(keys), len(sessionFields))
	}
	obj["an_undocumented_extra"] = "ignored"
	body, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	s, err := decodeSession(body)
	if err != nil {
		t.Fatal(err)
	}
	v := reflect.ValueOf(s)
	for name, w := range want {
		got := v.FieldByName(name).Interface()
		if tm, ok := got.(time.Time); ok {
			if !tm.Equal(w.(time.Time)) {
				t.Errorf("%s = %v, want %v", name, tm, w)
			}
			continue
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s = %#v, want %#v", name, got, w)
		}
	}
}

func TestTimestampForms(t *testing.T) {
	want := time.Date(2024, 1, 27, 8, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{`"2024-01-27T08:30:00Z"`, want},
		{`"2024-01-27T08:30:00.000Z"`, want},
		{`"2024-01-27T10:30:00+02:00"`, want},
		{`"2024-01-27T08:30:00"`, want}, // no zone: the document says times are UTC
		{`" 2024-01-27T08:30:00Z "`, want},
		{`"..."`, time.Time{}},
		{`""`, time.Time{}},
		{`null`, time.Time{}},
		{`"yesterday"`, time.Time{}},
		{`"2024-01-27"`, time.Time{}},
	} {
		s, err := decodeSession([]byte(`{"id":1,"state":"CREATED","created":` + tc.in + `}`))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !s.Created.Equal(tc.want) || (!s.Created.IsZero() && s.Created.Location() != time.UTC) {
			t.Errorf("%s: created = %v, want %v", tc.in, s.Created, tc.want)
		}
	}
	// Absent altogether.
	if s, err := decodeSession([]byte(`{"id":1,"state":"CREATED"}`)); err != nil || !s.Created.IsZero() || !s.Expires.IsZero() {
		t.Errorf("absent times: %v %v %v", s.Created, s.Expires, err)
	}
}

func TestImageForms(t *testing.T) {
	img := []byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01>>>???!") // 19 bytes: padded
	std := base64.StdEncoding.EncodeToString(img)
	url := base64.URLEncoding.EncodeToString(img)
	if std == url {
		t.Fatal("test image must differ between the alphabets")
	}
	for _, tc := range []struct {
		name, in string
		want     []byte
	}{
		{"standard", std, img},
		{"standard unpadded", strings.TrimRight(std, "="), img},
		{"url", url, img},
		{"url unpadded", strings.TrimRight(url, "="), img},
		{"data URL", "data:image/jpeg;base64," + std, img},
		{"data URL upper case", "DATA:image/png;BASE64," + std, img},
		{"line breaks", std[:8] + "\r\n" + std[8:16] + "\n " + std[16:], img},
		{"surrounding space", "  " + std + "\n", img},
		{"placeholder", "...", nil},
		{"ellipsis", "…", nil},
		{"empty", "", nil},
		{"not base64", "this is not an image!", nil},
		{"mixed alphabets", "+-+-", nil},
		{"data URL not base64", "data:image/png,%89PNG", nil},
		{"data URL no comma", "data:image/png;base64", nil},
		{"decodes to nothing", "====", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeImage(tc.in); !bytes.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Errorf("decodeImage(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestNullsAreEmpty: null for any property reads as absent.
func TestNullsAreEmpty(t *testing.T) {
	obj := map[string]any{"id": 5, "state": "FAILED"}
	for k := range sessionFields {
		if k != "id" && k != "state" {
			obj[k] = nil
		}
	}
	b, _ := json.Marshal(obj)
	s, err := decodeSession(b)
	if err != nil {
		t.Fatal(err)
	}
	s.Raw = nil
	if want := (Session{ID: 5, State: StateFailed}); fmt.Sprintf("%#v", s) != fmt.Sprintf("%#v", want) {
		t.Errorf("session = %#v", s)
	}
}
