package pawapasssim

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The made-up identity data of the sandbox. Everything here is [ours]: the
// document only gives one Zambian example.

// defaultCountry is the document's country when the verification has
// none. [ours]
const defaultCountry = "KE"

// place is what a generated document says about its country: the capital
// as place of birth and of issue, and the state as issuing authority, as in
// the document's example ("Lusaka", "Republic of Zambia").
type place struct{ city, authority string }

var places = map[string]place{
	"AO": {"Luanda", "Republic of Angola"},
	"BJ": {"Porto-Novo", "Republic of Benin"},
	"CM": {"Yaoundé", "Republic of Cameroon"},
	"CD": {"Kinshasa", "Democratic Republic of the Congo"},
	"CG": {"Brazzaville", "Republic of the Congo"},
	"GH": {"Accra", "Republic of Ghana"},
	"KE": {"Nairobi", "Republic of Kenya"},
	"LS": {"Maseru", "Kingdom of Lesotho"},
	"LR": {"Monrovia", "Republic of Liberia"},
	"MW": {"Lilongwe", "Republic of Malawi"},
	"ML": {"Bamako", "Republic of Mali"},
	"MZ": {"Maputo", "Republic of Mozambique"},
	"NG": {"Abuja", "Federal Republic of Nigeria"},
	"RW": {"Kigali", "Republic of Rwanda"},
	"SL": {"Freetown", "Republic of Sierra Leone"},
	"TZ": {"Dodoma", "United Republic of Tanzania"},
	"TG": {"Lomé", "Togolese Republic"},
	"UG": {"Kampala", "Republic of Uganda"},
	"ZM": {"Lusaka", "Republic of Zambia"},
}

var (
	firstNames = []string{"Tisa", "Amara", "Kwame", "Wanjiru", "Chipo", "Kofi", "Nia", "Tendai", "Aisha", "Baraka", "Zawadi", "Femi", "Imani", "Thabo", "Mariam", "Jabari"}
	lastNames  = []string{"Banda", "Mensah", "Otieno", "Phiri", "Okafor", "Mwangi", "Diallo", "Nkosi", "Kamau", "Traoré", "Uwimana", "Moyo", "Koroma", "Ndlovu", "Achieng", "Boateng"}
)

const dateLayout = "2006-01-02"

// docCountry is the country of v's identity document.
func docCountry(v *verification) string {
	if v.Country != "" {
		return v.Country
	}
	return defaultCountry
}

// personRand is a random source seeded by the verification id, so the
// hosted page prefills the same person every time it is shown.
func personRand(v *verification) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte(v.ID))
	return rand.New(rand.NewPCG(h.Sum64(), 0x9e3779b97f4a7c15))
}

// generatedDocument is the identity document the sandbox's person holds.
func generatedDocument(v *verification) IdentityDocument {
	r := personRand(v)
	country := docCountry(v)
	pl := places[country]
	if pl.city == "" {
		pl = places[defaultCountry]
	}
	born := v.CreatedAt.AddDate(-(19 + r.IntN(42)), -r.IntN(12), -r.IntN(28))
	issued := v.CreatedAt.AddDate(-(1 + r.IntN(8)), -r.IntN(12), -r.IntN(28))
	return IdentityDocument{
		Type:             "NATIONAL_ID",
		Country:          country,
		SerialNo:         fmt.Sprintf("%07d/%02d/%d", r.IntN(10_000_000), r.IntN(100), 1+r.IntN(3)),
		NationalNo:       fmt.Sprintf("%c%08d", country[0], r.IntN(100_000_000)),
		FirstName:        firstNames[r.IntN(len(firstNames))],
		LastName:         lastNames[r.IntN(len(lastNames))],
		DateOfBirth:      born.Format(dateLayout),
		PlaceOfBirth:     pl.city,
		Nationality:      country,
		IssuedAt:         issued.Format(dateLayout),
		ExpiryAt:         issued.AddDate(10, 0, -1).Format(dateLayout),
		IssuingAuthority: pl.authority,
		PlaceOfIssue:     pl.city,
	}
}

