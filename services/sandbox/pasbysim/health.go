package pasbysim

import "net/http"

// PathHealth is the SDK's health:check route. The documents do not list it;
// everything about it comes from the SDK (@finsel-dgi/pasby 0.0.6,
// health.healthCheck): GET, no API version in the path, x-api-key only, and
// "Simply returns status code 200 if online". [sdk]
const PathHealth = "/api/health/check"

// healthBody is what a healthy simulator answers. The SDK types the answer
// as a plain string and looks at nothing but the 200, so a short text is
// enough; pasby's actual text is not published. [ours]
const healthBody = "OK"

// handleHealth answers 200 to a request with the sandbox API key. The key
// is checked because the SDK marks it required and always sends it; an app
// secret is optional (the SDK sends none), but a wrong one is refused like
// everywhere else. [sdk for the key, ours for the error answer, which is the
// usual 401 envelope without a version, the route having none]
func (s *Sim) handleHealth(w http.ResponseWriter, r *http.Request) {
	if e := s.authenticate(r, authKeyOnly); e != nil {
		writeError(w, "", e)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(healthBody))
}
