package redis

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	goredis "github.com/redis/go-redis/v9"
)

// IsUnavailable reports whether err means Redis could not be reached or
// cannot serve right now (refused, reset, timed out, loading, failing over),
// as opposed to a bad command or a missing key. Routes answer 503 for it, so
// callers retry rather than treat it as a bug.
func IsUnavailable(err error) bool {
	// The caller's own deadline (a net.Error too) is the caller's matter.
	if err == nil || errors.Is(err, goredis.Nil) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, goredis.ErrClosed), errors.Is(err, goredis.ErrPoolTimeout), errors.Is(err, goredis.ErrPoolExhausted):
		return true
	}
	// Server replies that mean "not now" (RESP error prefixes).
	for _, p := range []string{"LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY "} {
		if strings.Contains(err.Error(), p) {
			return true
		}
	}
	return false
}
