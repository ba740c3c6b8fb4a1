// Package sandbox is the shared harness for the portal's upstream simulators.
//
// There is no internet in development and CI, so each upstream API (1flow,
// pasby, pawaPass, PassportReader) has a Simulator written from the
// provider's docs. The Harness mounts them under one prefix (e.g.
// /sandbox/oneflow/...), counts hits, runs the control actions the admin
// sandbox page offers, and injects faults per endpoint so that both a human
// on that page and a Go test can see how the portal copes with a slow,
// failing or broken upstream. Faults live in the harness, not in the
// simulators, so every simulator gets the same failure modes for free.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// A Simulator is one fake upstream.
type Simulator interface {
	// Name is the URL segment: "oneflow" is mounted at <prefix>/oneflow/.
	// Lowercase ASCII letters and digits only.
	Name() string
	// Title is shown on the sandbox page, e.g. "1flow water credit".
	Title() string
	// Routes registers the endpoints, e.g. r.HandleFunc("POST /oauth/token", f).
	// It is called once, by Register.
	Routes(r *Routes)
	// Actions are the controls offered on the sandbox page (may be empty).
	// It is called once, by Register.
	Actions() []Action
}

// An Action is a control on the sandbox page, such as "complete the pending
// signature", that pokes a simulator's state.
type Action struct {
	Name   string // stable id, unique within the simulator, e.g. "complete"
	Label  string // button text; defaults to Name
	Help   string
	Fields []Field // form inputs the page renders
	// Run performs the action. in holds exactly the declared Fields,
	// trimmed, with "" for optional fields left empty. The returned message
	// is shown to the user.
	Run func(ctx context.Context, in map[string]string) (string, error)
}

// A Field is one form input of an Action.
type Field struct {
	Name        string
	Label       string
	Placeholder string
	Options     []string // rendered as a select when non-empty; input must be one of them
	Required    bool
}

// AllEndpoints is the endpoint name that sets a fault for every endpoint of a
// simulator that has no fault of its own.
const AllEndpoints = "*"

// Errors returned by Harness methods, wrapped with the offending name. The
// web layer maps them (and *ValidationError) to 4xx with errors.Is / As.
var (
	ErrUnknownSimulator = errors.New("sandbox: unknown simulator")
	ErrUnknownEndpoint  = errors.New("sandbox: unknown endpoint")
	ErrUnknownAction    = errors.New("sandbox: unknown action")
)

// A ValidationError reports bad input for one form field. Field is a
// FieldKind / FieldLatencyMS / FieldStatus / FieldTimes for faults, or the
// Action field's Name for Run, so the page can show Message next to it.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// SimulatorView is a snapshot of one simulator for the sandbox page: plain
// values, safe to use after the harness has moved on.
type SimulatorView struct {
	Name      string
	Title     string
	Base      string // URL path of the simulator's root, e.g. "/sandbox/oneflow/"
	Wildcard  *Fault // fault set for AllEndpoints, or nil
	Endpoints []EndpointView
	Actions   []ActionView
}

// EndpointView is one registered endpoint, in registration order.
type EndpointView struct {
	Pattern string // e.g. "POST /oauth/token"; the name SetFault takes
	Fault   *Fault // its own fault (not the wildcard), or nil
	Hits    int64  // requests routed to it, faulted or not
}

// ActionView is an Action without its func.
type ActionView struct {
	Name   string
	Label  string
	Help   string
	Fields []Field
}

// Harness mounts simulators and injects faults. It is safe for concurrent
// use; simulators may be registered while it serves.
type Harness struct {
	prefix string // "" or "/a/b": no trailing slash

	// mu guards sims and everything mutable inside them (faults, hits).
	// One lock is plenty: the sandbox never sees real traffic.
	mu   sync.Mutex
	sims map[string]*simState
}

type simState struct {
	name, title string
	base        string         // prefix + "/" + name, no trailing slash
	mux         *http.ServeMux // built by Register before the sim is published; read-only after
	endpoints   []*endpoint    // registration order; the slice is read-only after Register
	byPattern   map[string]*endpoint
	actions     []Action // read-only after Register
	wildcard    *Fault   // guarded by Harness.mu
}

type endpoint struct {
	pattern string // canonical "METHOD /path" or "/path"
	fault   *Fault // guarded by Harness.mu
	hits    int64  // guarded by Harness.mu
}

