package sandbox

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The sandbox simulator's webhook client may only reach the portal itself:
// anyone can create a sandbox document naming any webhook host.
func TestWebhookClientRefusesOtherHosts(t *testing.T) {
	own := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer own.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("the other host was reached")
	}))
	defer other.Close()
	hc := WebhookClient("http", strings.TrimPrefix(own.URL, "http://"), 5*time.Second)
	resp, err := hc.Post(own.URL+"/webhooks/pasby/x", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("own host: %v", err)
	}
	resp.Body.Close()
	for _, target := range []string{other.URL + "/hook", "https://" + strings.TrimPrefix(own.URL, "http://") + "/hook", "http://169.254.169.254/latest"} {
		if resp, err := hc.Post(target, "application/json", strings.NewReader("{}")); err == nil {
			resp.Body.Close()
			t.Errorf("%s: reached, want refused", target)
		}
	}
}
