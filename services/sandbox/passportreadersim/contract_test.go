package passportreadersim_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/services/sandbox/passportreadersim"
	"portal/services/sandbox/simtest"
)

// The examples of idv-sessions.txt, verbatim (its "..." placeholders are
// strings, so they are valid JSON).
const (
	docCreateResponse = `{ "id": 123, "token": "i_dI5hs7m..." }`
	docGetRequest     = `{ "id": 123 }`
	docGetResponse    = `{ "id": 123, "created": "2024-01-27T00:00:00Z", "expires": "...", "state": "CREATED", "reference": "...", "user_ip": "...", "user_agent": "...", "given_names": "...", "surname": "...", "nationality": "...", "sex": "...", "date_of_birth": "...", "personal_number": "...", "document_type": "...", "document_number": "...", "expiry_date": "...", "issuing_country": "...", "issuer": "...", "portrait": "...", "face": "..." }`
	docStateResponse  = `{ "state": "CREATED" }`
	docErrorResponse  = `{ "error_message": "No session found with id: 123", "error_name": "SessionNotFound" }`
)

func jsonInt(n int64) json.Number { return json.Number(strconv.FormatInt(n, 10)) }

// kinds maps each key of a flat JSON object to its JSON type.
func kinds(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range decodeNumbers(t, b) {
		kind := simtest.JSONKind(v)
		if kind == "object" || kind == "array" {
			kind = "nested" // "Responses are always flat"
		}
		out[k] = kind
	}
	return out
}

// sameShape fails unless got has exactly the keys of the document's
// example want, each of the same JSON type.
func sameShape(t *testing.T, what, want string, got []byte) {
	t.Helper()
	w, g := kinds(t, []byte(want)), kinds(t, got)
	var diffs []string
	for k, wk := range w {
		switch gk, ok := g[k]; {
		case !ok:
			diffs = append(diffs, k+": missing")
		case gk != wk:
			diffs = append(diffs, k+": "+gk+", want "+wk)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			diffs = append(diffs, k+": not in the document's example")
		}
	}
	if len(diffs) > 0 {
		sort.Strings(diffs)
		t.Fatalf("%s differs from the document:\n%s\n%s", what, strings.Join(diffs, "\n"), got)
	}
}

func TestContractShapes(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	st, b := e.call(passportreadersim.PathCreate, "")
	if st != http.StatusOK {
		t.Fatalf("create: %d %s", st, b)
	}
	sameShape(t, "session.create", docCreateResponse, b)
	var c created
	_ = json.Unmarshal(b, &c)

	get := func(what string) {
		t.Helper()
		st, b := e.call(passportreadersim.PathGet, idBody(c.ID))
		if st != http.StatusOK {
			t.Fatalf("get: %d %s", st, b)
		}
		sameShape(t, "session.get ("+what+")", docGetResponse, b)
		st, b = e.call(passportreadersim.PathState, idBody(c.ID))
		if st != http.StatusOK {
			t.Fatalf("state: %d %s", st, b)
		}
		sameShape(t, "session.state ("+what+")", docStateResponse, b)
	}
	get("created")
	e.must(e.sim.Initiate(c.ID))
	get("initiated")
	e.must(e.sim.Complete(c.ID))
	get("completed")
	e.must(e.sim.Approve(c.ID))
	get("approved")

	st, b = e.call(passportreadersim.PathGet, docGetRequest)
	if st != http.StatusNotFound {
		t.Fatalf("get 123: %d %s", st, b)
	}
	sameShape(t, "error", docErrorResponse, b)
	if !bytes.Equal(b, compact(t, docErrorResponse)) {
		t.Fatalf("error %s, want the document's %s", b, docErrorResponse)
	}
}

