package passportreadersim

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Identity is what a scan reads from the passport's chip, named as
// session.get names it. Every value is "" until the scan.
type Identity struct {
	GivenNames     string `json:"given_names"`
	Surname        string `json:"surname"`
	Nationality    string `json:"nationality"`     // two-letter ISO 3166
	Sex            string `json:"sex"`             // MALE, FEMALE or UNSPECIFIED
	DateOfBirth    string `json:"date_of_birth"`   // YYYY-MM-DD
	PersonalNumber string `json:"personal_number"` // may be ""
	DocumentType   string `json:"document_type"`   // e.g. PASSPORT
	DocumentNumber string `json:"document_number"`
	ExpiryDate     string `json:"expiry_date"`     // YYYY-MM-DD
	IssuingCountry string `json:"issuing_country"` // two-letter ISO 3166
	Issuer         string `json:"issuer"`          // the issuing authority
}

// Sex values (NOTES.md).
const (
	SexMale        = "MALE"
	SexFemale      = "FEMALE"
	SexUnspecified = "UNSPECIFIED"
)

// DocumentTypePassport is the only document the simulator scans.
const DocumentTypePassport = "PASSPORT"

// ErrInvalidIdentity is matched by every *IdentityError.
var ErrInvalidIdentity = errors.New("passportreadersim: invalid identity")

// IdentityError reports one bad Identity value. Field is session.get's
// name for it, which is also the scan form's input name.
type IdentityError struct {
	Field   string
	Message string
}

func (e *IdentityError) Error() string { return "passportreadersim: " + e.Field + ": " + e.Message }

// Unwrap makes errors.Is(err, ErrInvalidIdentity) true.
func (e *IdentityError) Unwrap() error { return ErrInvalidIdentity }

// Limits of a scanned identity. [ours]
const (
	maxName   = 100
	maxNumber = 20
	maxIssuer = 100
)

