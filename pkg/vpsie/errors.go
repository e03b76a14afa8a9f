package vpsie

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is an answer of the VPSie API that says the call failed: a non-2xx HTTP status, or an
// HTTP 200 whose envelope carries "error": true.
type Error struct {
	// Call names the client method (the same name as the metrics label), e.g. "add_worker".
	Call string
	// HTTPStatus is the effective status: the HTTP status of the answer, or for a 200 answer with
	// "error": true, the envelope code when it is an HTTP error status (400-599), else 400.
	HTTPStatus int
	// Code is the envelope "code" as sent (0 when absent).
	Code int
	// Message is the envelope "message" (or the HTTP status text when there is none).
	Message string
	// RetryAfter is the server's Retry-After hint on 429/503 answers (0 when absent).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("vpsie api")
	if e.Call != "" {
		b.WriteString(" ")
		b.WriteString(e.Call)
	}
	fmt.Fprintf(&b, ": status %d", e.HTTPStatus)
	if e.Code != 0 && e.Code != e.HTTPStatus {
		fmt.Fprintf(&b, " (code %d)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	return b.String()
}

// ErrResponseTooLarge is wrapped by the error returned when a successful answer is larger than
// Options.MaxResponseBytes; the body is never read past that limit.
var ErrResponseTooLarge = errors.New("vpsie api response body too large")

// ErrInvalidResponse is wrapped by the error returned when an answer cannot be decoded into the
// expected shape.
var ErrInvalidResponse = errors.New("invalid vpsie api response")

// ErrNotFoundAfterCreate is wrapped by CreateNodeGroup when the create call succeeded, its answer
// carried no id, and the listing that followed did not show the group yet. The group most likely
// exists: callers should list again later rather than create it a second time.
var ErrNotFoundAfterCreate = errors.New("created resource not found in listing")

func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e, true
	}
	return nil, false
}

func hasStatus(err error, status int) bool {
	e, ok := asError(err)
	return ok && e.HTTPStatus == status
}

// IsNotFound reports whether err is (or wraps) a VPSie 404 answer.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound) }

// IsUnauthorized reports whether err is (or wraps) a VPSie 401 answer.
func IsUnauthorized(err error) bool { return hasStatus(err, http.StatusUnauthorized) }

// IsForbidden reports whether err is (or wraps) a VPSie 403 answer.
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden) }

// IsRateLimited reports whether err is (or wraps) a VPSie 429 answer.
func IsRateLimited(err error) bool { return hasStatus(err, http.StatusTooManyRequests) }

// IsConflict reports whether err is (or wraps) a VPSie 409 answer (resource in transition).
func IsConflict(err error) bool { return hasStatus(err, http.StatusConflict) }

// IsServerError reports whether err is (or wraps) a VPSie 5xx answer.
func IsServerError(err error) bool {
	e, ok := asError(err)
	return ok && e.HTTPStatus >= 500 && e.HTTPStatus <= 599
}

// quotaPhrases are the phrases VPSie quota and capacity refusals have been seen to contain.
var quotaPhrases = []string{
	"exceeds the allowed limit",
	"quota exceeded",
	"maximum number of",
	"limit reached",
	"plan does not allow",
}

// IsQuotaExceeded reports whether err is (or wraps) a VPSie refusal for quota or capacity
// reasons: an answer (usually a 403) whose message contains one of the known quota phrases.
// VPSie also answers 403 for plain permission problems; those are IsForbidden only, because
// "this credential may not do that" needs an operator, while "over quota" means launching more
// here will not work for now.
func IsQuotaExceeded(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	msg := strings.ToLower(e.Message)
	for _, p := range quotaPhrases {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// IsResponseTooLarge reports whether err wraps ErrResponseTooLarge.
func IsResponseTooLarge(err error) bool { return errors.Is(err, ErrResponseTooLarge) }
