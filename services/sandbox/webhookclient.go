package sandbox

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// WebhookClient is the HTTP client a simulator posts webhooks and callbacks
// with: it only connects to scheme://host (the portal) and never follows
// redirects. Anyone may create a sandbox document naming any webhook host,
// so without it the sandbox could be made to reach internal addresses.
func WebhookClient(scheme, host string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		Transport:     onlyTo{scheme: scheme, host: host, next: http.DefaultTransport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type onlyTo struct {
	scheme, host string
	next         http.RoundTripper
}

func (o onlyTo) RoundTrip(r *http.Request) (*http.Response, error) {
	if !strings.EqualFold(r.URL.Scheme, o.scheme) || !strings.EqualFold(r.URL.Host, o.host) {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, fmt.Errorf("sandbox: webhooks may only go to the portal (%s://%s), not to %s://%s", o.scheme, o.host, r.URL.Scheme, r.URL.Host)
	}
	return o.next.RoundTrip(r)
}