func compact(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestContractCurlExample sends what the document's curl example sends:
// -d with a heredoc is JSON with a trailing newline, labelled
// application/x-www-form-urlencoded.
func TestContractCurlExample(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create("")
	for _, path := range []string{passportreadersim.PathGet, passportreadersim.PathState} {
		req, _ := http.NewRequest(http.MethodPost, e.base+path, strings.NewReader("{ \"id\": "+strconv.FormatInt(c.ID, 10)+" }\n"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if b := readAll(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
}

// TestLargeIDs checks that ids above 2^53, where a float64 loses digits,
// are written as plain JSON integers and accepted back exactly.
func TestLargeIDs(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	const twoTo53 = 1 << 53
	intRe := regexp.MustCompile(`^[1-9][0-9]*$`)
	var big int64
	for range 50 { // each id is above 2^53 with probability 1 - 2^-10
		st, b := e.call(passportreadersim.PathCreate, "")
		if st != http.StatusOK {
			t.Fatalf("create: %d %s", st, b)
		}
		n, _ := decodeNumbers(t, b)["id"].(json.Number)
		if !intRe.MatchString(string(n)) {
			t.Fatalf("id %q is not a plain positive JSON integer: %s", n, b)
		}
		id, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			t.Fatalf("id %q: %v", n, err)
		}
		if id > twoTo53 {
			big = id
			break
		}
	}
	if big == 0 {
		t.Fatal("no id above 2^53 in 50 sessions")
	}
	if int64(float64(big)) == big && int64(float64(big+1)) == big+1 {
		t.Fatalf("%d and its neighbour survive float64: not a useful test id", big)
	}
	e.must(e.sim.Initiate(big))
	st, b := e.call(passportreadersim.PathGet, idBody(big))
	if st != http.StatusOK || decodeNumbers(t, b)["id"] != jsonInt(big) {
		t.Fatalf("get %d: %d %s", big, st, b)
	}
	if s := e.state(big); s != passportreadersim.StateInitiated {
		t.Fatalf("state %s", s)
	}
	// The float64 neighbour a careless client would send is another id.
	near := int64(float64(big))
	if near != big {
		st, b := e.call(passportreadersim.PathState, idBody(near))
		wantError(t, st, b, http.StatusNotFound, "SessionNotFound", strconv.FormatInt(near, 10))
	}
}

func TestGetValues(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create(`{"reference":"ref-42","face_verification":true}`)
	tsRe := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

	d := e.get(c.ID)
	if d.ID != c.ID || d.State != "CREATED" || d.Reference != "ref-42" || !tsRe.MatchString(d.Created) || !tsRe.MatchString(d.Expires) {
		t.Fatalf("created %+v", d)
	}
	created, _ := time.Parse(time.RFC3339, d.Created)
	expires, _ := time.Parse(time.RFC3339, d.Expires)
	if !created.Equal(start) || expires.Sub(created) != 24*time.Hour {
		t.Fatalf("created %s expires %s", d.Created, d.Expires)
	}
	// Nothing about the person before they open it, nothing read before
	// the scan.
	empty := sessionData{ID: d.ID, Created: d.Created, Expires: d.Expires, State: "CREATED", Reference: "ref-42"}
	if d != empty {
		t.Fatalf("created %+v", d)
	}
	e.must(e.sim.Initiate(c.ID))
	d = e.get(c.ID)
	empty.State, empty.UserIP, empty.UserAgent = "INITIATED", d.UserIP, d.UserAgent
	if d != empty || d.UserIP == "" || d.UserAgent == "" {
		t.Fatalf("initiated %+v", d)
	}

	e.clock.Advance(90 * time.Second)
	e.must(e.sim.Complete(c.ID))
	d = e.get(c.ID)
	dateRe := regexp.MustCompile(`^\d{4}-\d\d-\d\d$`)
	countryRe := regexp.MustCompile(`^[A-Z]{2}$`)
	switch {
	case d.State != "COMPLETED" || d.Created != empty.Created || d.Expires != empty.Expires:
		t.Fatalf("completed %+v", d)
	case d.GivenNames == "" || d.Surname == "" || d.DocumentNumber == "" || d.Issuer == "":
		t.Fatalf("names and numbers %+v", d)
	case d.GivenNames != strings.ToUpper(d.GivenNames) || d.Surname != strings.ToUpper(d.Surname):
		t.Fatalf("names are not upper-case as in the MRZ: %+v", d)
	case !slices.Contains([]string{"MALE", "FEMALE", "UNSPECIFIED"}, d.Sex):
		t.Fatalf("sex %q", d.Sex)
	case !dateRe.MatchString(d.DateOfBirth) || !dateRe.MatchString(d.ExpiryDate):
		t.Fatalf("dates %q %q", d.DateOfBirth, d.ExpiryDate)
	case !countryRe.MatchString(d.Nationality) || !countryRe.MatchString(d.IssuingCountry):
		t.Fatalf("countries %q %q", d.Nationality, d.IssuingCountry)
	case d.DocumentType != "PASSPORT":
		t.Fatalf("document_type %q", d.DocumentType)
	}
	born, err1 := time.Parse("2006-01-02", d.DateOfBirth)
	expiry, err2 := time.Parse("2006-01-02", d.ExpiryDate)
	if err1 != nil || err2 != nil || !born.Before(start.AddDate(-18, 0, 0)) || !expiry.After(start) {
		t.Fatalf("born %s, passport expires %s", d.DateOfBirth, d.ExpiryDate)
	}
	for name, b64 := range map[string]string{"portrait": d.Portrait, "face": d.Face} {
		checkPNG(t, name, b64)
	}
	if d.Portrait == d.Face {
		t.Fatal("the selfie is the passport photo")
	}
	// The snapshot agrees, and the same session always gets the same
	// person.
	s := e.session(c.ID)
	if s.Identity.Surname != d.Surname || s.Identity.DocumentNumber != d.DocumentNumber ||
		base64.StdEncoding.EncodeToString(s.Portrait) != d.Portrait || len(s.Changes) != 3 || !s.Changes[2].At.Equal(start.Add(90*time.Second)) {
		t.Fatalf("snapshot %+v", s)
	}
	if again := e.get(c.ID); again != d {
		t.Fatal("session.get changed without a state change")
	}
}

func checkPNG(t *testing.T, name, b64 string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("%s is not standard base64: %v", name, err)
	}
	if len(raw) == 0 || len(raw) >= 20<<10 {
		t.Fatalf("%s is %d bytes", name, len(raw))
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() < 50 || b.Dy() <= b.Dx() {
		t.Fatalf("%s is %v: not a portrait", name, b)
	}
}

func TestNoFaceWithoutFaceVerification(t *testing.T) {
	e := setup(t, passportreadersim.Options{})
	c := e.create(`{"face_verification":false}`)
	e.must(e.sim.Initiate(c.ID))
	e.must(e.sim.Complete(c.ID))
	d := e.get(c.ID)
	if d.Face != "" || d.Portrait == "" {
		t.Fatalf("face %d bytes, portrait %d bytes", len(d.Face), len(d.Portrait))
	}
	checkPNG(t, "portrait", d.Portrait)
	if s := e.session(c.ID); s.Face != nil {
		t.Fatal("snapshot has a face")
	}
}

func TestPortraitsDiffer(t *testing.T) {
	// Different sessions get different people, most of the time: out of
	// ten, at least two distinct portraits and surnames.
	e := setup(t, passportreadersim.Options{})
	portraits, surnames := map[string]bool{}, map[string]bool{}
	for range 10 {
		c := e.create("")
		e.must(e.sim.Initiate(c.ID))
		e.must(e.sim.Complete(c.ID))
		d := e.get(c.ID)
		portraits[d.Portrait], surnames[d.Surname] = true, true
	}
	if len(portraits) < 2 || len(surnames) < 2 {
		t.Fatalf("%d portraits, %d surnames", len(portraits), len(surnames))
	}
}
