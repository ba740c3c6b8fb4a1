package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"portal/services/sandbox"
	"portal/templates"
)

type faultForm struct {
	Sim       string `form:"sim"`
	Endpoint  string `form:"endpoint"`
	Kind      string `form:"kind"`
	LatencyMS string `form:"latency_ms"`
	Status    string `form:"status"`
	Times     string `form:"times"`
}

func (s *Server) sandboxPage(c *gin.Context) {
	s.render(c, http.StatusOK, templates.SandboxPage(s.page(c, "Sandbox"), sandboxView(s.deps.Sandbox.Snapshot()), templates.SandboxForm{}))
}

// sandboxView maps the harness's snapshot onto the page's view model.
func sandboxView(sims []sandbox.SimulatorView) templates.SandboxView {
	v := templates.SandboxView{Simulators: make([]templates.SandboxSimView, 0, len(sims))}
	for _, k := range sandbox.FaultKinds() {
		v.FaultKinds = append(v.FaultKinds, string(k))
	}
	for _, sim := range sims {
		sv := templates.SandboxSimView{Name: sim.Name, Title: sim.Title, Base: sim.Base, Wildcard: faultInWords(sim.Wildcard),
			Endpoints: make([]templates.SandboxEndpointView, 0, len(sim.Endpoints)),
			Actions:   make([]templates.SandboxActionView, 0, len(sim.Actions))}
		for _, e := range sim.Endpoints {
			sv.Endpoints = append(sv.Endpoints, templates.SandboxEndpointView{Pattern: e.Pattern, Fault: faultInWords(e.Fault), Hits: e.Hits})
		}
		for _, a := range sim.Actions {
			av := templates.SandboxActionView{Name: a.Name, Label: a.Label, Help: a.Help, Fields: make([]templates.SandboxFieldView, 0, len(a.Fields))}
			for _, f := range a.Fields {
				av.Fields = append(av.Fields, templates.SandboxFieldView{Name: f.Name, Label: f.Label, Placeholder: f.Placeholder, Options: f.Options})
			}
			sv.Actions = append(sv.Actions, av)
		}
		v.Simulators = append(v.Simulators, sv)
	}
	return v
}

// faultInWords describes a fault for the page; "" when there is none.
func faultInWords(f *sandbox.Fault) string {
	if f == nil {
		return ""
	}
	return f.String()
}

// sandboxInvalid re-renders the page with the message next to the field.
func (s *Server) sandboxInvalid(c *gin.Context, form templates.SandboxForm, err error) {
	var ve *sandbox.ValidationError
	switch {
	case errors.As(err, &ve):
		form.Errors = templates.FieldErrors{ve.Field: ve.Message}
	case errors.Is(err, sandbox.ErrUnknownSimulator):
		s.renderError(c, http.StatusNotFound, "Unknown simulator", "There is no simulator by that name. Reload the sandbox page.")
		return
	case errors.Is(err, sandbox.ErrUnknownEndpoint):
		form.Errors = templates.FieldErrors{"endpoint": "Choose an endpoint from the list."}
	case errors.Is(err, sandbox.ErrUnknownAction):
		s.renderError(c, http.StatusNotFound, "Unknown action", "That simulator has no such action. Reload the sandbox page.")
		return
	default:
		s.serverError(c, err)
		return
	}
	s.render(c, http.StatusUnprocessableEntity, templates.SandboxPage(s.page(c, "Sandbox"), sandboxView(s.deps.Sandbox.Snapshot()), form))
}

func (s *Server) sandboxSetFault(c *gin.Context) {
	f, ok := bindForm[faultForm](s, c)
	if !ok {
		return
	}
	form := templates.SandboxForm{Sim: f.Sim, Values: map[string]string{
		"endpoint": f.Endpoint, "kind": f.Kind, "latency_ms": f.LatencyMS, "status": f.Status, "times": f.Times,
	}}
	fault, err := sandbox.ParseFault(f.Kind, f.LatencyMS, f.Status, f.Times)
	if err == nil {
		err = s.deps.Sandbox.SetFault(f.Sim, f.Endpoint, fault)
	}
	if err != nil {
		s.sandboxInvalid(c, form, err)
		return
	}
	s.flash(c, "success", "Injected "+fault.String()+" on "+f.Sim+" "+f.Endpoint+".")
	s.redirect(c, "/sandbox#sim-"+f.Sim)
}

func (s *Server) sandboxClearFaults(c *gin.Context) {
	sim, endpoint := c.PostForm("sim"), c.PostForm("endpoint")
	if sim == "" {
		s.deps.Sandbox.ClearAll()
		s.flash(c, "success", "Cleared every fault.")
		s.redirect(c, "/sandbox")
		return
	}
	s.deps.Sandbox.ClearFault(sim, endpoint)
	s.flash(c, "success", "Cleared the fault on "+sim+" "+endpoint+".")
	s.redirect(c, "/sandbox#sim-"+sim)
}

func (s *Server) sandboxRunAction(c *gin.Context) {
	if err := c.Request.ParseForm(); err != nil {
		s.badRequest(c, "The form could not be read. Reload the page and try again.")
		return
	}
	sim, action := c.PostForm("sim"), c.PostForm("action")
	in := map[string]string{}
	for k, v := range c.Request.PostForm {
		if k != "sim" && k != "action" && len(v) > 0 {
			in[k] = v[0]
		}
	}
	msg, err := s.deps.Sandbox.Run(c.Request.Context(), sim, action, in)
	if err != nil {
		var ve *sandbox.ValidationError
		if errors.As(err, &ve) || errors.Is(err, sandbox.ErrUnknownSimulator) || errors.Is(err, sandbox.ErrUnknownAction) {
			s.sandboxInvalid(c, templates.SandboxForm{Sim: sim, Action: action, Values: in}, err)
			return
		}
		// A simulator action that fails (no such pending recharge, say) is
		// the person's input, not a server fault: say what happened.
		s.flash(c, "error", sim+": "+err.Error())
		s.redirect(c, "/sandbox#sim-"+sim)
		return
	}
	s.flash(c, "success", msg)
	s.redirect(c, "/sandbox#sim-"+sim)
}

func (s *Server) sandboxServe(c *gin.Context) {
	s.deps.Sandbox.ServeHTTP(c.Writer, c.Request)
}