// normalise trims every value, upper-cases the codes, and checks the
// formats NOTES.md gives (dates, sex) and our own limits. [ours for the
// limits and for which values may be empty: given names (some passports
// have none), personal number and issuer]
func (id Identity) normalise() (Identity, error) {
	trim := strings.TrimSpace
	up := func(v string) string { return strings.ToUpper(trim(v)) }
	id = Identity{
		GivenNames: trim(id.GivenNames), Surname: trim(id.Surname),
		Nationality: up(id.Nationality), Sex: up(id.Sex), DateOfBirth: trim(id.DateOfBirth),
		PersonalNumber: up(id.PersonalNumber), DocumentType: up(id.DocumentType),
		DocumentNumber: up(id.DocumentNumber), ExpiryDate: trim(id.ExpiryDate),
		IssuingCountry: up(id.IssuingCountry), Issuer: trim(id.Issuer),
	}
	checks := []struct {
		field string
		ok    bool
		msg   string
	}{
		{"given_names", isText(id.GivenNames, maxName), "must be at most 100 characters, without control characters"},
		{"surname", id.Surname != "" && isText(id.Surname, maxName), "is required: at most 100 characters, without control characters"},
		{"nationality", isCountry(id.Nationality), "must be a two-letter ISO 3166 country code, e.g. NG"},
		{"sex", id.Sex == SexMale || id.Sex == SexFemale || id.Sex == SexUnspecified, "must be MALE, FEMALE or UNSPECIFIED"},
		{"date_of_birth", isDate(id.DateOfBirth), "must be a date, YYYY-MM-DD"},
		{"personal_number", len(id.PersonalNumber) <= maxNumber && isAlnum(id.PersonalNumber), "must be at most 20 letters and digits"},
		{"document_type", id.DocumentType != "" && len(id.DocumentType) <= maxNumber && strings.Trim(id.DocumentType, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "", "is required: capital letters and _, e.g. PASSPORT"},
		{"document_number", id.DocumentNumber != "" && len(id.DocumentNumber) <= maxNumber && isAlnum(id.DocumentNumber), "is required: at most 20 letters and digits"},
		{"expiry_date", isDate(id.ExpiryDate), "must be a date, YYYY-MM-DD"},
		{"issuing_country", isCountry(id.IssuingCountry), "must be a two-letter ISO 3166 country code, e.g. NG"},
		{"issuer", isText(id.Issuer, maxIssuer), "must be at most 100 characters, without control characters"},
	}
	for _, c := range checks {
		if !c.ok {
			return Identity{}, &IdentityError{c.field, c.msg}
		}
	}
	return id, nil
}

func isText(v string, max int) bool {
	return utf8.ValidString(v) && utf8.RuneCountInString(v) <= max && strings.IndexFunc(v, unicode.IsControl) < 0
}

func isCountry(v string) bool {
	return len(v) == 2 && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z'
}

func isAlnum(v string) bool {
	for _, c := range v {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

const dateLayout = "2006-01-02"

func isDate(v string) bool {
	t, err := time.Parse(dateLayout, v)
	return err == nil && t.Format(dateLayout) == v
}

// --- generated identities [ours: all of it] ---

type country struct {
	code, issuer   string
	male, female   []string
	surnames       []string
	personalDigits int // length of the personal number, 0 for none
}

// countries the generated passports come from. Nationality and issuing
// country are the same: people carry their own country's passport.
var countries = []country{
	{"NG", "NIGERIA IMMIGRATION SERVICE", []string{"CHINEDU", "BABAJIDE", "MUSA"}, []string{"ADAEZE", "FOLAKE", "HALIMA"}, []string{"OKAFOR", "ADEYEMI", "BELLO", "NWOSU"}, 11},
	{"GH", "GHANA IMMIGRATION SERVICE", []string{"KWAME", "KOFI", "YAW"}, []string{"AMA", "AKOSUA", "ABENA"}, []string{"MENSAH", "BOATENG", "OWUSU", "ASANTE"}, 0},
	{"KE", "DEPARTMENT OF IMMIGRATION SERVICES", []string{"BARASA", "OTIENO", "KAMAU"}, []string{"WANJIKU", "AKINYI", "NJERI"}, []string{"MWANGI", "ODHIAMBO", "KIPCHOGE", "WAFULA"}, 8},
	{"ZA", "DEPARTMENT OF HOME AFFAIRS", []string{"SIPHO", "THABO", "PIETER"}, []string{"NALEDI", "LERATO", "ANNA"}, []string{"DLAMINI", "NKOSI", "VAN DER MERWE", "MOKOENA"}, 13},
	{"SE", "POLISMYNDIGHETEN", []string{"ERIK", "LARS", "JOHAN"}, []string{"ANNA", "KARIN", "ELSA"}, []string{"ANDERSSON", "JOHANSSON", "KARLSSON", "NILSSON"}, 10},
	{"GB", "HM PASSPORT OFFICE", []string{"OLIVER", "GEORGE", "HARRY"}, []string{"AMELIA", "OLIVIA", "ISLA"}, []string{"SMITH", "JONES", "TAYLOR", "BROWN"}, 0},
}

// generateIdentity makes up a plausible passport holder for a session:
// the same session always gets the same person. The birth date makes them
// 18 to 70 years old on created, the passport expires one to ten years
// after it.
func generateIdentity(seed int64, created time.Time) Identity {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	c := countries[r.IntN(len(countries))]
	sex := SexMale
	first := c.male
	switch n := r.IntN(8); {
	case n == 0:
		sex, first = SexUnspecified, append(append([]string(nil), c.male...), c.female...)
	case n%2 == 1:
		sex, first = SexFemale, c.female
	}
	i := r.IntN(len(first))
	given := first[i]
	if r.IntN(3) == 0 { // a second given name, another one
		given += " " + first[(i+1+r.IntN(len(first)-1))%len(first)]
	}
	day := created.UTC().Truncate(24 * time.Hour)
	born := day.AddDate(-18-r.IntN(52), 0, -r.IntN(365))
	expiry := day.AddDate(1+r.IntN(9), 0, r.IntN(365))
	personal := ""
	if c.personalDigits > 0 {
		personal = born.Format("060102") + digits(r, c.personalDigits-6)
	}
	return Identity{
		GivenNames:     given,
		Surname:        c.surnames[r.IntN(len(c.surnames))],
		Nationality:    c.code,
		Sex:            sex,
		DateOfBirth:    born.Format(dateLayout),
		PersonalNumber: personal,
		DocumentType:   DocumentTypePassport,
		DocumentNumber: string(rune('A'+r.IntN(26))) + digits(r, 8),
		ExpiryDate:     expiry.Format(dateLayout),
		IssuingCountry: c.code,
		Issuer:         c.issuer,
	}
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return string(b)
}

// --- drawn portraits [ours] ---

// Portrait size: a passport photo's 35:45 proportions.
const (
	portraitW = 105
	portraitH = 135
)

var (
	skins       = []color.RGBA{{0x8d, 0x55, 0x24, 0xff}, {0xc6, 0x86, 0x42, 0xff}, {0xe0, 0xac, 0x69, 0xff}, {0xf1, 0xc2, 0x7d, 0xff}, {0x5c, 0x3a, 0x1e, 0xff}}
	hairs       = []color.RGBA{{0x1b, 0x1b, 0x1b, 0xff}, {0x4a, 0x2c, 0x17, 0xff}, {0x8b, 0x5a, 0x2b, 0xff}, {0xc9, 0xa0, 0x5a, 0xff}}
	shirts      = []color.RGBA{{0x2b, 0x4c, 0x7e, 0xff}, {0x55, 0x55, 0x55, 0xff}, {0x7a, 0x2e, 0x2e, 0xff}, {0x2e, 0x6b, 0x4f, 0xff}}
	passportBg  = color.RGBA{0xe8, 0xec, 0xf1, 0xff}
	selfieBgs   = []color.RGBA{{0xd9, 0xe4, 0xd0, 0xff}, {0xf0, 0xe2, 0xc8, 0xff}, {0xcf, 0xdc, 0xea, 0xff}}
	featureDark = color.RGBA{0x22, 0x1a, 0x14, 0xff}
	eyeWhite    = color.RGBA{0xfa, 0xfa, 0xfa, 0xff}
	lipColour   = color.RGBA{0x9e, 0x4a, 0x4a, 0xff}
)

// Palette indexes.
const (
	pBg = iota
	pSkin
	pHair
	pShirt
	pDark
	pWhite
	pLip
)

// drawPortrait draws a simple face, the same one for the same seed: the
// chip's passport photo, or (selfie) the face verification's capture of
// the same person, off-centre on another background. It is a small
// paletted PNG, about 1 KB.
func drawPortrait(seed int64, selfie bool) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), 0xface))
	bg := passportBg
	pal := color.Palette{bg, skins[r.IntN(len(skins))], hairs[r.IntN(len(hairs))], shirts[r.IntN(len(shirts))], featureDark, eyeWhite, lipColour}
	headW, headH := 24+r.IntN(5), 31+r.IntN(4)
	if selfie {
		pal[pBg] = selfieBgs[r.IntN(len(selfieBgs))]
	}
	img := image.NewPaletted(image.Rect(0, 0, portraitW, portraitH), pal)
	cx, cy := portraitW/2, 58
	if selfie {
		cx += 6
		cy += 4
	}
	ellipse := func(x0, y0, rx, ry int, idx uint8, keep func(x, y int) bool) {
		for y := y0 - ry; y <= y0+ry; y++ {
			for x := x0 - rx; x <= x0+rx; x++ {
				dx, dy := float64(x-x0)/float64(rx), float64(y-y0)/float64(ry)
				if dx*dx+dy*dy <= 1 && image.Pt(x, y).In(img.Rect) && (keep == nil || keep(x, y)) {
					img.SetColorIndex(x, y, idx)
				}
			}
		}
	}
	// Shoulders, neck, hair behind the head, the head.
	ellipse(cx, portraitH+8, 50, 38, pShirt, nil)
	for y := cy + headH - 6; y < cy+headH+14; y++ {
		for x := cx - 9; x <= cx+9; x++ {
			if image.Pt(x, y).In(img.Rect) {
				img.SetColorIndex(x, y, pSkin)
			}
		}
	}
	ellipse(cx, cy-5, headW+3, headH+2, pHair, nil)
	ellipse(cx, cy+2, headW, headH, pSkin, nil)
	// Hairline over the forehead.
	ellipse(cx, cy-headH+4, headW, 11, pHair, func(_, y int) bool { return y < cy-headH+10 })
	// Eyes, nose, mouth.
	for _, dx := range []int{-10, 10} {
		ellipse(cx+dx, cy, 5, 3, pWhite, nil)
		ellipse(cx+dx, cy, 2, 2, pDark, nil)
		for x := cx + dx - 5; x <= cx+dx+5; x++ { // eyebrow
			img.SetColorIndex(x, cy-7, pHair)
		}
	}
	for y := cy + 3; y <= cy+12; y++ {
		img.SetColorIndex(cx, y, pDark)
	}
	ellipse(cx, cy+19, 9, 4, pLip, func(_, y int) bool { return y >= cy+19 })
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil { // cannot happen: an in-memory image
		return nil
	}
	return buf.Bytes()
}
