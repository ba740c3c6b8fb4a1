package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"portal/services"
	"portal/services/customers"
	"portal/templates"
)

type lookupQuery struct {
	Q string `form:"q"`
}

func (s *Server) customerLookup(c *gin.Context) {
	var q lookupQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The search could not be read. Try again.")
		return
	}
	view := templates.CustomerLookupView{Q: q.Q}
	if q.Q == "" {
		s.render(c, http.StatusOK, templates.CustomerLookupPage(s.page(c, "Customer lookup"), view))
		return
	}
	res, err := s.deps.Customers.Lookup(c.Request.Context(), s.actor(c), q.Q)
	var upstream *customers.UpstreamError
	switch {
	case err == nil:
	case errors.As(err, &upstream):
		status := http.StatusBadGateway
		if upstream.NotFound() {
			status = http.StatusNotFound
			view.Error = "No 1flow customer has this phone number or device id. Check the number with the customer."
		} else {
			view.Error = upstream.Message
		}
		s.render(c, status, templates.CustomerLookupPage(s.page(c, "Customer lookup"), view))
		return
	default:
		if fe, ok := services.AsFieldErrors(err); ok {
			view.Errors = fieldErrors(fe)
			s.render(c, http.StatusUnprocessableEntity, templates.CustomerLookupPage(s.page(c, "Customer lookup"), view))
			return
		}
		s.serverError(c, err)
		return
	}
	view.Name, view.Phone = res.Customer.Name, res.Customer.PhoneNumber
	view.Devices = s.customerDevicesView(c, res)
	for _, r := range res.Recent {
		view.Recent = append(view.Recent, rechargeView(r))
	}
	s.render(c, http.StatusOK, templates.CustomerLookupPage(s.page(c, "Customer lookup"), view))
}

// customerDevicesView is the devices and cards 1flow lists for the
// customer, each with a link to recharge it when the viewer may.
func (s *Server) customerDevicesView(c *gin.Context, res customers.LookupResult) []templates.CustomerDeviceView {
	customer := res.Customer
	canRecharge := s.can(c, http.MethodGet, "/recharges/new")
	var devices []templates.CustomerDeviceView
	for _, d := range customer.Devices {
		dv := templates.CustomerDeviceView{SerialNumber: d.SerialNumber, Type: deviceTypeLabel(d.DeviceType), Balance: templates.Litres(d.Balance.String())}
		if canRecharge {
			v := url.Values{"phone_number": {customer.PhoneNumber}}
			if d.DeviceType == "CARD" {
				v.Set("card_id", d.SerialNumber)
			} else {
				v.Set("device_id", d.SerialNumber)
			}
			dv.RechargeHref = "/recharges/new?" + v.Encode()
		}
		devices = append(devices, dv)
	}
	return devices
}

func deviceTypeLabel(t string) string {
	if t == "CARD" {
		return "Card"
	}
	return "Device"
}

type searchQuery struct {
	Q string `form:"q"`
}

// search resolves the header's search box: one match opens it, several are
// listed by kind, none says what to try.
func (s *Server) search(c *gin.Context) {
	var q searchQuery
	if err := c.ShouldBindQuery(&q); err != nil {
		s.badRequest(c, "The search could not be read. Try again.")
		return
	}
	view := templates.SearchView{Q: q.Q}
	if strings.TrimSpace(q.Q) == "" {
		s.render(c, http.StatusOK, templates.SearchPage(s.page(c, "Search"), view))
		return
	}
	res, err := s.deps.Customers.Search(c.Request.Context(), q.Q)
	if fe, ok := services.AsFieldErrors(err); ok {
		view.Error = fe["q"]
		s.render(c, http.StatusUnprocessableEntity, templates.SearchPage(s.page(c, "Search"), view))
		return
	}
	if err != nil {
		s.serverError(c, err)
		return
	}
	if hit, ok := res.Single(); ok {
		s.redirect(c, hit.Href)
		return
	}
	view.ReadAs, view.Hint, view.Total = res.ReadAs, res.Hint, res.Total()
	for _, g := range []struct {
		title string
		hits  []customers.Hit
	}{{"Customers", res.Customers}, {"Documents", res.Documents}, {"Verifications", res.Verifs}, {"Recharges", res.Recharges}} {
		group := templates.SearchGroup{Title: g.title}
		for _, h := range g.hits {
			group.Hits = append(group.Hits, templates.SearchHit{Title: h.Title, Matched: h.Matched, State: h.State, Href: h.Href})
		}
		view.Groups = append(view.Groups, group)
	}
	s.render(c, http.StatusOK, templates.SearchPage(s.page(c, "Search: "+res.Query), view))
}

