package passwords

import (
	"strings"
	"testing"
)

// Tests use cheaper parameters where the cost is not what is being tested.
var fast = Params{MemoryKiB: 1024, Iterations: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashAndVerify(t *testing.T) {
	for _, pw := range []string{"correct horse", "pässwörd ünïcode 🔑", strings.Repeat("long", 64), "  spaces kept  "} {
		h, err := Hash(pw, fast)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := Verify(pw, h); err != nil || !ok {
			t.Fatalf("Verify(%q) = %v, %v; want true", pw, ok, err)
		}
		for _, wrong := range []string{strings.TrimSpace(pw), pw + "x", strings.ToUpper(pw)} {
			if wrong == pw {
				continue
			}
			if ok, _ := Verify(wrong, h); ok {
				t.Fatalf("Verify(%q) matched the hash of %q", wrong, pw)
			}
		}
	}
}

func TestDefaultIsPHCWithRequiredCost(t *testing.T) {
	h, err := Hash("a password", Default)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not argon2id PHC with m=19456,t=2,p=1", h)
	}
	if NeedsRehash(h, Default) {
		t.Fatal("fresh default hash needs rehash")
	}
	weak, _ := Hash("a password", fast)
	if !NeedsRehash(weak, Default) {
		t.Fatal("weak hash does not need rehash")
	}
}

func TestSaltsDiffer(t *testing.T) {
	a, _ := Hash("same", fast)
	b, _ := Hash("same", fast)
	if a == b {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		pw string
		ok bool
	}{
		{"", false},
		{"1234567", false},
		{"12345678", true},
		{"ünïcödé", false}, // 7 runes even though more bytes
		{"ünïcödéé", true},
		{strings.Repeat("a", MaxLength), true},
		{strings.Repeat("a", MaxLength+1), false},
	}
	for _, c := range cases {
		if got := Check(c.pw) == ""; got != c.ok {
			t.Errorf("Check(%q) ok = %v, want %v", c.pw, got, c.ok)
		}
	}
}

func FuzzVerify(f *testing.F) {
	good, _ := Hash("seed", fast)
	f.Add("seed", good)
	f.Add("x", "$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("x", "$argon2id$v=19$m=1024,t=1,p=0$$")
	f.Fuzz(func(t *testing.T, pw, encoded string) {
		ok, err := Verify(pw, encoded)
		if err != nil && ok {
			t.Fatal("error with a match")
		}
	})
}
