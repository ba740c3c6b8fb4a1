package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"portal/services/passportreader"
	"portal/services/sandbox"
	"portal/services/sandbox/passportreadersim"
	"portal/services/upstream"
)

// Contract tests between the PassportReader client
// (services/passportreader) and the PassportReader simulator
// (services/sandbox/passportreadersim), both checked against the examples
// of idv-sessions.txt in testdata/upstream/passportreader.

// Passages quoted by failure messages.
const (
	prDocCreate   = `idv-sessions.txt, Endpoints, session.create (example; "Request properties: callback_url, face_verification, reference")`
	prDocGet      = `idv-sessions.txt, Endpoints, session.get (example; "Request properties: id: integer (required)")`
	prDocState    = `idv-sessions.txt, Endpoints, session.state (example)`
	prDocAPI      = `idv-sessions.txt, "About the API": HTTP Basic auth (public key as user name, secret as password), "All API requests must be POST requests", URL <base>/api/[class].[method]`
	prDocError    = `idv-sessions.txt, "# error example" { "error_message": "No session found with id: 123", "error_name": "SessionNotFound" } and "404 Not Found"`
	prDocTypes    = `idv-sessions.txt: "Ids are always 64 bit integers", "Timestamps are always strings, in ISO 8601 format YYYY-MM-DDTHH:MM:SSZ", "Dates have the format YYYY-MM-DD", "Responses are always flat"`
	prNotesCreate = `NOTES.md (Identity-verification sessions): "session.create also accepts passport_only (bool) … the person is sent to https://passportreader.app/open?token=<token>&redirect_url=<url>"`
	prNotesStates = `NOTES.md (Identity-verification sessions): "States: CREATED, INITIATED (opened in the app), COMPLETED (scan done, awaiting decision), APPROVED (final success), FAILED, ABORTED, REJECTED (final failures)"`
	prNotesValues = `NOTES.md (Identity-verification sessions): "sex upper-case MALE/FEMALE/UNSPECIFIED; dates YYYY-MM-DD; document_type e.g. PASSPORT; portrait and face base64 images; created/expires YYYY-MM-DDTHH:MM:SSZ"`
	prNotesHooks  = `NOTES.md (Identity-verification sessions), "Callback": POST to callback_url on every state change with {"session_id": <int64>, "session_state": "<STATE>", "session_reference": "<your reference>"}, no signature; an older integration read "session_referenace"`
)

// prStart is the session.get example's "created".
var prStart = time.Date(2024, 1, 27, 0, 0, 0, 0, time.UTC)

