package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"portal/models"
)

// logsSince returns the portal's log lines written after mark bytes.
func logsSince(logs string, mark int) []string {
	return strings.Split(strings.TrimSpace(logs[mark:]), "\n")
}

// A browser that goes away is not a server error: monitoring must not page
// anyone for it, and the request line says 499.
func TestClientGoneIsNotAServerError(t *testing.T) {
	p := start(t, nil)
	admin := signInAdmin(t, p)
	u, _ := url.Parse(p.URL)

	t.Run("request abandoned before the answer", func(t *testing.T) {
		mark := len(p.Logs.String())
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/recharges?q=abandoned", nil)
		for _, ck := range admin.client.Jar.Cookies(u) {
			req.AddCookie(ck)
		}
		p.App.Server.ServeHTTP(httptest.NewRecorder(), req)
		lines := logsSince(p.Logs.String(), mark)
		if !strings.Contains(strings.Join(lines, "\n"), `"path":"/recharges"`) {
			t.Fatalf("no log line for the abandoned request:\n%s", p.Logs.String())
		}
		for _, l := range lines {
			if strings.Contains(l, `"level":"ERROR"`) || strings.Contains(l, `"status":500`) {
				t.Errorf("an abandoned request was logged as an error: %s", l)
			}
		}
		if !strings.Contains(strings.Join(lines, "\n"), `"client_gone":true`) {
			t.Errorf("the request line does not say the client went away:\n%s", strings.Join(lines, "\n"))
		}
	})

	t.Run("download abandoned halfway", func(t *testing.T) {
		// Enough rows that the export is still writing when the client
		// hangs up.
		rows := make([]models.Recharge, 30000)
		now := time.Now().UTC()
		for i := range rows {
			rows[i] = models.Recharge{IdempotencyKey: fmt.Sprintf("gone-%d", i), DeviceID: fmt.Sprintf("6875%010d", i), CustomerName: "Someone Leaving Early",
				CustomerPhone: "+254712345678", Amount: decimal.RequireFromString("10"), Currency: "KES", State: models.RechargeFailed, CreatedAt: now, UpdatedAt: now}
		}
		if err := p.App.DB.CreateInBatches(rows, 500).Error; err != nil {
			t.Fatal(err)
		}
		mark := len(p.Logs.String())
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		var cookies []string
		for _, ck := range admin.client.Jar.Cookies(u) {
			cookies = append(cookies, ck.Name+"="+ck.Value)
		}
		fmt.Fprintf(conn, "GET /recharges/export HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n", u.Host, strings.Join(cookies, "; "))
		status, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.Contains(status, "200") {
			t.Fatalf("export answered %q (%v)", status, err)
		}
		_ = conn.Close()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(p.Logs.String(), `"path":"/recharges/export"`) {
			if time.Now().After(deadline) {
				t.Fatalf("the abandoned export never finished:\n%s", p.Logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		lines := logsSince(p.Logs.String(), mark)
		joined := strings.Join(lines, "\n")
		if strings.Contains(joined, `"level":"ERROR"`) {
			t.Errorf("an abandoned download was logged as an error:\n%s", joined)
		}
		if !strings.Contains(joined, "csv export: client went away") || !strings.Contains(joined, `"client_gone":true`) {
			t.Errorf("the log does not say the client went away:\n%s", joined)
		}
	})
}
