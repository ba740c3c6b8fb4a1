package documents

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"portal/models"
	"portal/services"
)

// Limits of the form.
const (
	MaxSignees     = 50   // NINs of a simple signing, or rows of a review flow
	MaxTitle       = 200  // document title, in characters
	MaxName        = 100  // signee name, representing and title, in characters
	MaxEmail       = 254  // RFC 5321's path limit
	MaxFileURL     = 2048 // bytes
	maxNINListText = 4096 // the nins textarea, in bytes
)

// Input is a document request as typed into the form. Field errors are
// keyed by the form's field names:
//
//   - kind, nins, file_url, title;
//   - signees for the review table as a whole (no signee, too many);
//   - signee_name[i], signee_type[i], signee_email[i], signee_nin[i],
//     signee_representing[i], signee_title[i] for row i of the table,
//     counted from 0 in the order the repeated fields were posted (rows left
//     entirely blank are skipped but keep their place in the count).
type Input struct {
	Kind    string // "simple" or "review"
	NINs    string // simple: NINs separated by commas, spaces or new lines
	FileURL string
	Title   string
	Signees []SigneeInput // review: one per table row
}

// SigneeInput is one row of the review flow's signees table.
type SigneeInput struct {
	Name         string
	Type         string // "business" or "person"
	Email        string
	NIN          string
	Representing string // required for a business; a person represents themselves when left empty
	Title        string // optional
}

func (s SigneeInput) blank() bool {
	return strings.TrimSpace(s.Name+s.Type+s.Email+s.NIN+s.Representing+s.Title) == ""
}

// Valid is an Input that passed validation. Signees carry Position, NIN and,
// for review flows, Name, Type, Email, Representing and Title.
type Valid struct {
	Kind    models.DocumentKind
	FileURL string
	Title   string
	Signees []models.DocumentSignee
}

// Validate checks the form and returns services.FieldErrors keyed as the
// Input comment says. Nothing is fetched: the file URL is only read.
func (in Input) Validate() (Valid, error) {
	errs := services.FieldErrors{}
	v := Valid{Kind: models.DocumentKind(strings.TrimSpace(in.Kind))}
	var msg string
	if v.FileURL, msg = checkFileURL(in.FileURL); msg != "" {
		errs["file_url"] = msg
	}
	if v.Title, msg = checkText(in.Title, MaxTitle, true); msg != "" {
		errs["title"] = "The title " + msg
	}
	switch v.Kind {
	case models.DocumentKindSimple:
		nins, err := ParseNINs(in.NINs)
		if fe, ok := services.AsFieldErrors(err); ok {
			for k, m := range fe {
				errs[k] = m
			}
		}
		for i, nin := range nins {
			v.Signees = append(v.Signees, models.DocumentSignee{Position: i, NIN: nin, Status: models.SigneeStale})
		}
	case models.DocumentKindReview:
		v.Signees = checkSignees(in.Signees, errs)
	default:
		errs["kind"] = "Choose simple signing or a review flow."
	}
	if len(errs) > 0 {
		return Valid{}, errs
	}
	return v, nil
}

