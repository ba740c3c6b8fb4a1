package web

import (
	"errors"
	"log/slog"
	"syscall"

	"github.com/gin-gonic/gin"
)

// statusClientGone is nginx's 499: the client closed the connection before
// the answer was complete. It is logged, never sent: there is nobody to send
// it to.
const statusClientGone = 499

const clientGoneKey = "client_gone"

// clientGone reports whether err (or the request itself) ended because the
// browser went away: the server cancels the request's context when the
// connection closes, and a write to a closed connection fails with EPIPE or
// ECONNRESET. Such a request failed for nobody, so it is no server error.
func clientGone(c *gin.Context, err error) bool {
	return c.Request.Context().Err() != nil || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// logFailure logs err at error level, or, when the client went away, at
// info level as what it is, marking the request so its log line says 499;
// it reports whether the client went away.
func (s *Server) logFailure(c *gin.Context, msg string, err error, attrs ...any) (gone bool) {
	ctx := c.Request.Context()
	attrs = append([]any{"request_id", RequestID(ctx), "err", err}, attrs...)
	if clientGone(c, err) {
		c.Set(clientGoneKey, true)
		s.deps.Logger.Log(ctx, slog.LevelInfo, msg+": client went away", attrs...)
		return true
	}
	s.deps.Logger.Log(ctx, slog.LevelError, msg, attrs...)
	return false
}
