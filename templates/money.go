package templates

import (
	"strings"

	"github.com/shopspring/decimal"
)

// Money formats an amount with its currency code and thousands separators,
// always with two decimals: "KES 1,500.50".
func Money(amount decimal.Decimal, currency string) string {
	s := amount.StringFixed(2)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := sign + b.String() + "." + frac
	if currency != "" {
		out = currency + " " + out
	}
	return out
}