// ParseNINs reads the nins field of a simple signing: NINs separated by
// commas, spaces or new lines, each exactly 11 ASCII digits, no NIN twice,
// at least one and at most MaxSignees. Errors are services.FieldErrors on
// "nins"; they never repeat a NIN in full.
func ParseNINs(raw string) ([]string, error) {
	if len(raw) > maxNINListText {
		return nil, services.FieldErrors{"nins": fmt.Sprintf("That is too much text: enter at most %d NINs.", MaxSignees)}
	}
	parts := strings.FieldsFunc(raw, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
	switch {
	case len(parts) == 0:
		return nil, services.FieldErrors{"nins": "Enter at least one NIN."}
	case len(parts) > MaxSignees:
		return nil, services.FieldErrors{"nins": fmt.Sprintf("Enter at most %d NINs; you entered %d.", MaxSignees, len(parts))}
	}
	seen := make(map[string]bool, len(parts))
	out := make([]string, 0, len(parts))
	for i, p := range parts {
		if !IsNIN(p) {
			return nil, services.FieldErrors{"nins": fmt.Sprintf("Entry %d is not a NIN: a NIN is exactly 11 digits, like 12345678901.", i+1)}
		}
		if seen[p] {
			return nil, services.FieldErrors{"nins": fmt.Sprintf("The NIN ending in %s is listed twice.", p[len(p)-4:])}
		}
		seen[p] = true
		out = append(out, p)
	}
	return out, nil
}

// IsNIN reports whether s is exactly 11 ASCII digits.
func IsNIN(s string) bool {
	if len(s) != 11 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkSignees validates the review table into errs and returns the rows.
func checkSignees(rows []SigneeInput, errs services.FieldErrors) []models.DocumentSignee {
	var out []models.DocumentSignee
	seen := map[string]int{}
	filled := 0
	for i, r := range rows {
		if r.blank() {
			continue
		}
		filled++
		if filled > MaxSignees {
			errs["signees"] = fmt.Sprintf("A review flow has at most %d signees.", MaxSignees)
			break
		}
		key := func(field string) string { return fmt.Sprintf("signee_%s[%d]", field, i) }
		s := models.DocumentSignee{Position: len(out), Status: models.SigneeStale}
		var msg string
		if s.Name, msg = checkText(r.Name, MaxName, true); msg != "" {
			errs[key("name")] = "The name " + msg
		}
		s.Type = strings.TrimSpace(r.Type)
		if s.Type != "business" && s.Type != "person" {
			errs[key("type")] = "Choose business or person."
		}
		if s.Email, msg = checkEmail(r.Email); msg != "" {
			errs[key("email")] = msg
		}
		s.NIN = strings.TrimSpace(r.NIN)
		switch {
		case !IsNIN(s.NIN):
			errs[key("nin")] = "A NIN is exactly 11 digits, like 12345678901."
		case seen[s.NIN] > 0:
			errs[key("nin")] = fmt.Sprintf("This NIN is already on row %d.", seen[s.NIN])
		default:
			seen[s.NIN] = i + 1
		}
		if s.Representing, msg = checkText(r.Representing, MaxName, s.Type == "business"); msg != "" {
			errs[key("representing")] = "Whom they represent " + msg
		}
		if s.Representing == "" && s.Type == "person" {
			// pasby asks whom every signee represents; a person signing
			// for themselves represents themselves.
			s.Representing = s.Name
		}
		if s.Title, msg = checkText(r.Title, MaxName, false); msg != "" {
			errs[key("title")] = "The title " + msg
		}
		out = append(out, s)
	}
	if filled == 0 {
		errs["signees"] = "Add at least one signee."
	}
	return out
}

// checkText trims s and checks it is 1..max characters (0..max when not
// required) of printable text. The message completes "The title …".
func checkText(s string, max int, required bool) (string, string) {
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case !utf8.ValidString(s):
		return "", "contains characters that are not text."
	case n == 0 && required:
		return "", "is required."
	case n > max:
		return "", fmt.Sprintf("is too long: at most %d characters (this one has %d).", max, n)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", "must be on one line, without control characters."
	}
	return s, ""
}

// checkEmail accepts a bare address like someone@example.com.
func checkEmail(raw string) (string, string) {
	s := strings.TrimSpace(raw)
	const msg = "Enter an email address like someone@example.com."
	if s == "" {
		return "", "Enter the signee's email address."
	}
	if len(s) > MaxEmail || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", msg
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", msg
	}
	at := strings.LastIndexByte(s, '@')
	domain := s[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "[") {
		return "", msg
	}
	return s, ""
}

// blockedSuffixes are names that never point at the public internet.
var blockedSuffixes = []string{".localhost", ".local", ".internal", ".intranet", ".lan", ".home", ".corp", ".home.arpa", ".arpa", ".onion", ".test", ".invalid", ".example"}

// checkFileURL accepts an https URL on a public host name. The portal never
// fetches it (pasby does); the rules keep a person from pointing pasby, or
// anything that later follows the link, at an internal address: no IP
// literals, no localhost or private-use names, no user:password@, no port
// but 443.
func checkFileURL(raw string) (string, string) {
	s := strings.TrimSpace(raw)
	const example = " like https://files.example.com/contract.pdf"
	switch {
	case s == "":
		return "", "Enter the address of the PDF," + example + "."
	case len(s) > MaxFileURL:
		return "", fmt.Sprintf("The address is too long: at most %d characters.", MaxFileURL)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", "The address must not contain spaces; encode them as %20."
	}
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return "", "Enter a full web address" + example + "."
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return "", "The address must start with https://."
	}
	if u.User != nil {
		return "", "The address must not contain a user name or password."
	}
	if p := u.Port(); p != "" && p != "443" {
		return "", "The address must not name a port."
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if msg := checkPublicHost(host); msg != "" {
		return "", msg
	}
	return s, ""
}

// checkPublicHost accepts an ASCII DNS name with at least two labels whose
// last label is not a number and that is not reserved for private use.
func checkPublicHost(host string) string {
	const msg = "The address must use a public host name like files.example.com, not an IP address or an internal name."
	if host == "" || len(host) > 253 || net.ParseIP(host) != nil || strings.ContainsAny(host, "[]%:") {
		return msg
	}
	if host == "localhost" || !strings.Contains(host, ".") {
		return msg
	}
	for _, suffix := range blockedSuffixes {
		if strings.HasSuffix(host, suffix) {
			return msg
		}
	}
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return msg
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "The address's host name must be plain letters, digits and dashes (use the xn-- form for other scripts)."
			}
		}
	}
	// 127.1, 0x7f.1 and friends are IP addresses to many resolvers; no real
	// top-level domain is all digits or starts with 0x.
	tld := labels[len(labels)-1]
	if strings.Trim(tld, "0123456789") == "" || strings.HasPrefix(tld, "0x") {
		return msg
	}
	return ""
}
