package phone

import (
	"slices"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"+254712345678", "+254712345678"},
		{"+254 712 345 678", "+254712345678"},
		{"254712345678", "+254712345678"},
		{"0712345678", "+254712345678"},
		{"0712-345-678", "+254712345678"},
		{"(0712) 345 678", "+254712345678"},
		{"+233 24 412 3456", "+233244123456"},
		{"233244123456", "+233244123456"},
		{"0244123456", "+233244123456"}, // not a valid Kenyan number, valid Ghanaian
		{"", ""},
		{"68753500140920", ""}, // a 1flow device serial, not a phone
		{"hello", ""},
		{"+1", ""},
		{"07123", ""},
		{"+254712345678; DROP", ""},
	}
	for _, c := range cases {
		got, err := Normalize(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestCountry(t *testing.T) {
	if Country("+254712345678") != "KE" || Country("+233244123456") != "GH" || Country("x") != "" {
		t.Fatal("Country")
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"+254712345678", "0712345678", "233244123456", "", "++", "0", "+999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalize(s)
		if err != nil {
			return
		}
		again, err := Normalize(got)
		if err != nil || again != got {
			t.Fatalf("Normalize(%q) = %q is not stable: %q, %v", s, got, again, err)
		}
		if got[0] != '+' {
			t.Fatalf("Normalize(%q) = %q is not E.164", s, got)
		}
	})
}

func TestNormalizeIn(t *testing.T) {
	cases := []struct{ raw, region, want string }{
		{"0971 234 567", "ZM", "+260971234567"},
		{"+260971234567", "KE", "+260971234567"},
		{"0712 345 678", "", "+254712345678"},
		{"0712 345 678", "KE", "+254712345678"},
	}
	for _, c := range cases {
		got, err := NormalizeIn(c.raw, c.region)
		if err != nil || got != c.want {
			t.Errorf("NormalizeIn(%q, %q) = %q, %v; want %q", c.raw, c.region, got, err, c.want)
		}
	}
	if _, err := NormalizeIn("0971 234 567", ""); err == nil {
		t.Error("a Zambian national number without its region was accepted as Kenyan or Ghanaian")
	}
}

func TestPrefixes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"+2547000012", []string{"+2547000012"}},
		{"+254 700-0012", []string{"+2547000012"}},
		{"002547000", []string{"+2547000"}},
		{"07000012", []string{"+2547000012", "+2337000012"}},
		{"(0712) 34", []string{"+25471234", "+23371234"}},
		{"2547000", []string{"+2547000"}},
		{"233 24", []string{"+23324"}},
		{"6875000", nil}, // a device id
		{"3000012", nil}, // a card id
		{"071", nil},     // too short to mean anything
		{"00254", nil},   // a country code alone
		{"+25x", nil},    // not a phone
		{"up-0001", nil}, // a 1flow id
		{"", nil},
	} {
		if got := Prefixes(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("Prefixes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzPrefixes(f *testing.F) {
	for _, s := range []string{"+2547000012", "07000012", "6875", "00 254 7", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range Prefixes(s) {
			if !strings.HasPrefix(p, "+") || strings.Trim(p[1:], "0123456789") != "" || len(p) < 4 {
				t.Fatalf("Prefixes(%q) gave %q, want + and digits", s, p)
			}
		}
	})
}