var (
	prTimestampRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`)
	prDateRe      = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	prIntegerRe   = regexp.MustCompile(`^[1-9][0-9]*$`)
)

// prFields is what the client decoded from a session.get answer, keyed by
// the JSON key it came from.
func prFields(s passportreader.Session) map[string]any {
	return map[string]any{
		"id": s.ID, "created": s.Created, "expires": s.Expires, "state": s.State, "reference": s.Reference,
		"user_ip": s.UserIP, "user_agent": s.UserAgent, "given_names": s.GivenNames, "surname": s.Surname,
		"nationality": s.Nationality, "sex": s.Sex, "date_of_birth": s.DateOfBirth, "personal_number": s.PersonalNumber,
		"document_type": s.DocumentType, "document_number": s.DocumentNumber, "expiry_date": s.ExpiryDate,
		"issuing_country": s.IssuingCountry, "issuer": s.Issuer, "portrait": image(s.Portrait), "face": image(s.Face),
	}
}

func prCheckSession(t *testing.T, what string, s passportreader.Session, raw []byte, blame string) {
	t.Helper()
	checkFields(t, what, raw, prFields(s), nil, blame)
}

// prCallbackFields is what ParseCallback decoded, keyed by the JSON key;
// refKey is the key the reference came under.
func prCallbackFields(cb passportreader.Callback, refKey string) map[string]any {
	return map[string]any{"session_id": cb.SessionID, "session_state": cb.SessionState, refKey: cb.SessionReference}
}

func prTestClient(base, key, secret string) *passportreader.Client {
	return passportreader.New(passportreader.Config{
		BaseURL: base, PublicKey: key, Secret: secret, Timeout: 5 * time.Second,
		Retry: upstream.Retry{Attempts: 1}, // one try: a refusal must show as it is
	})
}

// ---- the documents' examples through the client ----------------------------

// TestPassportReaderExamples: the client sends the document's example
// requests for the example inputs, and decodes the example answers, the
// SessionNotFound error and the callbacks of NOTES.md field by field.
func TestPassportReaderExamples(t *testing.T) {
	t.Parallel()
	const key, secret = "public-key-contract", "secret-contract"
	file := func(name string) []byte { return upstreamFile(t, "passportreader", name) }

	// sent checks the request the client made: POST to the method's
	// path with Basic auth and the example body.
	sent := func(t *testing.T, s *standIn, method string, wantBody []byte, passage string) {
		t.Helper()
		r := s.last(t)
		if r.method != http.MethodPost || r.path != "/api/v1/"+method {
			t.Errorf("client: sent %s %s, want POST /api/v1/%s; %s", r.method, r.path, method, prDocAPI)
		}
		if !r.basic || r.user != key || r.pass != secret {
			t.Errorf("client: %s was sent without HTTP Basic auth of the public key and secret; %s", method, prDocAPI)
		}
		if !jsonEqual(t, r.body, wantBody) {
			t.Errorf("client: %s body is %s, want the example's %s; %s", method, r.body, bytes.TrimSpace(wantBody), passage)
		}
	}

	t.Run("session.create", func(t *testing.T) {
		doc := file("session_create_response.json")
		s := newStandIn(t, answerWith(http.StatusOK, doc))
		c, err := prTestClient(s.srv.URL, key, secret).CreateSession(ctxFor(t), passportreader.CreateSessionRequest{})
		if err != nil {
			t.Fatalf("client: CreateSession against the example answer: %v; %s", err, prDocCreate)
		}
		// The example sends no property: the body is the empty object.
		sent(t, s, "session.create", file("session_create_request.json"), prDocCreate)
		checkFields(t, "session.create answer", doc, map[string]any{"id": c.ID, "token": c.Token}, nil, "client: "+prDocCreate)

		// Every documented property, under the document's names.
		_, err = prTestClient(s.srv.URL, key, secret).CreateSession(ctxFor(t), passportreader.CreateSessionRequest{
			CallbackURL: "https://portal.example/callbacks/pr", FaceVerification: boolPtr(true), Reference: "ref-1", PassportOnly: boolPtr(false),
		})
		if err != nil {
			t.Fatalf("client: CreateSession with properties: %v", err)
		}
		sent(t, s, "session.create", []byte(`{"callback_url":"https://portal.example/callbacks/pr","face_verification":true,"reference":"ref-1","passport_only":false}`), prDocCreate+"; "+prNotesCreate)
	})

	t.Run("session.get", func(t *testing.T) {
		doc := file("session_get_response.json")
		s := newStandIn(t, answerWith(http.StatusOK, doc))
		got, err := prTestClient(s.srv.URL, key, secret).GetSession(ctxFor(t), 123)
		if err != nil {
			t.Fatalf("client: GetSession(123) against the example answer: %v; %s", err, prDocGet)
		}
		sent(t, s, "session.get", file("session_get_request.json"), prDocGet)
		prCheckSession(t, "session.get answer", got, doc, "client: "+prDocGet)
		// "..." stands for the value in the example: a "..." timestamp
		// or image has no value the client could show.
		checkPopulated(t, "session.get answer", got, map[string]bool{"Expires": true, "Portrait": true, "Face": true}, "client: "+prDocGet)
		if !bytes.Equal(got.Raw, doc) && !bytes.Equal(got.Raw, bytes.TrimSpace(doc)) {
			t.Errorf("client: Raw is not the answer as received")
		}
		if !got.Created.Equal(prStart) {
			t.Errorf("client: created = %s, want the example's 2024-01-27T00:00:00Z", got.Created)
		}
	})

	t.Run("session.state", func(t *testing.T) {
		doc := file("session_state_response.json")
		s := newStandIn(t, answerWith(http.StatusOK, doc))
		st, err := prTestClient(s.srv.URL, key, secret).SessionState(ctxFor(t), 123)
		if err != nil {
			t.Fatalf("client: SessionState(123) against the example answer: %v; %s", err, prDocState)
		}
		sent(t, s, "session.state", file("session_state_request.json"), prDocState)
		checkFields(t, "session.state answer", doc, map[string]any{"state": st}, nil, "client: "+prDocState)
	})

	t.Run("SessionNotFound", func(t *testing.T) {
		doc := file("error_session_not_found.json")
		// The document gives no status for its error example; 404 is its
		// "requested resource was not found". A 400 carrying the same
		// name must read the same.
		for _, code := range []int{http.StatusNotFound, http.StatusBadRequest} {
			s := newStandIn(t, answerWith(code, doc))
			c := prTestClient(s.srv.URL, key, secret)
			_, errG := c.GetSession(ctxFor(t), 123)
			_, errS := c.SessionState(ctxFor(t), 123)
			for name, err := range map[string]error{"GetSession": errG, "SessionState": errS} {
				if !errors.Is(err, upstream.ErrNotFound) {
					t.Errorf("client: %s answered %d with the example error: %v, want upstream.ErrNotFound; %s", name, code, err, prDocError)
					continue
				}
				if want := upstream.StatusDetail(code, "") + ": " + passportreader.SessionNotFound + ": No session found with id: 123"; !strings.Contains(err.Error(), want) {
					t.Errorf("client: %s: error %q, want it to say %q (the status and the example's error_name and error_message); %s", name, err, want, prDocError)
				}
			}
		}
	})

	t.Run("callbacks", func(t *testing.T) {
		for _, tc := range []struct{ file, refKey string }{
			{"callback.json", "session_reference"},
			{"callback_legacy.json", "session_referenace"},
		} {
			doc := file(tc.file)
			cb, err := passportreader.ParseCallback(doc)
			if err != nil {
				t.Errorf("client: ParseCallback(%s): %v; %s", tc.file, err, prNotesHooks)
				continue
			}
			checkFields(t, "callback "+tc.file, doc, prCallbackFields(cb, tc.refKey), nil, "client: "+prNotesHooks)
			checkPopulated(t, "callback "+tc.file, cb, nil, "client: "+prNotesHooks)
		}
	})
}

// ---- the simulator over HTTP -------------------------------------------------

// prEnv is a PassportReader simulator behind the harness on a real HTTP
// server, a callback receiver, and a client with the sandbox credentials.
type prEnv struct {
	t      *testing.T
	clk    *clock
	sim    *passportreadersim.Sim
	srv    *httptest.Server
	root   string // the simulator's root: <server>/sandbox/passportreader
	hooks  *receiver
	client *passportreader.Client
}

func newPREnv(t *testing.T, legacyKey bool) *prEnv {
	t.Helper()
	e := &prEnv{t: t, clk: &clock{t: prStart}}
	e.hooks = newReceiver()
	t.Cleanup(e.hooks.srv.Close) // runs last
	e.sim = passportreadersim.New(passportreadersim.Options{
		Now:                e.clk.Now,
		CallbackBackoff:    10 * time.Millisecond,
		LegacyReferenceKey: legacyKey,
	})
	h := sandbox.New("/sandbox")
	if err := h.Register(e.sim); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { _ = e.sim.Close() }) // runs first: ends callback deliveries
	e.root = e.srv.URL + "/sandbox/passportreader"
	e.client = prTestClient(e.root, passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret)
	return e
}

// callbackURL is where the session's callbacks go: the receiver, with a
// secret in the query as NOTES.md suggests.
func (e *prEnv) callbackURL() string {
	return e.hooks.srv.URL + "/passportreader/callback?secret=contract"
}

func (e *prEnv) must(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("simulator: %s: %v", what, err)
	}
}

// call posts body to an API method of the simulator with the sandbox
// credentials (or with auth, when given), without the client.
func (e *prEnv) call(t *testing.T, path string, body []byte, auth http.Header) (int, []byte) {
	t.Helper()
	h := auth
	if h == nil {
		h = http.Header{}
		req := &http.Request{Header: h}
		req.SetBasicAuth(passportreadersim.DefaultPublicKey, passportreadersim.DefaultSecret)
	}
	code, _, b := rawCall(t, http.MethodPost, e.root+path, body, h)
	return code, b
}

func idJSON(id int64) []byte { return []byte(`{"id":` + strconv.FormatInt(id, 10) + `}`) }

// TestPassportReaderSimulatorShapes: driven over HTTP without the client,
// the simulator answers session.create, session.get and session.state
// with exactly the examples' keys and JSON types, in every state, and
// refuses unknown ids and bad credentials with the example error's shape.
func TestPassportReaderSimulatorShapes(t *testing.T) {
	t.Parallel()
	e := newPREnv(t, false)
	file := func(name string) []byte { return upstreamFile(t, "passportreader", name) }
	createDoc, getDoc, stateDoc, errDoc := file("session_create_response.json"), file("session_get_response.json"),
		file("session_state_response.json"), file("error_session_not_found.json")

	create := func(t *testing.T, path string, body []byte) int64 {
		t.Helper()
		code, b := e.call(t, path, body, nil)
		if code != http.StatusOK {
			t.Fatalf("simulator: %s with %q answered %d %s; %s", path, body, code, b, prDocCreate)
		}
		checkShape(t, "session.create answer", createDoc, b, shapeRules{}, prDocCreate)
		m := jsonObject(t, "session.create answer", b)
		n, _ := m["id"].(json.Number)
		id, err := strconv.ParseInt(string(n), 10, 64)
		if !prIntegerRe.MatchString(string(n)) || err != nil {
			t.Fatalf("simulator: session.create id %s is not a positive 64-bit integer literal; %s", n, prDocTypes)
		}
		if str(m, "token") == "" {
			t.Errorf("simulator: session.create token is empty; %s", prDocCreate)
		}
		return id
	}

	t.Run("session.create", func(t *testing.T) {
		// The example request (no property), as {} and as no body at
		// all, on the versioned path of the endpoint examples and the
		// unversioned one of "The URL structure".
		for _, path := range []string{passportreadersim.PathCreate, passportreadersim.PathCreateUnversioned} {
			create(t, path, file("session_create_request.json"))
			create(t, path, nil)
		}
		id := create(t, passportreadersim.PathCreate, []byte(`{"callback_url":"https://portal.example/cb","face_verification":true,"reference":"ref-shape","passport_only":true}`))
		s, ok := e.sim.Session(id)
		if !ok || s.CallbackURL != "https://portal.example/cb" || !s.FaceVerification || s.Reference != "ref-shape" || !s.PassportOnly {
			t.Errorf("simulator: session.create did not keep its documented properties: %+v; %s; %s", s, prDocCreate, prNotesCreate)
		}
	})

	t.Run("session.get and session.state along the way", func(t *testing.T) {
		id := create(t, passportreadersim.PathCreate, []byte(`{"reference":"ref-states","face_verification":true}`))
		look := func(state string) map[string]any {
			t.Helper()
			for _, path := range []string{passportreadersim.PathState, passportreadersim.PathStateUnversioned} {
				code, b := e.call(t, path, idJSON(id), nil)
				if code != http.StatusOK {
					t.Fatalf("simulator: %s answered %d %s; %s", path, code, b, prDocState)
				}
				checkShape(t, "session.state answer ("+state+")", stateDoc, b, shapeRules{}, prDocState)
				if got := str(jsonObject(t, "session.state", b), "state"); got != state {
					t.Errorf("simulator: session.state = %q, want %q; %s", got, state, prNotesStates)
				}
			}
			code, b := e.call(t, passportreadersim.PathGet, idJSON(id), nil)
			if code != http.StatusOK {
				t.Fatalf("simulator: session.get answered %d %s; %s", code, b, prDocGet)
			}
			checkShape(t, "session.get answer ("+state+")", getDoc, b, shapeRules{}, prDocGet+"; "+prDocTypes)
			m := jsonObject(t, "session.get", b)
			if n, _ := m["id"].(json.Number); string(n) != strconv.FormatInt(id, 10) || str(m, "state") != state || str(m, "reference") != "ref-states" {
				t.Errorf("simulator: session.get id %v state %q reference %q, want %d %s ref-states; %s", m["id"], str(m, "state"), str(m, "reference"), id, state, prDocGet)
			}
			for _, k := range []string{"created", "expires"} {
				if !prTimestampRe.MatchString(str(m, k)) {
					t.Errorf("simulator: session.get %s = %q, want YYYY-MM-DDTHH:MM:SSZ; %s", k, str(m, k), prDocTypes)
				}
			}
			return m
		}
		look(passportreadersim.StateCreated)
		e.clk.Advance(time.Minute)
		e.must("Initiate", e.sim.Initiate(id))
		if m := look(passportreadersim.StateInitiated); str(m, "user_ip") == "" || str(m, "user_agent") == "" {
			t.Errorf("simulator: user_ip %q / user_agent %q empty once the session was opened; %s", str(m, "user_ip"), str(m, "user_agent"), prDocGet)
		}
		e.clk.Advance(time.Minute)
		e.must("Complete", e.sim.Complete(id))
		m := look(passportreadersim.StateCompleted)
		for _, k := range []string{"date_of_birth", "expiry_date"} {
			if !prDateRe.MatchString(str(m, k)) {
				t.Errorf("simulator: %s = %q, want YYYY-MM-DD; %s", k, str(m, k), prNotesValues)
			}
		}
		if sex := str(m, "sex"); sex != "MALE" && sex != "FEMALE" && sex != "UNSPECIFIED" {
			t.Errorf("simulator: sex = %q, want MALE, FEMALE or UNSPECIFIED; %s", sex, prNotesValues)
		}
		if str(m, "document_type") == "" || str(m, "portrait") == "" || str(m, "face") == "" || str(m, "surname") == "" {
			t.Errorf("simulator: document_type, portrait, face or surname empty after the scan (face_verification asked): %v; %s", m, prNotesValues)
		}
		e.clk.Advance(time.Minute)
		e.must("Approve", e.sim.Approve(id))
		look(passportreadersim.StateApproved)
	})

	t.Run("SessionNotFound", func(t *testing.T) {
		// The example request names session 123, which does not exist:
		// the answer is the example error, word for word.
		for _, path := range []string{passportreadersim.PathGet, passportreadersim.PathState} {
			code, b := e.call(t, path, file("session_get_request.json"), nil)
			if code != http.StatusNotFound || !jsonEqual(t, b, errDoc) {
				t.Errorf("simulator: %s for the example's id 123 answered %d %s, want 404 %s; %s", path, code, b, bytes.TrimSpace(errDoc), prDocError)
			}
			checkShape(t, path+" error", errDoc, b, shapeRules{}, prDocError)
		}
	})

	t.Run("401", func(t *testing.T) {
		wrong := http.Header{}
		(&http.Request{Header: wrong}).SetBasicAuth(passportreadersim.DefaultPublicKey, "secret-wrong")
		for _, path := range []string{passportreadersim.PathCreate, passportreadersim.PathGet, passportreadersim.PathState} {
			for name, h := range map[string]http.Header{"no credentials": {}, "a wrong secret": wrong} {
				code, b := e.call(t, path, []byte(`{"id":123}`), h)
				if code != http.StatusUnauthorized {
					t.Errorf("simulator: %s with %s answered %d %s, want 401; idv-sessions.txt: \"401 Unauthorized: No valid API credentials were provided\"", path, name, code, b)
				}
				// Only SessionNotFound is published: the same shape
				// is expected of every error.
				checkShape(t, path+" 401", errDoc, b, shapeRules{}, prDocError+" (the 401's error_name is [ours])")
			}
		}
	})
}

// ---- client against simulator ------------------------------------------------

// TestPassportReaderRoundTrip: our client against the simulator: create
// with every property, the /open link, the simulator driven to approval
// with its Go methods, get and state decoding every field the simulator
// filled, and the callbacks parsed by the client, under both spellings of
// the reference's key.
func TestPassportReaderRoundTrip(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		refKey := "session_reference"
		if legacy {
			refKey = "session_referenace"
		}
		t.Run(refKey, func(t *testing.T) {
			t.Parallel()
			prRoundTrip(t, legacy, refKey)
		})
	}
}

func prRoundTrip(t *testing.T, legacy bool, refKey string) {
	e := newPREnv(t, legacy)
	ctx := ctxFor(t)
	const blame = "client or simulator (the JSON is the simulator's; compare with " + prDocGet + ")"
	ref := "contract-" + refKey + "-7f3a9c"

	created, err := e.client.CreateSession(ctx, passportreader.CreateSessionRequest{
		CallbackURL: e.callbackURL(), FaceVerification: boolPtr(true), Reference: ref, PassportOnly: boolPtr(true),
	})
	if err != nil {
		t.Fatalf("client or simulator: CreateSession: %v; %s", err, prDocCreate)
	}
	id := created.ID
	snap, ok := e.sim.Session(id)
	if !ok {
		t.Fatalf("client: CreateSession returned id %d, the simulator has no such session (an id above 2^53 read through a float64?); %s", id, prDocTypes)
	}
	if snap.Token != created.Token || snap.Reference != ref || snap.CallbackURL != e.callbackURL() || !snap.FaceVerification || !snap.PassportOnly {
		t.Errorf("client or simulator: the simulator made %+v from our request, want token %q, reference %q, callback_url, face_verification and passport_only; %s; %s", snap, created.Token, ref, prDocCreate, prNotesCreate)
	}
	if calls := e.sim.CreateCalls(); calls != 1 {
		t.Errorf("client: CreateSession reached the simulator %d times, want once", calls)
	}

	state := func(want string) {
		t.Helper()
		st, err := e.client.SessionState(ctx, id)
		if err != nil || st != want {
			t.Errorf("client or simulator: SessionState = %q, %v, want %s; %s", st, err, want, prNotesStates)
		}
	}
	get := func(what string) passportreader.Session {
		t.Helper()
		s, err := e.client.GetSession(ctx, id)
		if err != nil {
			t.Fatalf("client or simulator: GetSession (%s): %v; %s", what, err, prDocGet)
		}
		prCheckSession(t, "session.get ("+what+")", s, s.Raw, blame)
		if s.ID != id || s.Reference != ref || !s.Created.Equal(prStart) || !s.Expires.After(s.Created) {
			t.Errorf("client or simulator: session.get (%s): id %d reference %q created %s expires %s, want %d, %q, %s and a later expiry; %s", what, s.ID, s.Reference, s.Created, s.Expires, id, ref, prStart, prDocGet)
		}
		return s
	}

	state(passportreader.StateCreated)
	s := get("CREATED")
	checkPopulated(t, "session.get (CREATED)", s, map[string]bool{
		"UserIP": true, "UserAgent": true, "GivenNames": true, "Surname": true, "Nationality": true, "Sex": true,
		"DateOfBirth": true, "PersonalNumber": true, "DocumentType": true, "DocumentNumber": true, "ExpiryDate": true,
		"IssuingCountry": true, "Issuer": true, "Portrait": true, "Face": true,
	}, blame)

	t.Run("open link", func(t *testing.T) {
		u := e.client.OpenURL(created.Token, "https://portal.example/verified?step=2")
		pu, err := url.Parse(u)
		if err != nil || pu.Path != "/sandbox/passportreader/open" || pu.Query().Get("token") != created.Token || pu.Query().Get("redirect_url") != "https://portal.example/verified?step=2" {
			t.Errorf("client: OpenURL = %s, want <root>/open?token=<token>&redirect_url=<url>; %s", u, prNotesCreate)
		}
		code, hdr, body := getPage(t, u)
		if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !strings.Contains(body, strconv.FormatInt(id, 10)) && !strings.Contains(body, ref) {
			t.Errorf("client or simulator: GET OpenURL answered %d %s, want the session's page; %s", code, hdr.Get("Content-Type"), prNotesCreate)
		}
	})

	// Opened in the app, scanned, approved.
	e.clk.Advance(90 * time.Second)
	e.must("Initiate", e.sim.Initiate(id))
	state(passportreader.StateInitiated)
	s = get("INITIATED")
	if s.UserIP == "" || s.UserAgent == "" {
		t.Errorf("simulator: user_ip %q user_agent %q once opened; %s", s.UserIP, s.UserAgent, prDocGet)
	}

	e.clk.Advance(2 * time.Minute)
	ident := passportreadersim.Identity{
		GivenNames: "ADA GRACE", Surname: "LOVELACE", Nationality: "GB", Sex: passportreadersim.SexFemale,
		DateOfBirth: "1990-12-10", PersonalNumber: "AB1234567", DocumentType: passportreadersim.DocumentTypePassport,
		DocumentNumber: "X12345678", ExpiryDate: "2031-06-30", IssuingCountry: "GB", Issuer: "HM PASSPORT OFFICE",
	}
	e.must("CompleteWith", e.sim.CompleteWith(id, ident))
	state(passportreader.StateCompleted)
	s = get("COMPLETED")
	snap, _ = e.sim.Session(id)
	want := map[string]string{
		"given_names": ident.GivenNames, "surname": ident.Surname, "nationality": ident.Nationality, "sex": ident.Sex,
		"date_of_birth": ident.DateOfBirth, "personal_number": ident.PersonalNumber, "document_type": ident.DocumentType,
		"document_number": ident.DocumentNumber, "expiry_date": ident.ExpiryDate, "issuing_country": ident.IssuingCountry,
		"issuer": ident.Issuer,
	}
	gotFields := prFields(s)
	for k, v := range want {
		if gotFields[k] != v {
			t.Errorf("client or simulator: after the scan %s = %v, want the scanned %q; %s", k, gotFields[k], v, prNotesValues)
		}
	}
	pngMagic := []byte("\x89PNG\r\n\x1a\n")
	if !bytes.Equal(s.Portrait, snap.Portrait) || !bytes.Equal(s.Face, snap.Face) || !bytes.HasPrefix(s.Portrait, pngMagic) || !bytes.HasPrefix(s.Face, pngMagic) {
		t.Errorf("client or simulator: portrait (%d bytes) / face (%d bytes) are not the simulator's images (%d / %d bytes); %s", len(s.Portrait), len(s.Face), len(snap.Portrait), len(snap.Face), prNotesValues)
	}

	e.clk.Advance(5 * time.Minute)
	e.must("Approve", e.sim.Approve(id))
	state(passportreader.StateApproved)
	s = get("APPROVED")
	checkPopulated(t, "session.get (APPROVED)", s, nil, blame)
	if !s.Final() {
		t.Errorf("client: APPROVED is not final; %s", prNotesStates)
	}

	// A second session without face verification or callback, scanned
	// with generated data and rejected.
	other, err := e.client.CreateSession(ctx, passportreader.CreateSessionRequest{Reference: ref + "-2"})
	if err != nil {
		t.Fatalf("client or simulator: CreateSession (second): %v", err)
	}
	e.must("Initiate", e.sim.Initiate(other.ID))
	e.must("Complete", e.sim.Complete(other.ID))
	e.must("Reject", e.sim.Reject(other.ID, "contract test"))
	s2, err := e.client.GetSession(ctx, other.ID)
	if err != nil {
		t.Fatalf("client or simulator: GetSession (second): %v", err)
	}
	prCheckSession(t, "session.get (REJECTED, generated scan)", s2, s2.Raw, blame)
	if s2.State != passportreader.StateRejected || !s2.Final() || s2.Face != nil || s2.Portrait == nil {
		t.Errorf("client or simulator: rejected session: state %q final %v face %d bytes portrait %d bytes, want REJECTED, final, no face (not asked), a portrait; %s", s2.State, s2.Final(), len(s2.Face), len(s2.Portrait), prNotesStates)
	}

	t.Run("errors", func(t *testing.T) {
		const unknown = 123 // the example's id; the simulator's are random
		_, errG := e.client.GetSession(ctx, unknown)
		_, errS := e.client.SessionState(ctx, unknown)
		for name, err := range map[string]error{"GetSession": errG, "SessionState": errS} {
			if !errors.Is(err, upstream.ErrNotFound) || !strings.Contains(err.Error(), upstream.StatusDetail(http.StatusNotFound, "")+": "+passportreader.SessionNotFound) {
				t.Errorf("client or simulator: %s(unknown) = %v, want ErrNotFound from a 404 SessionNotFound; %s", name, err, prDocError)
			}
		}
		bad := prTestClient(e.root, passportreadersim.DefaultPublicKey, "secret-wrong")
		_, errC := bad.CreateSession(ctx, passportreader.CreateSessionRequest{})
		_, errG = bad.GetSession(ctx, id)
		_, errS = bad.SessionState(ctx, id)
		for name, err := range map[string]error{"CreateSession": errC, "GetSession": errG, "SessionState": errS} {
			if !errors.Is(err, upstream.ErrBadCredentials) {
				t.Errorf("client or simulator: %s with a wrong secret = %v, want upstream.ErrBadCredentials; idv-sessions.txt: \"401 Unauthorized\"", name, err)
			}
			if err != nil && strings.Contains(err.Error(), "secret-wrong") {
				t.Errorf("client: %s error shows the secret: %v", name, err)
			}
		}
	})

	t.Run("callbacks", func(t *testing.T) {
		e.must("ResendCallback", e.sim.ResendCallback(id))
		if err := e.sim.WaitCallbacks(ctx); err != nil {
			t.Fatalf("simulator: callbacks still under way: %v", err)
		}
		docFile := "callback.json"
		if legacy {
			docFile = "callback_legacy.json"
		}
		doc := upstreamFile(t, "passportreader", docFile)
		var states []string
		for _, h := range e.hooks.Hits() {
			if h.method != http.MethodPost || h.path != "/passportreader/callback" || !strings.HasPrefix(h.header.Get("Content-Type"), "application/json") {
				t.Errorf("simulator: callback was %s %s (%s), want a JSON POST to callback_url; %s", h.method, h.path, h.header.Get("Content-Type"), prNotesHooks)
			}
			checkShape(t, "callback", doc, h.body, shapeRules{}, prNotesHooks)
			if n, _ := jsonObject(t, "callback", h.body)["session_id"].(json.Number); !prIntegerRe.MatchString(string(n)) {
				t.Errorf("simulator: callback session_id %s is not an integer literal; %s", n, prNotesHooks)
			}
			cb, err := passportreader.ParseCallback(h.body)
			if err != nil {
				t.Errorf("client or simulator: ParseCallback of the simulator's callback %s: %v; %s", h.body, err, prNotesHooks)
				continue
			}
			checkFields(t, "callback", h.body, prCallbackFields(cb, refKey), nil, "client: "+prNotesHooks)
			if cb.SessionID != id || cb.SessionReference != ref {
				t.Errorf("client or simulator: callback about session %d reference %q, want %d %q; %s", cb.SessionID, cb.SessionReference, id, ref, prNotesHooks)
			}
			states = append(states, cb.SessionState)
		}
		// One per change, in order (the simulator delivers a session's
		// callbacks one after the other), none for the creation [ours],
		// then the resend.
		wantStates := []string{passportreader.StateInitiated, passportreader.StateCompleted, passportreader.StateApproved, passportreader.StateApproved}
		if strings.Join(states, " ") != strings.Join(wantStates, " ") {
			t.Errorf("simulator: callbacks carried states %v, want %v; %s", states, wantStates, prNotesHooks)
		}
		for _, d := range e.sim.Deliveries() {
			if d.Status != http.StatusOK || d.Attempt != 1 {
				t.Errorf("simulator: callback delivery %+v, want answered 200 on the first attempt", d)
			}
		}
	})
}
