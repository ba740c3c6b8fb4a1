package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Routes is where a Simulator registers its endpoints. It wraps the
// simulator's own http.ServeMux; each pattern becomes a named endpoint on the
// sandbox page with its own hit counter and fault slot.
//
// Patterns are Go 1.22 ServeMux patterns without a host, relative to the
// simulator's root: "POST /oauth/token", "GET /sessions/{id}", "/health".
// Handlers see r.URL.Path (and r.Pattern) relative to that root too, while
// r.PathValue works as usual.
//
// A bad pattern does not panic as it would on a ServeMux: the first error is
// returned by Register, which then registers nothing.
type Routes struct {
	h    *Harness
	s    *simState
	err  error
	done bool
}

// Handle registers h for pattern.
func (rt *Routes) Handle(pattern string, h http.Handler) {
	if rt.done {
		// The harness reads the endpoint list without locking after
		// Register; growing it later would be a data race.
		panic("sandbox: Routes used after Register returned")
	}
	if rt.err != nil {
		return
	}
	if err := rt.handle(pattern, h); err != nil {
		rt.err = fmt.Errorf("route %q: %w", pattern, err)
	}
}

// HandleFunc registers f for pattern.
func (rt *Routes) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	if f == nil {
		rt.Handle(pattern, nil)
		return
	}
	rt.Handle(pattern, http.HandlerFunc(f))
}

func (rt *Routes) handle(pattern string, next http.Handler) (err error) {
	if next == nil {
		return errors.New("nil handler")
	}
	method, path, ok := splitPattern(pattern)
	if !ok {
		return errors.New(`want "[METHOD ]/path" relative to the simulator root, without a host`)
	}
	name := joinPattern(method, path)
	if _, dup := rt.s.byPattern[name]; dup {
		return errors.New("registered twice")
	}
	e := &endpoint{pattern: name}
	s, harness := rt.s, rt.h
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = stripPrefix(r, s.base, name)
		if f, ok := harness.take(s, e); ok {
			f.inject(w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	})
	// ServeMux panics on malformed or conflicting patterns; turn that into
	// an error for Register. Nothing else runs inside this recover.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	rt.s.mux.Handle(joinPattern(method, s.base+path), wrapped)
	rt.s.endpoints = append(rt.s.endpoints, e)
	rt.s.byPattern[name] = e
	return nil
}

// splitPattern splits "METHOD /path" the way ServeMux does (the method ends
// at the first space or tab). ok is false if the path is not absolute, which
// also rules out host patterns.
func splitPattern(p string) (method, path string, ok bool) {
	path = p
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		method, path = p[:i], strings.TrimLeft(p[i+1:], " \t")
	}
	return method, path, strings.HasPrefix(path, "/")
}

func joinPattern(method, path string) string {
	if method == "" {
		return path
	}
	return method + " " + path
}

// canonical normalises an endpoint name the way Handle did, so SetFault
// accepts "POST  /x" for "POST /x".
func canonical(endpoint string) string {
	if method, path, ok := splitPattern(endpoint); ok {
		return joinPattern(method, path)
	}
	return endpoint
}

// stripPrefix returns a shallow copy of r whose URL path is relative to the
// simulator root base, as http.StripPrefix would, with Pattern set to the
// simulator's own pattern. The copy keeps r's path values and context.
func stripPrefix(r *http.Request, base, pattern string) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	r2.URL = &u
	u.Path = strings.TrimPrefix(u.Path, base)
	u.RawPath = strings.TrimPrefix(u.RawPath, base)
	r2.Pattern = pattern
	return r2
}
