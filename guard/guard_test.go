package guard

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// countingReader counts what a handler (or the guard) read of a body.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func serve(t *testing.T, chain []gin.HandlerFunc, req *http.Request) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	reached := false
	e.POST("/x", append(chain, func(c *gin.Context) {
		reached = true
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			t.Errorf("handler read: %v", err)
		}
		c.String(http.StatusOK, "%d", len(b))
	})...)
	w := httptest.NewRecorder()
	e.ServeHTTP(w, req)
	return w, reached
}

func TestBodyLimit(t *testing.T) {
	cases := []struct {
		name    string
		size    int
		chunked bool
		status  int
		maxRead int
	}{
		{"within", 100, false, 200, 100},
		{"at the limit", 1024, false, 200, 1024},
		{"declared over", 5000, false, 413, 0},
		{"chunked within", 100, true, 200, 100},
		{"chunked over", 5000, true, 413, 1025 + 4096}, // MaxBytesReader stops at n+1 (one read buffer)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &countingReader{r: strings.NewReader(strings.Repeat("a", tc.size))}
			req := httptest.NewRequest(http.MethodPost, "/x", body)
			req.ContentLength = int64(tc.size)
			if tc.chunked {
				req.ContentLength = -1
			}
			w, reached := serve(t, []gin.HandlerFunc{BodyLimit(1024)}, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if reached != (tc.status == 200) {
				t.Fatalf("handler reached = %v", reached)
			}
			if body.n > tc.maxRead {
				t.Fatalf("read %d bytes, at most %d allowed", body.n, tc.maxRead)
			}
			if tc.status == 413 && !strings.Contains(w.Body.String(), `"error"`) {
				t.Fatalf("413 body %q", w.Body.String())
			}
		})
	}
}

func TestTwilioRefusesUnsignedUnread(t *testing.T) {
	body := &countingReader{r: strings.NewReader("Body=STOP")}
	req := httptest.NewRequest(http.MethodPost, "/x", body)
	w, reached := serve(t, []gin.HandlerFunc{Twilio()}, req)
	if w.Code != http.StatusForbidden || reached || body.n != 0 {
		t.Fatalf("status %d, reached %v, read %d bytes: want 403, unreached, unread", w.Code, reached, body.n)
	}

	req = httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(strings.Repeat("a", int(TwilioBody)+1)))
	req.Header.Set(HeaderTwilioSignature, "sig")
	if w, reached := serve(t, []gin.HandlerFunc{Twilio()}, req); w.Code != http.StatusRequestEntityTooLarge || reached {
		t.Fatalf("signed, too large: %d, reached %v", w.Code, reached)
	}

	req = httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("Body=hi"))
	req.Header.Set(HeaderTwilioSignature, "sig")
	if w, reached := serve(t, []gin.HandlerFunc{Twilio()}, req); w.Code != http.StatusOK || !reached || w.Body.String() != "7" {
		t.Fatalf("signed, small: %d, reached %v, %q", w.Code, reached, w.Body.String())
	}
}
