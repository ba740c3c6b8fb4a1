package documents

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"portal/services"
)

func TestParseNINs(t *testing.T) {
	fifty := make([]string, 51)
	for i := range fifty {
		fifty[i] = "100000000" + string(rune('0'+i/10)) + string(rune('0'+i%10))
	}
	cases := []struct {
		in   string
		want []string // nil means rejected
	}{
		{"12345678901", []string{"12345678901"}},
		{" 12345678901 ", []string{"12345678901"}},
		{"12345678901,23456789012", []string{"12345678901", "23456789012"}},
		{"12345678901, 23456789012\n34567890123", []string{"12345678901", "23456789012", "34567890123"}},
		{"12345678901\r\n23456789012\t34567890123,,", []string{"12345678901", "23456789012", "34567890123"}},
		{strings.Join(fifty[:50], "\n"), fifty[:50]},
		{strings.Join(fifty, "\n"), nil}, // 51
		{"", nil},
		{" , \n ", nil},
		{"1234567890", nil},    // 10 digits
		{"123456789012", nil},  // 12
		{"1234567890a", nil},   // a letter
		{"12345678901;2", nil}, // semicolon is not a separator
		{"١٢٣٤٥٦٧٨٩٠١", nil},   // Arabic-Indic digits
		{"１２３４５６７８９０１", nil},   // full-width digits
		{"12345678901 12345678901", nil},
		{"-1234567890", nil},
		{"+1234567890", nil},
		{strings.Repeat("1", 5000), nil},
	}
	for _, c := range cases {
		got, err := ParseNINs(c.in)
		if c.want == nil {
			fe, ok := services.AsFieldErrors(err)
			if !ok || fe["nins"] == "" || got != nil {
				t.Errorf("ParseNINs(%.40q) = %v, %v; want a message on nins", c.in, got, err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("ParseNINs(%.40q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	// Messages never repeat a NIN in full.
	_, err := ParseNINs("12345678901 12345678901")
	if strings.Contains(err.Error(), "12345678901") || !strings.Contains(err.Error(), "8901") {
		t.Errorf("duplicate message %q", err)
	}
}

func FuzzParseNINs(f *testing.F) {
	for _, s := range []string{"12345678901", "12345678901,23456789012", "1 2", "", "١٢٣٤٥٦٧٨٩٠١", "12345678901\n12345678901", "\u00a012345678901\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nins, err := ParseNINs(s)
		if err != nil {
			if _, ok := services.AsFieldErrors(err); !ok {
				t.Fatalf("ParseNINs(%q): error %v is not a FieldErrors", s, err)
			}
			return
		}
		if len(nins) == 0 || len(nins) > MaxSignees {
			t.Fatalf("ParseNINs(%q) accepted %d NINs", s, len(nins))
		}
		seen := map[string]bool{}
		for _, n := range nins {
			if !IsNIN(n) || seen[n] || !strings.Contains(s, n) {
				t.Fatalf("ParseNINs(%q) accepted %q", s, n)
			}
			seen[n] = true
		}
	})
}

func TestCheckFileURL(t *testing.T) {
	cases := []struct {
		in string
		ok bool
	}{
		{"https://files.example.com/contract.pdf", true},
		{" https://files.example.com/a.pdf?sig=abc#page=2 ", true},
		{"https://files.example.com:443/a.pdf", true},
		{"HTTPS://Files.Example.COM/a.pdf", true},
		{"https://xn--bcher-kva.example/a.pdf", false}, // .example is reserved
		{"https://xn--bcher-kva.com/a.pdf", true},
		{"https://cdn.example.com./a.pdf", true},
		{"http://files.example.com/a.pdf", false},
		{"ftp://files.example.com/a.pdf", false},
		{"files.example.com/a.pdf", false},
		{"//files.example.com/a.pdf", false},
		{"https:///a.pdf", false},
		{"https://user:pw@files.example.com/a.pdf", false},
		{"https://user@files.example.com/a.pdf", false},
		{"https://files.example.com:8443/a.pdf", false},
		{"https://127.0.0.1/a.pdf", false},
		{"https://10.0.0.5/a.pdf", false},
		{"https://[::1]/a.pdf", false},
		{"https://[fe80::1%25eth0]/a.pdf", false},
		{"https://169.254.169.254/latest/meta-data", false},
		{"https://127.1/a.pdf", false},
		{"https://0x7f.0.0.1/a.pdf", false},
		{"https://2130706433/a.pdf", false},
		{"https://localhost/a.pdf", false},
		{"https://LOCALHOST./a.pdf", false},
		{"https://api.localhost/a.pdf", false},
		{"https://printer.local/a.pdf", false},
		{"https://db.internal/a.pdf", false},
		{"https://metadata.google.internal/a.pdf", false},
		{"https://router.home.arpa/a.pdf", false},
		{"https://intranet/a.pdf", false},
		{"https://bücher.com/a.pdf", false},
		{"https://-bad.example.com/a.pdf", false},
		{"https://files.example.com/a b.pdf", false},
		{"https://files.example.com/a\n.pdf", false},
		{"https://files.example.com/" + strings.Repeat("a", MaxFileURL), false},
		{"", false},
		{"javascript:alert(1)", false},
	}
	for _, c := range cases {
		got, msg := checkFileURL(c.in)
		if (msg == "") != c.ok {
			t.Errorf("checkFileURL(%.60q) = %q, %q; want ok=%v", c.in, got, msg, c.ok)
		}
		if c.ok && got != strings.TrimSpace(c.in) {
			t.Errorf("checkFileURL(%q) changed the URL to %q", c.in, got)
		}
	}
}

func FuzzCheckFileURL(f *testing.F) {
	for _, s := range []string{"https://files.example.com/a.pdf", "https://127.0.0.1/", "https://[::1]/", "https://a.local/", "https://u@h.com/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, msg := checkFileURL(s)
		if msg != "" {
			return
		}
		u, err := url.Parse(got)
		if err != nil || !strings.EqualFold(u.Scheme, "https") || u.User != nil || len(got) > MaxFileURL {
			t.Fatalf("checkFileURL(%q) accepted %q", s, got)
		}
		host := strings.ToLower(u.Hostname())
		if net.ParseIP(host) != nil || host == "localhost" || !strings.Contains(host, ".") || strings.HasSuffix(host, ".local") {
			t.Fatalf("checkFileURL(%q) accepted host %q", s, host)
		}
	})
}

func TestValidate(t *testing.T) {
	ok := reviewInput()
	row := func(mod func(*SigneeInput)) Input {
		in := reviewInput()
		in.Signees = slices.Clone(in.Signees)
		mod(&in.Signees[1])
		return in
	}
	cases := []struct {
		name  string
		in    Input
		field string // "" means valid
	}{
		{"simple", simpleInput("12345678901"), ""},
		{"review", ok, ""},
		{"no kind", Input{NINs: "12345678901", FileURL: "https://files.example.com/a.pdf", Title: "T"}, "kind"},
		{"bad kind", Input{Kind: "bulk", FileURL: "https://files.example.com/a.pdf", Title: "T"}, "kind"},
		{"simple without NINs", simpleInput(""), "nins"},
		{"no title", Input{Kind: "simple", NINs: "12345678901", FileURL: "https://files.example.com/a.pdf", Title: "  "}, "title"},
		{"long title", Input{Kind: "simple", NINs: "12345678901", FileURL: "https://files.example.com/a.pdf", Title: strings.Repeat("é", 201)}, "title"},
		{"title of 200", Input{Kind: "simple", NINs: "12345678901", FileURL: "https://files.example.com/a.pdf", Title: strings.Repeat("é", 200)}, ""},
		{"title with newline", Input{Kind: "simple", NINs: "12345678901", FileURL: "https://files.example.com/a.pdf", Title: "a\nb"}, "title"},
		{"bad url", Input{Kind: "simple", NINs: "12345678901", FileURL: "http://x.com/a.pdf", Title: "T"}, "file_url"},
		{"review without signees", Input{Kind: "review", FileURL: "https://files.example.com/a.pdf", Title: "T"}, "signees"},
		{"review with blank rows only", Input{Kind: "review", FileURL: "https://files.example.com/a.pdf", Title: "T", Signees: []SigneeInput{{}, {Name: " "}}}, "signees"},
		{"no name", row(func(s *SigneeInput) { s.Name = "" }), "signee_name[1]"},
		{"long name", row(func(s *SigneeInput) { s.Name = strings.Repeat("n", 101) }), "signee_name[1]"},
		{"bad type", row(func(s *SigneeInput) { s.Type = "robot" }), "signee_type[1]"},
		{"bad email", row(func(s *SigneeInput) { s.Email = "bola at example.com" }), "signee_email[1]"},
		{"email with name", row(func(s *SigneeInput) { s.Email = "Bola <bola@example.com>" }), "signee_email[1]"},
		{"email without dot", row(func(s *SigneeInput) { s.Email = "bola@localhost" }), "signee_email[1]"},
		{"no email", row(func(s *SigneeInput) { s.Email = "" }), "signee_email[1]"},
		{"bad NIN", row(func(s *SigneeInput) { s.NIN = "123" }), "signee_nin[1]"},
		{"duplicate NIN", row(func(s *SigneeInput) { s.NIN = ninA }), "signee_nin[1]"},
		{"business without representing", row(func(s *SigneeInput) { s.Representing = "" }), "signee_representing[1]"},
		{"long title", row(func(s *SigneeInput) { s.Title = strings.Repeat("t", 101) }), "signee_title[1]"},
		{"person without representing", row(func(s *SigneeInput) { s.Type = "person"; s.Representing = "" }), ""},
	}
	for _, c := range cases {
		v, err := c.in.Validate()
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			for _, s := range v.Signees {
				if s.Representing == "" && v.Kind == "review" {
					t.Errorf("%s: signee %q represents nobody", c.name, s.Name)
				}
			}
			continue
		}
		fe, ok := services.AsFieldErrors(err)
		if !ok || fe[c.field] == "" {
			t.Errorf("%s: err = %v, want a message on %s", c.name, err, c.field)
		}
	}

	// Blank rows are skipped but keep their place in the error keys.
	in := reviewInput()
	in.Signees = []SigneeInput{{}, in.Signees[0], {}, {Name: "X", Type: "person", Email: "x@example.com", NIN: "bad"}}
	_, err := in.Validate()
	if fe, _ := services.AsFieldErrors(err); len(fe) != 1 || fe["signee_nin[3]"] == "" {
		t.Errorf("errors %v, want only signee_nin[3]", err)
	}
	in.Signees = in.Signees[:3]
	v, err := in.Validate()
	if err != nil || len(v.Signees) != 1 || v.Signees[0].Position != 0 {
		t.Errorf("blank rows: %+v, %v", v.Signees, err)
	}
}

func FuzzValidateSignee(f *testing.F) {
	f.Add("Ada", "person", "ada@example.com", "12345678901", "", "")
	f.Add("Bola", "business", "b@x.io", "23456789012", "Acme", "CEO")
	f.Fuzz(func(t *testing.T, name, typ, email, nin, repr, title string) {
		in := Input{Kind: "review", FileURL: "https://files.example.com/a.pdf", Title: "T",
			Signees: []SigneeInput{{Name: name, Type: typ, Email: email, NIN: nin, Representing: repr, Title: title}}}
		v, err := in.Validate()
		if err != nil {
			if _, ok := services.AsFieldErrors(err); !ok {
				t.Fatalf("error %v is not a FieldErrors", err)
			}
			return
		}
		for _, s := range v.Signees {
			if s.Name == "" || !utf8.ValidString(s.Name) || !IsNIN(s.NIN) || s.Representing == "" || (s.Type != "person" && s.Type != "business") {
				t.Fatalf("accepted %+v", s)
			}
		}
	})
}
