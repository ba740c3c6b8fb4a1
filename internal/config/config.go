// Package config reads the portal's settings from the environment.
//
// Everything is validated up front so that a typo stops the program at start-up
// with a message naming the variable, instead of surfacing hours later as a
// confusing upstream error.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"portal/services/lifecycle"
)

// Error names the variable that holds an invalid value.
type Error struct {
	Var     string
	Message string
}

func (e *Error) Error() string { return e.Var + ": " + e.Message }

// SandboxMode is the PORTAL_SANDBOX setting.
type SandboxMode string

const (
	SandboxAuto SandboxMode = "auto"
	SandboxOn   SandboxMode = "on"
	SandboxOff  SandboxMode = "off"
)

// WebhookSecretPattern is what PASBY_WEBHOOK_SECRET must look like: it
// becomes a URL path segment.
var WebhookSecretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{20,128}$`)

// Pasby holds the e-signature provider's settings.
type Pasby struct {
	BaseURL    string
	APIKey     string
	AppSecret  string
	APIVersion string // "v2" or "v1"
	// WebhookSecret is the path secret of the webhook URL given to pasby
	// (PASBY_WEBHOOK_SECRET); empty: generate and keep one in the data
	// folder.
	WebhookSecret string
}

// Configured reports whether a real (or externally hosted) pasby is set up.
func (p Pasby) Configured() bool { return p.BaseURL != "" && p.APIKey != "" && p.AppSecret != "" }

// IDV holds the PassportReader settings.
type IDV struct {
	BaseURL   string
	PublicKey string
	Secret    string
	// CallbackSecret is the path secret of the callback URL given to
	// PassportReader (IDV_CALLBACK_SECRET); empty: generate and keep one in
	// the data folder.
	CallbackSecret string
}

func (p IDV) Configured() bool { return p.BaseURL != "" && p.PublicKey != "" && p.Secret != "" }

// PawaPass holds the pawaPass KYC settings.
type PawaPass struct {
	BaseURL       string
	APIKey        string
	WebhookSecret string
	// SuccessURL, ErrorURL and SupportURL prefill the form; empty: the
	// portal's own /kyc/done, /kyc/error and /kyc/help pages.
	SuccessURL, ErrorURL, SupportURL string
}

func (p PawaPass) Configured() bool { return p.BaseURL != "" && p.APIKey != "" }

// OneFlow holds the 1flow water-credit settings.
type OneFlow struct {
	BaseURL      string
	ClientID     string
	ClientSecret string
}

func (p OneFlow) Configured() bool {
	return p.BaseURL != "" && p.ClientID != "" && p.ClientSecret != ""
}

// Config is the whole validated configuration.
type Config struct {
	Addr            string
	DBPath          string
	DatabaseURL     string // PostgreSQL; empty: the SQLite file at DBPath
	BaseURL         *url.URL
	SessionKey      string // empty: generate and keep one in the data folder
	AdminEmail      string
	AdminPassword   string
	Sandbox         SandboxMode
	TrustedProxies  []string
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// ReviewSLA is how long a compliance case may wait for its decision
	// before the queues and the dashboard mark it late.
	ReviewSLA      time.Duration
	LogLevel       string
	MaxRecharge    decimal.Decimal
	IDVStoreImages *bool // nil: on in sandbox, off otherwise
	// ClaimLease is how long a replica holds a record it is sending or
	// checking; work a dead replica held is taken over after it.
	ClaimLease time.Duration
	// How soon the sandbox's simulated customers act by themselves: sign a
	// document, move a verification on, settle a recharge. The same
	// settings as the standalone sandbox's.
	SandboxAutoSign    time.Duration
	SandboxAutoAdvance time.Duration
	SandboxSettleAfter time.Duration

	Pasby    Pasby
	IDV      IDV
	PawaPass PawaPass
	OneFlow  OneFlow
}

// Secure reports whether the portal is served over https, which decides cookie
// names and flags and whether HSTS is sent.
func (c *Config) Secure() bool { return c.BaseURL.Scheme == "https" }

// SandboxEnabled resolves PORTAL_SANDBOX=auto: the simulators run when no
// upstream has credentials, so a fresh checkout is usable without secrets.
func (c *Config) SandboxEnabled() bool {
	switch c.Sandbox {
	case SandboxOn:
		return true
	case SandboxOff:
		return false
	}
	return !c.Pasby.Configured() && !c.IDV.Configured() && !c.PawaPass.Configured() && !c.OneFlow.Configured()
}

// StoreIDVImages reports whether portraits and face images are kept.
func (c *Config) StoreIDVImages() bool {
	if c.IDVStoreImages != nil {
		return *c.IDVStoreImages
	}
	return c.SandboxEnabled()
}

// Load reads the configuration through getenv (os.Getenv in production, a map
// in tests).
func Load(getenv func(string) string) (*Config, error) {
	r := reader{getenv: getenv}
	c := &Config{
		Addr:          r.str("PORTAL_ADDR", "127.0.0.1:8080"),
		DBPath:        r.str("PORTAL_DB", "./data/portal.db"),
		DatabaseURL:   getenv("DATABASE_URL"),
		SessionKey:    r.str("PORTAL_SESSION_KEY", ""),
		AdminEmail:    strings.ToLower(r.str("PORTAL_ADMIN_EMAIL", "admin@example.com")),
		AdminPassword: getenv("PORTAL_ADMIN_PASSWORD"),
		LogLevel:      strings.ToLower(r.str("PORTAL_LOG_LEVEL", "info")),
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		r.fail("PORTAL_ADDR", "must be host:port, for example 127.0.0.1:8080")
	}
	c.BaseURL = r.baseURL("PORTAL_BASE_URL", "http://"+c.Addr)
	if c.DatabaseURL != "" {
		if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			r.fail("DATABASE_URL", "must be a PostgreSQL URL, for example postgres://portal:secret@db.internal:5432/portal; leave it unset to use the SQLite file in PORTAL_DB")
		}
	}
	if c.SessionKey != "" && len(c.SessionKey) < 32 {
		r.fail("PORTAL_SESSION_KEY", "must be at least 32 characters")
	}
	if !looksLikeEmail(c.AdminEmail) {
		r.fail("PORTAL_ADMIN_EMAIL", "must be an email address")
	}
	if c.AdminPassword != "" && len([]rune(c.AdminPassword)) < 8 {
		r.fail("PORTAL_ADMIN_PASSWORD", "must be at least 8 characters")
	}
	switch mode := SandboxMode(strings.ToLower(r.str("PORTAL_SANDBOX", "auto"))); mode {
	case SandboxAuto, SandboxOn, SandboxOff:
		c.Sandbox = mode
	default:
		r.fail("PORTAL_SANDBOX", "must be auto, on or off")
	}
	c.TrustedProxies = r.proxies("PORTAL_TRUSTED_PROXIES")
	c.IdleTimeout = r.duration("PORTAL_SESSION_IDLE_TIMEOUT", 30*time.Minute)
	c.AbsoluteTimeout = r.duration("PORTAL_SESSION_ABSOLUTE_TIMEOUT", 12*time.Hour)
	c.ReviewSLA = r.duration("PORTAL_REVIEW_SLA", 24*time.Hour)
	if c.AbsoluteTimeout < c.IdleTimeout {
		r.fail("PORTAL_SESSION_ABSOLUTE_TIMEOUT", "must not be shorter than PORTAL_SESSION_IDLE_TIMEOUT")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		r.fail("PORTAL_LOG_LEVEL", "must be debug, info, warn or error")
	}
	c.MaxRecharge = r.positiveDecimal("PORTAL_MAX_RECHARGE", "10000")
	c.ClaimLease = r.durationIn("PORTAL_CLAIM_LEASE", lifecycle.DefaultLease, lifecycle.MinLease, time.Hour, "2m")
	c.IDVStoreImages = r.optionalBool("IDV_STORE_IMAGES")
	c.SandboxAutoSign = r.durationIn("SANDBOX_AUTO_SIGN", 3*time.Minute, time.Second, 24*time.Hour, "3m")
	c.SandboxAutoAdvance = r.durationIn("SANDBOX_AUTO_ADVANCE", 90*time.Second, time.Second, 24*time.Hour, "90s")
	c.SandboxSettleAfter = r.durationIn("SANDBOX_SETTLE_AFTER", 20*time.Second, time.Second, 24*time.Hour, "20s")

	c.Pasby = Pasby{
		BaseURL:       r.upstreamURL("PASBY_BASE_URL"),
		APIKey:        r.str("PASBY_API_KEY", ""),
		AppSecret:     r.str("PASBY_APP_SECRET", ""),
		APIVersion:    strings.ToLower(r.str("PASBY_API_VERSION", "v2")),
		WebhookSecret: r.str("PASBY_WEBHOOK_SECRET", ""),
	}
	if c.Pasby.WebhookSecret != "" && !WebhookSecretPattern.MatchString(c.Pasby.WebhookSecret) {
		r.fail("PASBY_WEBHOOK_SECRET", "must be 20 to 128 letters, digits, '-' or '_'")
	}
	if c.Pasby.APIVersion != "v1" && c.Pasby.APIVersion != "v2" {
		r.fail("PASBY_API_VERSION", "must be v2 or v1")
	}
	c.IDV = IDV{
		BaseURL:        r.upstreamURL("IDV_BASE_URL"),
		PublicKey:      r.str("IDV_PUBLIC_KEY", ""),
		Secret:         r.str("IDV_SECRET", ""),
		CallbackSecret: r.str("IDV_CALLBACK_SECRET", ""),
	}
	if c.IDV.CallbackSecret != "" && !WebhookSecretPattern.MatchString(c.IDV.CallbackSecret) {
		r.fail("IDV_CALLBACK_SECRET", "must be 20 to 128 letters, digits, '-' or '_'")
	}
	c.PawaPass = PawaPass{
		BaseURL:       r.upstreamURL("PAWAPASS_BASE_URL"),
		APIKey:        r.str("PAWAPASS_API_KEY", ""),
		WebhookSecret: r.str("PAWAPASS_WEBHOOK_SECRET", ""),
		// The customer's browser goes there after pawaPass; the portal
		// never fetches them.
		SuccessURL: r.upstreamURL("PAWAPASS_SUCCESS_URL"),
		ErrorURL:   r.upstreamURL("PAWAPASS_ERROR_URL"),
		SupportURL: r.upstreamURL("PAWAPASS_SUPPORT_URL"),
	}
	c.OneFlow = OneFlow{
		BaseURL:      r.upstreamURL("ONEFLOW_BASE_URL"),
		ClientID:     r.str("ONEFLOW_CLIENT_ID", ""),
		ClientSecret: r.str("ONEFLOW_CLIENT_SECRET", ""),
	}
	r.pair("PASBY_BASE_URL", c.Pasby.BaseURL, "PASBY_API_KEY", c.Pasby.APIKey, "PASBY_APP_SECRET", c.Pasby.AppSecret)
	r.pair("IDV_BASE_URL", c.IDV.BaseURL, "IDV_PUBLIC_KEY", c.IDV.PublicKey, "IDV_SECRET", c.IDV.Secret)
	r.pair("PAWAPASS_BASE_URL", c.PawaPass.BaseURL, "PAWAPASS_API_KEY", c.PawaPass.APIKey)
	r.pair("ONEFLOW_BASE_URL", c.OneFlow.BaseURL, "ONEFLOW_CLIENT_ID", c.OneFlow.ClientID, "ONEFLOW_CLIENT_SECRET", c.OneFlow.ClientSecret)

	if r.err != nil {
		return nil, r.err
	}
	if !c.SandboxEnabled() {
		// Outside the sandbox every provider must be reachable for real; a
		// half-configured portal would fail on the first create instead of now.
		for _, p := range []struct {
			name string
			ok   bool
			vars string
		}{
			{"pasby", c.Pasby.Configured(), "PASBY_BASE_URL, PASBY_API_KEY, PASBY_APP_SECRET"},
			{"PassportReader", c.IDV.Configured(), "IDV_BASE_URL, IDV_PUBLIC_KEY, IDV_SECRET"},
			{"pawaPass", c.PawaPass.Configured(), "PAWAPASS_BASE_URL, PAWAPASS_API_KEY"},
			{"1flow", c.OneFlow.Configured(), "ONEFLOW_BASE_URL, ONEFLOW_CLIENT_ID, ONEFLOW_CLIENT_SECRET"},
		} {
			if !p.ok {
				return nil, &Error{Var: "PORTAL_SANDBOX", Message: fmt.Sprintf("sandbox is off but %s is not configured (set %s)", p.name, p.vars)}
			}
		}
	}
	return c, nil
}

// Masked returns the configuration as name/value pairs for the start-up log,
// with every secret replaced so logs can be shared freely.
func (c *Config) Masked() []any {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "********"
	}
	return []any{
		"addr", c.Addr, "db", c.databaseForLog(), "base_url", c.BaseURL.String(),
		"session_key", mask(c.SessionKey), "admin_email", c.AdminEmail,
		"sandbox", c.SandboxEnabled(), "trusted_proxies", c.TrustedProxies,
		"idle_timeout", c.IdleTimeout.String(), "absolute_timeout", c.AbsoluteTimeout.String(), "review_sla", c.ReviewSLA.String(), "claim_lease", c.ClaimLease.String(),
		"pasby_base_url", c.Pasby.BaseURL, "pasby_api_key", mask(c.Pasby.APIKey), "pasby_app_secret", mask(c.Pasby.AppSecret), "pasby_api_version", c.Pasby.APIVersion, "pasby_webhook_secret", mask(c.Pasby.WebhookSecret),
		"idv_base_url", c.IDV.BaseURL, "idv_public_key", mask(c.IDV.PublicKey), "idv_secret", mask(c.IDV.Secret), "idv_callback_secret", mask(c.IDV.CallbackSecret),
		"pawapass_base_url", c.PawaPass.BaseURL, "pawapass_api_key", mask(c.PawaPass.APIKey), "pawapass_webhook_secret", mask(c.PawaPass.WebhookSecret),
		"oneflow_base_url", c.OneFlow.BaseURL, "oneflow_client_id", mask(c.OneFlow.ClientID), "oneflow_client_secret", mask(c.OneFlow.ClientSecret),
	}
}

// databaseForLog names the database without its password.
func (c *Config) databaseForLog() string {
	if c.DatabaseURL == "" {
		return c.DBPath
	}
	u, err := url.Parse(c.DatabaseURL)
	if err != nil {
		return "postgres"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "********")
	}
	return u.Redacted()
}

// reader collects the first error so Load reads linearly.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, msg string) {
	if r.err == nil {
		r.err = &Error{Var: name, Message: msg}
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

func (r *reader) baseURL(name, def string) *url.URL {
	raw := r.str(name, def)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		r.fail(name, "must be an http or https URL with no path, for example https://portal.example.com")
		return &url.URL{Scheme: "http", Host: "invalid"}
	}
	u.Path = ""
	return u
}

func (r *reader) upstreamURL(name string) string {
	raw := r.str(name, "")
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		r.fail(name, "must be an http or https URL, for example https://api.example.com/v2")
		return ""
	}
	return strings.TrimRight(raw, "/")
}

func (r *reader) pair(urlName, urlValue string, others ...string) {
	set := urlValue != ""
	for i := 0; i+1 < len(others); i += 2 {
		if (others[i+1] != "") != set {
			if set {
				r.fail(others[i], "must be set when "+urlName+" is set")
			} else {
				r.fail(urlName, "must be set when "+others[i]+" is set")
			}
			return
		}
	}
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	return r.durationIn(name, def, time.Minute, 30*24*time.Hour, "30m")
}

func (r *reader) durationIn(name string, def, least, most time.Duration, example string) time.Duration {
	raw := r.str(name, "")
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < least || d > most {
		r.fail(name, fmt.Sprintf("must be a duration between %s and %s, for example %s", short(least), short(most), example))
		return def
	}
	return d
}

// short writes a duration the way a person would type it: 1m, not 1m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (r *reader) optionalBool(name string) *bool {
	raw := r.str(name, "")
	if raw == "" {
		return nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		r.fail(name, "must be true or false")
		return nil
	}
	return &b
}

func (r *reader) positiveDecimal(name, def string) decimal.Decimal {
	d, err := decimal.NewFromString(r.str(name, def))
	if err != nil || !d.IsPositive() || d.Exponent() < -2 {
		r.fail(name, "must be a positive amount with at most 2 decimals, for example 10000")
		return decimal.RequireFromString(def)
	}
	return d
}

func (r *reader) proxies(name string) []string {
	raw := r.str(name, "")
	if raw == "" {
		return nil
	}
	var out []string
	for _, p := range strings.FieldsFunc(raw, func(c rune) bool { return c == ',' || c == ' ' }) {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				r.fail(name, fmt.Sprintf("%q is not an IP address or CIDR range", p))
				return nil
			}
		}
		out = append(out, p)
	}
	return out
}

func looksLikeEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>")
}
