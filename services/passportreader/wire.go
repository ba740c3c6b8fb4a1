package passportreader

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"portal/services/upstream"
)

// Wire types, written from idv-sessions.txt. Ids are 64-bit integers: they
// are parsed from their JSON text with strconv, never through float64, so
// ids above 2^53 survive.

// createBody is session.create's request; NOTES.md adds passport_only.
type createBody struct {
	CallbackURL      string `json:"callback_url,omitempty"`
	FaceVerification *bool  `json:"face_verification,omitempty"`
	Reference        string `json:"reference,omitempty"`
	PassportOnly     *bool  `json:"passport_only,omitempty"`
}

// idBody is session.get's and session.state's request.
type idBody struct {
	ID int64 `json:"id"`
}

// decodeObject decodes exactly one JSON object: an answer or a callback
// that is an array, a string or a number is refused as such.
func decodeObject(b []byte, v any) error {
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	return upstream.DecodeStrict(b, v)
}

// maxIDLen bounds an id's text: "-9223372036854775808" is 20 bytes.
const maxIDLen = 20

// parseID reads an id: a JSON integer, or a string holding one (the string
// form is ours: a lenient reading that costs nothing). null, absent and ""
// are "no id" (set false).
func parseID(raw []byte) (id int64, set bool, err error) {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 || string(s) == "null" {
		return 0, false, nil
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal(s, &str); err != nil {
			return 0, false, errors.New("id is not a valid JSON string")
		}
		str = strings.TrimSpace(str)
		if str == "" {
			return 0, false, nil
		}
		s = []byte(str)
	}
	if !isDecimalInt(s) {
		// The value is not quoted: an answer could echo anything.
		return 0, false, errors.New("id is not an integer")
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, false, errors.New("id is out of the 64-bit range")
	}
	return n, true, nil
}

// isDecimalInt reports whether s is an optional minus and 1 to 20 digits.
func isDecimalInt(s []byte) bool {
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// wireID is an id in an answer.
type wireID struct {
	v   int64
	set bool
}

func (w *wireID) UnmarshalJSON(b []byte) error {
	v, set, err := parseID(b)
	if err != nil {
		return err
	}
	*w = wireID{v: v, set: set}
	return nil
}

// wireTime is a timestamp, documented as YYYY-MM-DDTHH:MM:SSZ. It must be a
// string (or null); a string that is empty, a placeholder like the
// document's "..." or not a timestamp gives the zero time, so that one odd
// field does not hide a whole session (Raw keeps what was sent) [ours].
type wireTime struct{ t time.Time }

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"}

func (w *wireTime) UnmarshalJSON(b []byte) error {
	*w = wireTime{}
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return errors.New("timestamp is not a string")
	}
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		// A layout without a zone parses as UTC, which the document says
		// all times are.
		if t, err := time.Parse(layout, s); err == nil {
			w.t = t.UTC()
			return nil
		}
	}
	return nil
}

// sessionWire is session.get's answer, every property of the document's
// example.
type sessionWire struct {
	ID             wireID   `json:"id"`
	Created        wireTime `json:"created"`
	Expires        wireTime `json:"expires"`
	State          string   `json:"state"`
	Reference      string   `json:"reference"`
	UserIP         string   `json:"user_ip"`
	UserAgent      string   `json:"user_agent"`
	GivenNames     string   `json:"given_names"`
	Surname        string   `json:"surname"`
	Nationality    string   `json:"nationality"`
	Sex            string   `json:"sex"`
	DateOfBirth    string   `json:"date_of_birth"`
	PersonalNumber string   `json:"personal_number"`
	DocumentType   string   `json:"document_type"`
	DocumentNumber string   `json:"document_number"`
	ExpiryDate     string   `json:"expiry_date"`
	IssuingCountry string   `json:"issuing_country"`
	Issuer         string   `json:"issuer"`
	Portrait       string   `json:"portrait"`
	Face           string   `json:"face"`
}

// decodeSession decodes a session.get answer. The id must be there and
// positive, and the state not empty (ours: without them the answer is of no
// use); a property of the wrong JSON type is a malformed answer.
func decodeSession(body []byte) (Session, error) {
	var w sessionWire
	if err := decodeObject(body, &w); err != nil {
		return Session{}, upstream.Malformed(err)
	}
	switch {
	case !w.ID.set || w.ID.v <= 0:
		return Session{}, upstream.Malformedf(`no positive "id"`)
	case strings.TrimSpace(w.State) == "":
		return Session{}, upstream.Malformedf(`no "state"`)
	}
	return Session{
		ID:             w.ID.v,
		Created:        w.Created.t,
		Expires:        w.Expires.t,
		State:          w.State,
		Reference:      w.Reference,
		UserIP:         w.UserIP,
		UserAgent:      w.UserAgent,
		GivenNames:     w.GivenNames,
		Surname:        w.Surname,
		Nationality:    w.Nationality,
		Sex:            w.Sex,
		DateOfBirth:    w.DateOfBirth,
		PersonalNumber: w.PersonalNumber,
		DocumentType:   w.DocumentType,
		DocumentNumber: w.DocumentNumber,
		ExpiryDate:     w.ExpiryDate,
		IssuingCountry: w.IssuingCountry,
		Issuer:         w.Issuer,
		Portrait:       decodeImage(w.Portrait),
		Face:           decodeImage(w.Face),
		Raw:            append(json.RawMessage(nil), body...),
	}, nil
}

// decodeCreated decodes a session.create answer: {"id": 123, "token": "…"}.
// Both are needed to do anything with the session.
func decodeCreated(body []byte) (CreatedSession, error) {
	var w struct {
		ID    wireID `json:"id"`
		Token string `json:"token"`
	}
	if err := decodeObject(body, &w); err != nil {
		return CreatedSession{}, upstream.Malformed(err)
	}
	switch {
	case !w.ID.set || w.ID.v <= 0:
		return CreatedSession{}, upstream.Malformedf(`no positive "id"`)
	case strings.TrimSpace(w.Token) == "":
		return CreatedSession{}, upstream.Malformedf(`no "token"`)
	}
	return CreatedSession{ID: w.ID.v, Token: w.Token}, nil
}

// decodeState decodes a session.state answer: {"state": "CREATED"}.
func decodeState(body []byte) (string, error) {
	var w struct {
		State string `json:"state"`
	}
	if err := decodeObject(body, &w); err != nil {
		return "", upstream.Malformed(err)
	}
	if strings.TrimSpace(w.State) == "" {
		return "", upstream.Malformedf(`no "state"`)
	}
	return w.State, nil
}

// isPlaceholder reports the document's "..." (or "…") in place of a value.
func isPlaceholder(s string) bool {
	return s != "" && strings.Trim(s, ".…") == ""
}

// decodeImage decodes a base64 image. NOTES.md only says "base64 images";
// accepting standard and URL alphabets, with or without padding, line
// breaks, and a "data:image/…;base64," prefix is ours. Anything else gives
// nil (Raw keeps what was sent).
func decodeImage(s string) []byte {
	s = strings.TrimSpace(s)
	if s == "" || isPlaceholder(s) {
		return nil
	}
	if len(s) > 5 && strings.EqualFold(s[:5], "data:") {
		comma := strings.IndexByte(s, ',')
		if comma < 0 || !strings.HasSuffix(strings.ToLower(s[:comma]), ";base64") {
			return nil
		}
		s = s[comma+1:]
	}
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) == 0 {
				return nil
			}
			return b
		}
	}
	return nil
}
