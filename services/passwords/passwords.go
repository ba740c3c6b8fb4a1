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

// Check returns a message for a password that may not be used, or "".
func Check(password string) string {
	n := len([]rune(password))
	switch {
	case n < MinLength:
		return fmt.Sprintf("Use at least %d characters.", MinLength)
	case n > MaxLength:
		return fmt.Sprintf("Use at most %d characters.", MaxLength)
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