var (
	countryCodeRe = regexp.MustCompile(`^[A-Z]{2}$`)
	docNumberRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9/ .-]{0,39}$`)
)

// maxName bounds the free-text fields of a scanned document. [ours]
const maxName = 100

// completeDocument fills in's empty fields from the generated document and
// checks the rest. [ours for every rule]
func (s *Sim) completeDocument(v *verification, in IdentityDocument) (IdentityDocument, error) {
	gen := generatedDocument(v)
	fill := func(p *string, def string) {
		*p = strings.TrimSpace(*p)
		if *p == "" {
			*p = def
		}
	}
	fill(&in.Type, gen.Type)
	fill(&in.Country, gen.Country)
	fill(&in.SerialNo, gen.SerialNo)
	fill(&in.NationalNo, gen.NationalNo)
	fill(&in.FirstName, gen.FirstName)
	fill(&in.LastName, gen.LastName)
	fill(&in.DateOfBirth, gen.DateOfBirth)
	fill(&in.PlaceOfBirth, gen.PlaceOfBirth)
	fill(&in.Nationality, gen.Nationality)
	fill(&in.ExpiryAt, gen.ExpiryAt)
	fill(&in.IssuedAt, gen.IssuedAt)
	fill(&in.IssuingAuthority, gen.IssuingAuthority)
	fill(&in.PlaceOfIssue, gen.PlaceOfIssue)
	in.CreatedAt, in.UpdatedAt = time.Time{}, time.Time{}

	bad := func(field, msg string) error { return fmt.Errorf("%w: %s %s", ErrBadInput, field, msg) }
	if !slices.Contains(DocumentTypes(), in.Type) {
		return in, bad("type", "must be one of "+strings.Join(DocumentTypes(), ", "))
	}
	for _, c := range []struct{ name, v string }{{"country", in.Country}, {"nationality", in.Nationality}} {
		if !countryCodeRe.MatchString(c.v) {
			return in, bad(c.name, "must be a two-letter country code")
		}
	}
	for _, n := range []struct{ name, v string }{{"document number", in.SerialNo}, {"national number", in.NationalNo}} {
		if !docNumberRe.MatchString(n.v) {
			return in, bad(n.name, "must be 1 to 40 letters, digits, spaces or / . -")
		}
	}
	for _, t := range []struct{ name, v string }{
		{"first name", in.FirstName}, {"last name", in.LastName}, {"place of birth", in.PlaceOfBirth},
		{"issuing authority", in.IssuingAuthority}, {"place of issue", in.PlaceOfIssue},
	} {
		if !plainText(t.v) || utf8.RuneCountInString(t.v) > maxName {
			return in, bad(t.name, fmt.Sprintf("must be at most %d characters of plain text", maxName))
		}
	}
	today := stamp(s.now()).Format(dateLayout)
	born, err := time.Parse(dateLayout, in.DateOfBirth)
	switch {
	case err != nil:
		return in, bad("date of birth", "must be a date: YYYY-MM-DD")
	case born.Year() < 1900 || in.DateOfBirth > today:
		return in, bad("date of birth", "must be between 1900-01-01 and today")
	}
	issued, err1 := time.Parse(dateLayout, in.IssuedAt)
	expiry, err2 := time.Parse(dateLayout, in.ExpiryAt)
	switch {
	case err1 != nil || err2 != nil:
		return in, bad("issue and expiry dates", "must be dates: YYYY-MM-DD")
	case issued.Before(born) || !expiry.After(issued):
		return in, bad("issue and expiry dates", "must be in order: birth, issue, expiry")
	}
	return in, nil
}

// defaultAge is the age estimation of a face scan: the bracket of the
// scanned document's date of birth, or of the generated person's. [ours]
func (s *Sim) defaultAge(v *verification) string {
	dob := generatedDocument(v).DateOfBirth
	if v.Doc != nil {
		dob = v.Doc.DateOfBirth
	}
	born, err := time.Parse(dateLayout, dob)
	if err != nil {
		return "UNKNOWN"
	}
	return ageBracket(born, s.now())
}

// ageBracket maps an age to the highest ageEstimation bracket it reaches.
func ageBracket(born, now time.Time) string {
	now = now.UTC()
	age := now.Year() - born.Year()
	if now.Month() < born.Month() || now.Month() == born.Month() && now.Day() < born.Day() {
		age--
	}
	switch {
	case age < 8:
		return "UNDER_8"
	case age < 13:
		return "OVER_8"
	case age < 16:
		return "OVER_13"
	case age < 18:
		return "OVER_16"
	case age < 21:
		return "OVER_18"
	case age < 25:
		return "OVER_21"
	case age < 30:
		return "OVER_25"
	}
	return "OVER_30"
}
