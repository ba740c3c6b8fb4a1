package apptest

import (
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// TOTPCode is what an authenticator app shows at at for secret (the key an
// enrolment page shows). Computed with the library directly, not through
// the portal's own check, so a misread of RFC 6238 there fails the tests.
func TOTPCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := hotp.GenerateCodeCustom(secret, uint64(at.Unix()/30), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}
