package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"portal/models"
	"portal/static"
)

// routes is the whole URL surface of the portal in one place. Every route
// names who may use it; handle() refuses to add one without.
func (s *Server) routes() {
	admin := roles(models.RoleAdmin)

	s.handle(http.MethodGet, "/healthz", public(), s.healthz)
	s.handle(http.MethodGet, "/readyz", public(), s.readyz)
	s.handle(http.MethodGet, "/static/*filepath", public(), gin.WrapH(static.Handler()))
	// Browsers ask for /favicon.ico on pages that name no icon (the
	// simulators' hosted pages); answer with ours instead of a 404.
	s.handle(http.MethodGet, "/favicon.ico", public(), func(c *gin.Context) {
		c.Redirect(http.StatusMovedPermanently, static.URL("favicon.svg"))
	})
	s.handle(http.MethodHead, "/static/*filepath", public(), gin.WrapH(static.Handler()))

	s.handle(http.MethodGet, "/login", public(), s.loginPage)
	s.handle(http.MethodPost, "/login", public(), s.login)
	s.handle(http.MethodPost, "/logout", anyStaff(), s.logout)
	s.handle(http.MethodGet, "/login/code", secondFactor(), s.loginCodePage)
	s.handle(http.MethodPost, "/login/code", secondFactor(), s.loginCode)
	s.handle(http.MethodGet, "/login/enrol", secondFactor(), s.loginEnrolPage)
	s.handle(http.MethodPost, "/login/enrol", secondFactor(), s.loginEnrol)

	s.handle(http.MethodGet, "/", anyStaff(), s.dashboard)
	s.handle(http.MethodGet, "/account/password", anyStaff(), s.accountPasswordPage)
	s.handle(http.MethodPost, "/account/password", anyStaff(), s.accountPasswordChange)
	s.handle(http.MethodGet, "/reauth", anyStaff(), s.reauthPage)
	s.handle(http.MethodPost, "/reauth", anyStaff(), s.reauth)
	s.handle(http.MethodGet, "/account/two-factor", anyStaff(), s.twoFactorPage)
	s.handle(http.MethodGet, "/account/two-factor/enrol", anyStaff(), s.twoFactorEnrolPage)
	s.handle(http.MethodPost, "/account/two-factor/enrol", anyStaff(), s.twoFactorEnrol)
	s.handle(http.MethodPost, "/account/two-factor/remove", anyStaff(), s.twoFactorRemove)

	s.handle(http.MethodGet, "/users", admin, s.usersList)
	s.handle(http.MethodGet, "/users/new", admin, s.usersNew)
	s.handle(http.MethodPost, "/users", admin, s.usersCreate)
	s.handle(http.MethodPost, "/users/:id/role", withReauth(admin), s.usersChangeRole)
	s.handle(http.MethodPost, "/users/:id/disable", admin, s.usersDisable)
	s.handle(http.MethodPost, "/users/:id/enable", admin, s.usersEnable)
	s.handle(http.MethodGet, "/users/:id/password", admin, s.usersResetPasswordPage)
	s.handle(http.MethodPost, "/users/:id/password", admin, s.usersResetPassword)
	s.handle(http.MethodPost, "/users/:id/two-factor/reset", withReauth(admin), s.usersResetTwoFactor)

	creators := roles(rechargeCreators...)
	s.handle(http.MethodGet, "/search", anyStaff(), s.search)
	s.handle(http.MethodGet, "/customers/lookup", anyStaff(), s.customerLookup)
	s.handle(http.MethodGet, "/customers/:key", anyStaff(), s.customerShow)
	s.handle(http.MethodGet, "/customers/:key/records", anyStaff(), s.customerRecords)
	s.handle(http.MethodGet, "/recharges", anyStaff(), s.rechargesList)
	s.handle(http.MethodGet, "/recharges/export", anyStaff(), s.rechargesExport)
	s.handle(http.MethodGet, "/recharges/bulk", anyStaff(), s.bulkConfirm(bulkLists["recharges"]))
	s.handle(http.MethodPost, "/recharges/bulk", anyStaff(), s.bulkStart(bulkLists["recharges"]))
	s.handle(http.MethodGet, "/recharges/new", creators, s.rechargesNew)
	s.handle(http.MethodPost, "/recharges", creators, s.rechargesCreate)
	s.handle(http.MethodGet, "/recharges/:id", anyStaff(), s.rechargeShow)
	s.handle(http.MethodGet, "/recharges/:id/status", anyStaff(), s.rechargeStatus)
	// Support refreshes statuses with the customer on the phone (DESIGN §1).
	s.handle(http.MethodPost, "/recharges/:id/refresh", anyStaff(), s.rechargeRefresh)
	s.handle(http.MethodPost, "/recharges/:id/resolve", creators, s.rechargeResolveUpstreamID)
	s.handle(http.MethodPost, "/recharges/:id/not-sent", withReauth(creators), s.rechargeMarkNotSent)

	docCreators := roles(documentCreators...)
	reviewers := roles(documentReviewers...)
	s.handle(http.MethodGet, "/documents", anyStaff(), s.documentsList)
	s.handle(http.MethodGet, "/documents/export", anyStaff(), s.documentsExport)
	s.handle(http.MethodGet, "/documents/bulk", anyStaff(), s.bulkConfirm(bulkLists["documents"]))
	s.handle(http.MethodPost, "/documents/bulk", anyStaff(), s.bulkStart(bulkLists["documents"]))
	s.handle(http.MethodGet, "/documents/new", docCreators, s.documentsNew)
	s.handle(http.MethodGet, "/documents/signee-row", docCreators, s.documentSigneeRow)
	s.handle(http.MethodGet, "/documents/signee-row/remove", docCreators, s.documentSigneeRowRemove)
	s.handle(http.MethodPost, "/documents", docCreators, s.documentsCreate)
	s.handle(http.MethodGet, "/documents/:id", anyStaff(), s.documentShow)
	s.handle(http.MethodGet, "/documents/:id/status", anyStaff(), s.documentStatus)
	s.handle(http.MethodGet, "/documents/:id/events", anyStaff(), s.documentEvents)
	s.handle(http.MethodPost, "/documents/:id/cancel", docCreators, s.documentCancel)
	s.handle(http.MethodPost, "/documents/:id/refresh", anyStaff(), s.documentRefresh)
	s.handle(http.MethodPost, "/documents/:id/resolve", docCreators, s.documentResolveUpstreamID)
	s.handle(http.MethodPost, "/documents/:id/not-sent", docCreators, s.documentMarkNotSent)
	s.handle(http.MethodPost, "/documents/:id/signees/:sid/reveal", withReauth(reviewers), s.documentRevealNIN)
	docCases := s.documentCases()
	s.handle(http.MethodPost, "/documents/:id/review", reviewers, s.caseDecide(docCases))
	s.handle(http.MethodPost, "/documents/:id/second-review", reviewers, s.caseSecondReview(docCases))
	s.handle(http.MethodPost, "/documents/:id/release", reviewers, s.caseRelease(docCases))
	s.handle(http.MethodPost, "/documents/:id/assign", admin, s.caseAssign(docCases))
	s.handle(http.MethodGet, "/reviews/documents", reviewers, s.caseQueue(docCases))
	s.handle(http.MethodPost, "/reviews/documents/next", reviewers, s.caseTakeNext(docCases))
	// pasby authenticates itself with the secret in the path.
	s.handle(http.MethodPost, "/webhooks/pasby/:secret", Access{Public: true, SelfAuthenticating: true}, s.pasbyWebhook)

	verCreators := roles(verificationCreators...)
	verReviewers := roles(verificationReviewers...)
	s.handle(http.MethodGet, "/verifications", anyStaff(), s.verificationsList)
	s.handle(http.MethodGet, "/verifications/export", anyStaff(), s.verificationsExport)
	s.handle(http.MethodGet, "/verifications/bulk", anyStaff(), s.bulkConfirm(bulkLists["verifications"]))
	s.handle(http.MethodPost, "/verifications/bulk", anyStaff(), s.bulkStart(bulkLists["verifications"]))
	s.handle(http.MethodGet, "/verifications/new", verCreators, s.verificationsNew)
	s.handle(http.MethodPost, "/verifications", verCreators, s.verificationsCreate)
	s.handle(http.MethodGet, "/verifications/:id", anyStaff(), s.verificationShow)
	s.handle(http.MethodGet, "/verifications/:id/status", anyStaff(), s.verificationStatus)
	s.handle(http.MethodPost, "/verifications/:id/refresh", anyStaff(), s.verificationRefresh)
	s.handle(http.MethodGet, "/verifications/:id/images/:kind", withReauth(verReviewers), s.verificationImage)
	verCases := s.verificationCases()
	s.handle(http.MethodPost, "/verifications/:id/review", verReviewers, s.caseDecide(verCases))
	s.handle(http.MethodPost, "/verifications/:id/second-review", verReviewers, s.caseSecondReview(verCases))
	s.handle(http.MethodPost, "/verifications/:id/release", verReviewers, s.caseRelease(verCases))
	s.handle(http.MethodPost, "/verifications/:id/assign", admin, s.caseAssign(verCases))
	s.handle(http.MethodGet, "/reviews/verifications", verReviewers, s.caseQueue(verCases))
	s.handle(http.MethodPost, "/reviews/verifications/next", verReviewers, s.caseTakeNext(verCases))
	// pawaPass signs its webhooks (X-Signature); PassportReader's callbacks
	// carry the secret in the path and our reference in the body.
	s.handle(http.MethodPost, "/webhooks/pawapass", Access{Public: true, SelfAuthenticating: true}, s.pawaPassWebhook)
	s.handle(http.MethodPost, "/webhooks/passportreader/:secret", Access{Public: true, SelfAuthenticating: true}, s.passportReaderCallback)
	// Where pawaPass sends customers when they finish (the default URLs).
	s.handle(http.MethodGet, "/kyc/:outcome", public(), s.kycLanding)

	// Bulk jobs: their creator and admins see them (the service checks).
	s.handle(http.MethodGet, "/bulk/:id", anyStaff(), s.bulkShow)
	s.handle(http.MethodGet, "/bulk/:id/status", anyStaff(), s.bulkStatus)

	s.handle(http.MethodGet, "/audit", admin, s.auditList)
	s.handle(http.MethodGet, "/audit/export", admin, s.auditExport)

	if s.deps.Sandbox != nil {
		s.handle(http.MethodGet, "/sandbox", admin, s.sandboxPage)
		s.handle(http.MethodPost, "/sandbox/faults", admin, s.sandboxSetFault)
		s.handle(http.MethodPost, "/sandbox/faults/clear", admin, s.sandboxClearFaults)
		s.handle(http.MethodPost, "/sandbox/actions", admin, s.sandboxRunAction)
		// The simulators' own APIs and pages authenticate the way the real
		// providers do, so they sit outside staff sign-in.
		simulatorAPI := Access{Public: true, SelfAuthenticating: true}
		for _, sim := range s.deps.Sandbox.Snapshot() {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				s.handle(method, "/sandbox/"+sim.Name+"/*path", simulatorAPI, s.sandboxServe)
			}
		}
	}
}