// New returns a harness serving simulators under prefix, e.g. "/sandbox".
// A missing leading slash is added and a trailing one dropped. prefix must be
// a clean literal path of letters, digits and - _ . ~ (it becomes part of
// ServeMux patterns); anything else is a programming error and panics.
func New(prefix string) *Harness {
	p := "/" + strings.Trim(prefix, "/")
	for _, c := range p {
		if !(isLowerOrDigit(c) || c >= 'A' && c <= 'Z' || strings.ContainsRune("/-_.~", c)) {
			panic(fmt.Sprintf("sandbox: invalid prefix %q", prefix))
		}
	}
	if strings.Contains(p, "//") || strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") {
		panic(fmt.Sprintf("sandbox: invalid prefix %q", prefix))
	}
	if p == "/" {
		p = ""
	}
	return &Harness{prefix: p, sims: make(map[string]*simState)}
}

// Prefix returns the normalised prefix ("" when mounted at the root).
func (h *Harness) Prefix() string { return h.prefix }

// Register mounts sim at <prefix>/<name>/. It fails, leaving the harness
// unchanged, on an invalid or duplicate name, or on invalid routes or actions.
func (h *Harness) Register(sim Simulator) error {
	name := sim.Name()
	if name == "" || strings.IndexFunc(name, func(c rune) bool { return !isLowerOrDigit(c) }) >= 0 {
		return fmt.Errorf("sandbox: invalid simulator name %q: use lowercase letters and digits only", name)
	}
	h.mu.Lock()
	_, dup := h.sims[name]
	h.mu.Unlock()
	if dup {
		return fmt.Errorf("sandbox: simulator %q registered twice", name)
	}

	s := &simState{
		name:      name,
		title:     sim.Title(),
		base:      h.prefix + "/" + name,
		mux:       http.NewServeMux(),
		byPattern: make(map[string]*endpoint),
	}
	if s.title == "" {
		s.title = name
	}
	// Build the whole simulator privately first: an http.ServeMux cannot
	// unregister, so a half-registered simulator could never be fixed.
	rt := &Routes{h: h, s: s}
	sim.Routes(rt)
	rt.done = true
	if rt.err != nil {
		return fmt.Errorf("sandbox: simulator %q: %w", name, rt.err)
	}
	actions, err := checkActions(sim.Actions())
	if err != nil {
		return fmt.Errorf("sandbox: simulator %q: %w", name, err)
	}
	s.actions = actions

	h.mu.Lock()
	defer h.mu.Unlock()
	if _, dup := h.sims[name]; dup { // lost a race with a concurrent Register
		return fmt.Errorf("sandbox: simulator %q registered twice", name)
	}
	h.sims[name] = s
	return nil
}

// checkActions validates actions and returns a private copy, so a simulator
// that later mutates its slice cannot change what the harness runs.
func checkActions(in []Action) ([]Action, error) {
	out := make([]Action, 0, len(in))
	seen := make(map[string]bool)
	for _, a := range in {
		switch {
		case a.Name == "":
			return nil, errors.New("action with empty name")
		case seen[a.Name]:
			return nil, fmt.Errorf("action %q declared twice", a.Name)
		case a.Run == nil:
			return nil, fmt.Errorf("action %q has no Run func", a.Name)
		}
		seen[a.Name] = true
		fields := make(map[string]bool)
		for _, f := range a.Fields {
			if f.Name == "" || fields[f.Name] {
				return nil, fmt.Errorf("action %q: empty or duplicate field name %q", a.Name, f.Name)
			}
			fields[f.Name] = true
		}
		if a.Label == "" {
			a.Label = a.Name
		}
		a.Fields = cloneFields(a.Fields)
		out = append(out, a)
	}
	return out, nil
}

func cloneFields(fs []Field) []Field {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Options = slices.Clone(out[i].Options)
	}
	return out
}

// Handler returns h as an http.Handler, for symmetry with other packages.
func (h *Harness) Handler() http.Handler { return h }

// ServeHTTP dispatches <prefix>/<name>/... to the named simulator. Mount it
// so it sees the full request path (do not strip the prefix in front of it).
func (h *Harness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix+"/")
	name, _, _ := strings.Cut(rest, "/")
	var s *simState
	if ok {
		h.mu.Lock()
		s = h.sims[name]
		h.mu.Unlock()
	}
	if s == nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":"sandbox: unknown simulator"}`))
		return
	}
	// The simulator's mux holds full-path patterns, so its path cleaning,
	// trailing-slash redirects and 404/405 answers are all correct for the
	// real URL; the prefix is stripped only once a route has matched (see
	// Routes.Handle).
	s.mux.ServeHTTP(w, r)
}

