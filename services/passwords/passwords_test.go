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
	ada := Owner{Email: "ada.lovelace@example.com", Name: "Ada Lovelace"}
	cases := []struct {
		pw    string
		owner Owner
		want  string // a part of the message; "" for allowed
	}{
		{"", Owner{}, "at least"},
		{"1234567", Owner{}, "at least"},
		{"ünïcödé", Owner{}, "at least"}, // 7 runes even though more bytes
		{"ünïcödéé", Owner{}, ""},
		{"vq8-tank-lilac", Owner{}, ""},
		{strings.Repeat("ab9", MaxLength/3), Owner{}, ""},
		{strings.Repeat("a", MaxLength+1), Owner{}, "at most"},
		// Leaked and common passwords, whatever their case or a tail of
		// digits and symbols added to one.
		{"12345678", Owner{}, "common and leaked"},
		{"password", Owner{}, "common and leaked"},
		{"PassWord", Owner{}, "common and leaked"},
		{"sunshine2024!", Owner{}, "common and leaked"},
		{"trustno1", Owner{}, "common and leaked"},
		{"iloveyou", Owner{}, "common and leaked"},
		// The owner's own email and name.
		{"ada.lovelace@example.com", ada, "your own email"},
		{"xx-ada.lovelace-xx", ada, `"ada.lovelace"`},
		{"LOVELACE-river-9", ada, `"lovelace"`},
		{"adalovelace99", ada, `"adalovelace"`},
		{"bandana-kettle-7", ada, ""}, // "ada" alone is too short a word to forbid
		{"LOVELACE-river-9", Owner{Email: "x@example.com", Name: "Grace"}, ""},
	}
	for _, c := range cases {
		got := Check(c.pw, c.owner)
		if (got == "") != (c.want == "") || !strings.Contains(got, c.want) {
			t.Errorf("Check(%q, %+v) = %q, want a message with %q", c.pw, c.owner, got, c.want)
		}
	}
}

// The list shipped is at least the 10,000 most common passwords.
func TestCommonListSize(t *testing.T) {
	if n := len(commonPasswords()); n < 10_000 {
		t.Fatalf("%d common passwords, want at least 10,000", n)
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("password1", "a@b.co", "A B")
	f.Fuzz(func(t *testing.T, pw, email, name string) {
		if msg := Check(pw, Owner{Email: email, Name: name}); msg == "" && len([]rune(pw)) < MinLength {
			t.Fatalf("a %d-rune password was allowed", len([]rune(pw)))
		}
	})
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
