package pawapass

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"portal/services/upstream"
)

const webhookSecret = "whsec-test-0123456789"

func notificationBody(id, typ, data string) string {
	return `{"notificationId":"` + id + `","type":"` + typ + `","object":"VERIFICATION","createdAt":"2025-08-20T09:05:00Z","data":` + data + `}`
}

func TestSignIsHexHMACSHA256(t *testing.T) {
	body := []byte(notificationBody("n-1", NotificationStatusChange, verificationJSON("v1", StatusApproved)))
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(body)
	if got, want := Sign(webhookSecret, body), hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(notificationBody("n-1", NotificationStatusChange, verificationJSON("v1", StatusApproved)))
	good := Sign(webhookSecret, body)
	for _, tc := range []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"valid", webhookSecret, body, good, true},
		{"upper-case hex", webhookSecret, body, strings.ToUpper(good), true},
		{"sha256= prefix", webhookSecret, body, "sha256=" + good, true},
		{"SHA256= prefix", webhookSecret, body, "SHA256=" + strings.ToUpper(good), true},
		{"surrounding space", webhookSecret, body, " " + good + "\t", true},
		{"tampered body", webhookSecret, append([]byte(nil), strings.Replace(string(body), "APPROVED", "DECLINED", 1)...), good, false},
		{"body with a trailing newline", webhookSecret, append(append([]byte(nil), body...), '\n'), good, false},
		{"wrong secret", "other-secret", body, good, false},
		{"empty secret", "", body, Sign("", body), false},
		{"empty signature", webhookSecret, body, "", false},
		{"blank signature", webhookSecret, body, "   ", false},
		{"prefix only", webhookSecret, body, "sha256=", false},
		{"truncated", webhookSecret, body, good[:63], false},
		{"too long", webhookSecret, body, good + "00", false},
		{"one digit off", webhookSecret, body, good[:63] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", good[63])+1)%16]), false},
		{"not hex", webhookSecret, body, strings.Repeat("zz", 32), false},
		{"base64 of the right MAC", webhookSecret, body, "dGhpcyBpcyBub3QgdGhlIGhleCBmb3JtIGF0IGFsbCE=", false},
		{"double prefix", webhookSecret, body, "sha256=sha256=" + good, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifySignature(tc.secret, tc.body, tc.sig); got != tc.want {
				t.Errorf("VerifySignature = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseNotification(t *testing.T) {
	body := notificationBody("2d6f3a1e-8c1b-4f7e-9a53-0b1c2d3e4f50", NotificationIdentityDocumentChange, verificationJSON("v1", StatusUserDataCollected))
	n, err := ParseNotification([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if n.NotificationID != "2d6f3a1e-8c1b-4f7e-9a53-0b1c2d3e4f50" || n.Type != NotificationIdentityDocumentChange ||
		n.Object != NotificationObject || !n.CreatedAt.Equal(time.Date(2025, 8, 20, 9, 5, 0, 0, time.UTC)) {
		t.Errorf("notification = %+v", n)
	}
	if n.Data.ID != "v1" || n.Data.Status != StatusUserDataCollected || string(n.Data.Raw) != verificationJSON("v1", StatusUserDataCollected) {
		t.Errorf("data = %+v", n.Data)
	}
	// Tolerant: unknown fields and types, a missing createdAt.
	n, err = ParseNotification([]byte(`{"notificationId":"n2","type":"VERIFICATION.SOMETHING_NEW","extra":[1],"data":{"id":"v2","new":true}}`))
	if err != nil || n.Type != "VERIFICATION.SOMETHING_NEW" || !n.CreatedAt.IsZero() || n.Data.ID != "v2" {
		t.Errorf("tolerant parse: %+v, %v", n, err)
	}
}

func TestParseNotificationRefusesGarbage(t *testing.T) {
	for name, body := range map[string]string{
		"empty":              ``,
		"not json":           `notification`,
		"null":               `null`,
		"array":              `[{"notificationId":"n1","data":{"id":"v1"}}]`,
		"truncated":          `{"notificationId":"n1","data":{"id":"v1"`,
		"no notificationId":  `{"type":"VERIFICATION.STATUS_CHANGE","data":{"id":"v1"}}`,
		"blank id":           `{"notificationId":"  ","data":{"id":"v1"}}`,
		"id not a string":    `{"notificationId":7,"data":{"id":"v1"}}`,
		"no data":            `{"notificationId":"n1"}`,
		"null data":          `{"notificationId":"n1","data":null}`,
		"data is a string":   `{"notificationId":"n1","data":"v1"}`,
		"data without id":    `{"notificationId":"n1","data":{"status":"APPROVED"}}`,
		"data with bad time": `{"notificationId":"n1","data":{"id":"v1","updatedAt":"soon"}}`,
		"bad createdAt":      `{"notificationId":"n1","createdAt":"now","data":{"id":"v1"}}`,
		"trailing data":      `{"notificationId":"n1","data":{"id":"v1"}} {}`,
		"too large":          `{"notificationId":"n1","data":{"id":"v1"},"pad":"` + strings.Repeat("x", upstream.DefaultMaxBody) + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseNotification([]byte(body))
			t.Logf("err: %.200v", err)
			if !errors.Is(err, ErrInvalidNotification) {
				t.Fatalf("err = %v, want ErrInvalidNotification", err)
			}
			if !strings.HasPrefix(err.Error(), "pawapass: invalid notification") || len(err.Error()) > 1000 {
				t.Errorf("error text %.200q", err)
			}
		})
	}
}
