package templates

import (
	"strconv"
	"strings"

	"rsc.io/qr"
)

// qrPath draws text as a QR code in one SVG path (one square per dark
// module), so the page needs no image request and no script. "" when the
// text does not fit a QR code.
func qrPath(text string) (path string, size int) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", 0
	}
	var b strings.Builder
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if code.Black(x, y) {
				// +4: the quiet zone QR readers need around the code.
				b.WriteString("M" + strconv.Itoa(x+4) + " " + strconv.Itoa(y+4) + "h1v1h-1z")
			}
		}
	}
	return b.String(), code.Size + 8
}
