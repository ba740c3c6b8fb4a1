// Package passwords hashes staff passwords with argon2id and stores them as
// PHC strings, so the cost parameters can be raised later without breaking
// existing hashes.
package passwords

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"github.com/trustelem/zxcvbn/frequency"
	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters.
type Params struct {
	MemoryKiB  uint32
	Iterations uint32
	Threads    uint8
	SaltLen    int
	KeyLen     uint32
}

// Default follows OWASP's minimum for argon2id (19 MiB, 2 iterations, 1 thread).
var Default = Params{MemoryKiB: 19 * 1024, Iterations: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on what a person may choose. There are no composition rules: length
// is what makes a password strong, and any UTF-8 text is kept exactly as typed.
const (
	MinLength = 8
	MaxLength = 256
)

// ErrMalformed is returned for a stored hash this package cannot read.
var ErrMalformed = errors.New("passwords: malformed hash")

// Owner is whose password is being set: a password built from its owner's
// own email or name is among the first an attacker tries.
type Owner struct{ Email, Name string }

// Check returns a message for a password that may not be used, or "". The
// message says why, so the person can choose a better one.
func Check(password string, owner Owner) string {
	n := len([]rune(password))
	switch {
	case n < MinLength:
		return fmt.Sprintf("Use at least %d characters.", MinLength)
	case n > MaxLength:
		return fmt.Sprintf("Use at most %d characters.", MaxLength)
	case Common(password):
		return "This password is on the lists of common and leaked passwords that attackers try first. Choose one nobody else would."
	}
	if part := personalPart(password, owner); part != "" {
		return fmt.Sprintf("The password contains %q from your own email or name, which an attacker would try early. Leave it out.", part)
	}
	return ""
}

// Common reports whether password, ignoring case, is one of the 30,000 most
// common passwords (zxcvbn's list of leaked passwords), also when a person
// only added digits or symbols at the end ("Dragon2024!").
func Common(password string) bool {
	lower := strings.ToLower(password)
	common := commonPasswords()
	if common[lower] {
		return true
	}
	stem := strings.TrimRightFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	return len([]rune(stem)) >= 4 && stem != lower && common[stem]
}

// commonPasswords is built on first use: the set of 30,000 costs 1.6 MiB
// of heap (measured with runtime.MemStats after a GC), which a process
// that never sets a password need not pay.
var commonPasswords = sync.OnceValue(func() map[string]bool {
	list := frequency.FrequencyLists["passwords"]
	set := make(map[string]bool, len(list))
	for _, p := range list {
		set[p] = true
	}
	return set
})

// personalPart returns the part of owner's email or name that password
// contains, or "". Name words shorter than four letters are left out:
// "Ann" would forbid "bANNer".
func personalPart(password string, owner Owner) string {
	lower := strings.ToLower(password)
	email := strings.ToLower(strings.TrimSpace(owner.Email))
	local, _, _ := strings.Cut(email, "@")
	candidates := []string{email, local}
	name := strings.ToLower(strings.TrimSpace(owner.Name))
	candidates = append(candidates, strings.Join(strings.Fields(name), ""))
	for _, w := range strings.FieldsFunc(name+" "+local, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len([]rune(w)) >= 4 {
			candidates = append(candidates, w)
		}
	}
	for _, c := range candidates {
		if len([]rune(c)) >= 3 && strings.Contains(lower, c) {
			return c
		}
	}
	return ""
}

// Hash returns the PHC string for password with p.
func Hash(password string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passwords: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Threads, p.KeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// Verify reports whether password matches the PHC string encoded, in constant
// time with respect to the key comparison.
func Verify(password, encoded string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether encoded was made with weaker parameters than p.
func NeedsRehash(encoded string, p Params) bool {
	old, _, _, err := decode(encoded)
	if err != nil {
		return true
	}
	return old.MemoryKiB < p.MemoryKiB || old.Iterations < p.Iterations || old.Threads < p.Threads
}

func decode(encoded string) (Params, []byte, []byte, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Threads); err != nil {
		return Params{}, nil, nil, ErrMalformed
	}
	// Refuse absurd costs from a tampered row rather than allocate gigabytes.
	if p.MemoryKiB < 1024 || p.MemoryKiB > 1<<21 || p.Iterations < 1 || p.Iterations > 64 || p.Threads < 1 {
		return Params{}, nil, nil, ErrMalformed
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}
