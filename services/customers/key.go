// Package customers puts the three areas together for support: one search
// box that understands every kind of key staff are given (phone numbers,
// NINs, device and card ids, every upstream id, external ids and our
// references), and a customer profile keyed by phone, NIN or device that
// shows every document, verification and recharge of that customer.
//
// Everything here reads our database through indexed lookups; the only
// upstream call is the 1flow lookup a profile makes once when it opens.
package customers

import (
	"errors"
	"regexp"
	"strings"

	"portal/services/phone"
)

// KeyKind is what identifies a customer.
type KeyKind string

const (
	KeyPhone  KeyKind = "phone"  // E.164
	KeyNIN    KeyKind = "nin"    // 11 digits
	KeyDevice KeyKind = "device" // a 1flow meter serial number
	KeyCard   KeyKind = "card"   // a 1flow card id
)

// Key names a customer: the path segment of /customers/:key is its
// String form ("+254712345678", "nin:12345678901", "device:…", "card:…").
type Key struct {
	Kind  KeyKind
	Value string
}

// ErrBadKey is a customer key that names nobody we could look up.
var ErrBadKey = errors.New("customers: not a phone number, NIN, device or card id")

var (
	ninPattern    = regexp.MustCompile(`^[0-9]{11}$`)
	targetPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{3,63}$`)
)

// String is the key as it appears in URLs.
func (k Key) String() string {
	if k.Kind == KeyPhone {
		return k.Value
	}
	return string(k.Kind) + ":" + k.Value
}

// Label is the key for people: "phone +254712345678".
func (k Key) Label() string {
	switch k.Kind {
	case KeyPhone:
		return "phone " + k.Value
	case KeyNIN:
		return "NIN " + k.Value
	case KeyCard:
		return "card " + k.Value
	}
	return "device " + k.Value
}

// ParseKey reads a key from its String form; a bare phone number in any
// common format is accepted too.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	kind, value, found := strings.Cut(s, ":")
	if !found {
		p, err := phone.Normalize(s)
		if err != nil {
			return Key{}, ErrBadKey
		}
		return Key{KeyPhone, p}, nil
	}
	value = strings.TrimSpace(value)
	switch KeyKind(kind) {
	case KeyNIN:
		if ninPattern.MatchString(value) {
			return Key{KeyNIN, value}, nil
		}
	case KeyDevice, KeyCard:
		if targetPattern.MatchString(value) {
			return Key{KeyKind(kind), value}, nil
		}
	case KeyPhone:
		if p, err := phone.Normalize(value); err == nil {
			return Key{KeyPhone, p}, nil
		}
	}
	return Key{}, ErrBadKey
}
