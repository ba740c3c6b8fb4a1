package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"portal/services"
	"portal/services/recharges"
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
	view := templates.LookupView{Q: q.Q, CanCreate: s.can(c, http.MethodGet, "/recharges/new")}
	if q.Q == "" {
		s.render(c, http.StatusOK, templates.CustomerLookupPage(s.page(c, "Customer lookup"), view))
		return
	}
	res, err := s.deps.Recharges.Lookup(c.Request.Context(), s.actor(c), q.Q)
	var upstream *recharges.UpstreamError
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
	for _, d := range res.Customer.Devices {
		v := url.Values{"phone_number": {res.Customer.PhoneNumber}}
		if d.DeviceType == "CARD" {
			v.Set("card_id", d.SerialNumber)
		} else {
			v.Set("device_id", d.SerialNumber)
		}
		view.Devices = append(view.Devices, templates.CustomerDevice{
			SerialNumber: d.SerialNumber, Type: deviceTypeLabel(d.DeviceType), Balance: d.Balance.String(),
			RechargeHref: "/recharges/new?" + v.Encode(),
		})
	}
	for _, r := range res.Recent {
		view.Recent = append(view.Recent, rechargeView(r))
	}
	s.render(c, http.StatusOK, templates.CustomerLookupPage(s.page(c, "Customer lookup"), view))
}

func deviceTypeLabel(t string) string {
	if t == "CARD" {
		return "Card"
	}
	return "Device"
}