// SetFault injects f into requests for endpoint (a registered pattern such as
// "POST /oauth/token", or AllEndpoints) of simulator sim, replacing any fault
// already set there.
func (h *Harness) SetFault(sim, endpoint string, f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sims[sim]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownSimulator, sim)
	}
	if endpoint == AllEndpoints {
		s.wildcard = &f
		return nil
	}
	e, ok := s.byPattern[canonical(endpoint)]
	if !ok {
		return fmt.Errorf("%w %q in simulator %q", ErrUnknownEndpoint, endpoint, sim)
	}
	e.fault = &f
	return nil
}

// ClearFault removes the fault set for endpoint (or AllEndpoints) of sim.
// Unknown names are ignored: there is nothing to clear.
func (h *Harness) ClearFault(sim, endpoint string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.sims[sim]
	if !ok {
		return
	}
	if endpoint == AllEndpoints {
		s.wildcard = nil
	} else if e, ok := s.byPattern[canonical(endpoint)]; ok {
		e.fault = nil
	}
}

// ClearAll removes every fault of every simulator. Hit counters are kept.
func (h *Harness) ClearAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, s := range h.sims {
		s.wildcard = nil
		for _, e := range s.endpoints {
			e.fault = nil
		}
	}
}

// Run performs action of simulator sim with the form input in. Missing
// required fields and values outside a field's Options are reported as
// *ValidationError before the action runs.
func (h *Harness) Run(ctx context.Context, sim, action string, in map[string]string) (string, error) {
	h.mu.Lock()
	s, ok := h.sims[sim]
	h.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w %q", ErrUnknownSimulator, sim)
	}
	i := slices.IndexFunc(s.actions, func(a Action) bool { return a.Name == action })
	if i < 0 {
		return "", fmt.Errorf("%w %q in simulator %q", ErrUnknownAction, action, sim)
	}
	a := s.actions[i]
	// Hand the action its own map with only what it declared: form posts
	// carry extras (CSRF token, button names) and the caller may reuse in.
	args := make(map[string]string, len(a.Fields))
	for _, f := range a.Fields {
		v := strings.TrimSpace(in[f.Name])
		label := f.Label
		if label == "" {
			label = f.Name
		}
		switch {
		case v == "" && f.Required:
			return "", &ValidationError{f.Name, label + " is required"}
		case v != "" && len(f.Options) > 0 && !slices.Contains(f.Options, v):
			return "", &ValidationError{f.Name, label + " must be one of " + strings.Join(f.Options, ", ")}
		}
		args[f.Name] = v
	}
	// Not under the lock: actions may take a while or call back into h.
	return a.Run(ctx, args)
}

// Snapshot returns every simulator, sorted by name, with its endpoints,
// current faults, hit counts and actions.
func (h *Harness) Snapshot() []SimulatorView {
	h.mu.Lock()
	defer h.mu.Unlock()
	views := make([]SimulatorView, 0, len(h.sims))
	for _, s := range h.sims {
		v := SimulatorView{
			Name:      s.name,
			Title:     s.title,
			Base:      s.base + "/",
			Wildcard:  copyFault(s.wildcard),
			Endpoints: make([]EndpointView, 0, len(s.endpoints)),
			Actions:   make([]ActionView, 0, len(s.actions)),
		}
		for _, e := range s.endpoints {
			v.Endpoints = append(v.Endpoints, EndpointView{Pattern: e.pattern, Fault: copyFault(e.fault), Hits: e.hits})
		}
		for _, a := range s.actions {
			v.Actions = append(v.Actions, ActionView{Name: a.Name, Label: a.Label, Help: a.Help, Fields: cloneFields(a.Fields)})
		}
		views = append(views, v)
	}
	slices.SortFunc(views, func(a, b SimulatorView) int { return strings.Compare(a.Name, b.Name) })
	return views
}

func copyFault(f *Fault) *Fault {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}

// take counts a hit on e and returns the fault to inject, if any: e's own
// fault, else the simulator's wildcard. A fault limited by Times is used up
// here, under the lock, so n concurrent requests consume exactly n.
func (h *Harness) take(s *simState, e *endpoint) (Fault, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.hits++
	slot := &e.fault
	if *slot == nil {
		slot = &s.wildcard
	}
	f := *slot
	if f == nil {
		return Fault{}, false
	}
	taken := *f
	if f.Times > 0 {
		if f.Times--; f.Times == 0 {
			*slot = nil
		}
	}
	return taken, true
}

func isLowerOrDigit(c rune) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
