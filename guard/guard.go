// Package guard holds the HTTP middleware every route shares: body limits
// and the Twilio signature's presence, both enforced before a handler (or
// anything else) reads the body.
package guard

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
)

// Body limits per route family (SPEC: agent 64 KB, admin 1 MB, Twilio forms
// 64 KB, Outbound Messages 5 MB).
const (
	AgentBody    int64 = 64 << 10
	AdminBody    int64 = 1 << 20
	TwilioBody   int64 = 64 << 10
	OutboundBody int64 = 5 << 20
	// PageBody bounds the survey and report pages' form posts.
	PageBody int64 = 64 << 10
)

// BodyLimit answers 413 {"error": …} for a body over n bytes and reads no
// further: a declared Content-Length over n is refused unread, and a body
// that grows past n is cut at n+1 bytes (http.MaxBytesReader, which also
// closes the connection). A body within n is buffered, so the handler reads
// it as usual and no handler can be tricked into reading more. (Like every
// handler here it does not call c.Next: gin runs the next one unless this
// one aborted, so the guards compose in one slot.)
func BodyLimit(n int64) gin.HandlerFunc { return BodyLimitFunc(n, tooLarge) }

// BodyLimitFunc is BodyLimit answering with refuse (which must abort), for
// routes whose callers expect another format (a SOAP fault).
func BodyLimitFunc(n int64, refuse gin.HandlerFunc) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request
		if r.ContentLength > n {
			c.Header("Connection", "close")
			refuse(c)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(c.Writer, r.Body, n))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			c.Header("Connection", "close")
			refuse(c)
			return
		case err != nil:
			// A client that stopped sending (or a ReadTimeout): nothing to answer
			// but a plain 400; the connection is likely gone.
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "could not read the body"})
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
}

func tooLarge(c *gin.Context) {
	c.AbortWithStatusJSON(http.StatusRequestEntityTooLarge, gin.H{"error": "the body is too large"})
}

// HeaderTwilioSignature is the header every Twilio webhook carries.
const HeaderTwilioSignature = "X-Twilio-Signature"

// TwilioSignaturePresent answers 403 before the body is read when the
// request carries no X-Twilio-Signature: an anonymous sender costs no read,
// no parse and no HMAC. The signature itself is checked by the handler,
// which needs the parsed form.
func TwilioSignaturePresent() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.GetHeader(HeaderTwilioSignature) == "" {
			c.Header("Connection", "close")
			c.AbortWithStatusJSON(http.StatusForbidden, gin.H{"error": "missing or invalid X-Twilio-Signature"})
			return
		}
	}
}

// Twilio is the chain for a Twilio webhook route: signature present, then
// the 64 KB form limit. Register a new webhook as
// r.POST(path, guard.Twilio(), handler).
func Twilio() gin.HandlerFunc {
	present, limit := TwilioSignaturePresent(), BodyLimit(TwilioBody)
	return func(c *gin.Context) {
		present(c)
		if c.IsAborted() {
			return
		}
		limit(c)
	}
}