func (s *Server) customerKey(c *gin.Context) (customers.Key, bool) {
	key, err := customers.ParseKey(c.Param("key"))
	if err != nil {
		s.renderError(c, http.StatusNotFound, "No such customer",
			"A customer address names a phone number (+254712345678), a NIN (nin:12345678901), a device (device:…) or a card (card:…). Search for the customer instead.")
		return key, false
	}
	return key, true
}

// customerShow is the customer page: everything we hold for them, and
// 1flow's devices and balances, asked once as the page opens.
func (s *Server) customerShow(c *gin.Context) {
	key, ok := s.customerKey(c)
	if !ok {
		return
	}
	prof, err := s.deps.Customers.Profile(c.Request.Context(), s.actor(c), key)
	if err != nil {
		s.serverError(c, err)
		return
	}
	view := templates.CustomerView{KeyLabel: key.Label(), Phones: prof.Phones, OneFlowError: prof.OneFlowError,
		Records: s.customerRecordsView(c, prof.Records), AskNIN: key.Kind != customers.KeyNIN}
	canRecharge := s.can(c, http.MethodGet, "/recharges/new")
	listed := map[string]bool{}
	if of := prof.OneFlow; of != nil {
		view.Name = of.Customer.Name
		if of.Customer.PhoneNumber != "" && !slices.Contains(view.Phones, of.Customer.PhoneNumber) {
			view.Phones = append(view.Phones, of.Customer.PhoneNumber)
		}
		for _, d := range of.Customer.Devices {
			listed[d.SerialNumber] = true
		}
		view.Devices = s.customerDevicesView(c, *of)
	}
	for _, d := range prof.Devices {
		if !listed[d] {
			view.OtherDevices = append(view.OtherDevices, d)
		}
	}
	if view.Name == "" {
		for _, r := range prof.Recharges {
			if r.CustomerName != "" {
				view.Name = r.CustomerName
				break
			}
		}
	}
	phone := ""
	if len(view.Phones) > 0 {
		phone = view.Phones[0]
	}
	if canRecharge && len(view.Devices) == 0 && (key.Kind == customers.KeyDevice || key.Kind == customers.KeyCard) {
		v := url.Values{string(key.Kind) + "_id": {key.Value}}
		if phone != "" {
			v.Set("phone_number", phone)
		}
		view.Actions = append(view.Actions, templates.Action{Label: "Recharge " + key.Value, Href: "/recharges/new?" + v.Encode()})
	}
	if s.can(c, http.MethodGet, "/verifications/new") && phone != "" {
		view.Actions = append(view.Actions, templates.Action{Label: "New verification", Href: "/verifications/new?" + url.Values{"phone_no": {phone}}.Encode()})
	}
	if s.can(c, http.MethodGet, "/documents/new") && key.Kind == customers.KeyNIN {
		view.Actions = append(view.Actions, templates.Action{Label: "New signing request", Href: "/documents/new?" + url.Values{"nins": {key.Value}}.Encode()})
	}
	s.render(c, http.StatusOK, templates.CustomerPage(s.page(c, "Customer "+key.Label()), view))
}

// customerRecords is the customer page's live fragment (our database
// only).
func (s *Server) customerRecords(c *gin.Context) {
	key, ok := s.customerKey(c)
	if !ok {
		return
	}
	rec, err := s.deps.Customers.Records(c.Request.Context(), key)
	if err != nil {
		s.serverError(c, err)
		return
	}
	s.render(c, http.StatusOK, templates.CustomerRecords(s.customerRecordsView(c, rec)))
}

func (s *Server) customerRecordsView(c *gin.Context, rec customers.Records) templates.CustomerRecordsView {
	v := templates.CustomerRecordsView{Key: url.PathEscape(rec.Key.String()), Open: rec.Open(), MoreHrefs: map[string]string{}}
	for _, d := range rec.Documents {
		v.Documents = append(v.Documents, documentView(d, nil))
	}
	for _, x := range rec.Verifications {
		v.Verifications = append(v.Verifications, verificationView(x))
	}
	for _, r := range rec.Recharges {
		v.Recharges = append(v.Recharges, rechargeView(r))
	}
	q := rec.Key.Value
	if len(rec.Phones) > 0 {
		q = rec.Phones[0]
	}
	if len(rec.Recharges) >= customers.RecordLimit {
		v.MoreHrefs["recharges"] = "/recharges?" + url.Values{"q": {rec.Key.Value}}.Encode()
	}
	if len(rec.Verifications) >= customers.RecordLimit {
		v.MoreHrefs["verifications"] = "/verifications?" + url.Values{"q": {q}}.Encode()
	}
	if len(rec.Documents) >= customers.RecordLimit {
		v.MoreHrefs["documents"] = "/documents?" + url.Values{"q": {rec.Key.Value}}.Encode()
	}
	return v
}
