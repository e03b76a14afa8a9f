package vpsie

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// VPSie's answers are loosely typed: ids and sizes come as numbers or strings, prices as numbers
// or strings, flags as booleans or 0/1. The flex types below accept each of those forms and
// reject the rest with an error; nothing in here may panic on any input.

type flexInt int64

// numberText returns the text of a JSON number, or of a string holding one; empty for null, an
// absent value or a blank string.
func numberText(b []byte) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return "", err
		}
		s = strings.TrimSpace(s)
	}
	return s, nil
}

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s, err := numberText(b)
	if err != nil || s == "" {
		*f = 0
		return err
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		*f = flexInt(n)
		return nil
	}
	// Integral floats ("4.0", 1e3) are accepted; anything outside the int64 range is not.
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || v < -(1<<63) || v >= 1<<63 {
		return fmt.Errorf("%w: %s is not an integer", ErrInvalidResponse, truncate(s, 64))
	}
	*f = flexInt(v)
	return nil
}

// int converts with saturation: ids and sizes never come near the limits, but a hostile answer
// must not wrap around into a plausible-looking number.
func (f flexInt) int() int {
	if int64(f) > math.MaxInt {
		return math.MaxInt
	}
	if int64(f) < math.MinInt {
		return math.MinInt
	}
	return int(f)
}

type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	s, err := numberText(b)
	if err != nil || s == "" {
		*f = 0
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%w: %s is not a number", ErrInvalidResponse, truncate(s, 64))
	}
	*f = flexFloat(v)
	return nil
}

type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.ToLower(strings.TrimSpace(s))
	}
	switch s {
	case "true", "1", "yes":
		*f = true
	case "false", "0", "no", "", "null":
		*f = false
	default:
		return fmt.Errorf("%w: %s is not a boolean", ErrInvalidResponse, truncate(s, 64))
	}
	return nil
}

// flexString accepts strings, numbers and booleans as they are, and keeps objects or arrays
// (validation messages sometimes come as such) as compact JSON text.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*f = ""
		return nil
	}
	switch b[0] {
	case '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return err
		}
		*f = flexString(buf.String())
	default:
		*f = flexString(b)
	}
	return nil
}

// flexStrings accepts a list of strings or numbers, a list of objects naming the item
// ("name"/"tag"), or a single comma-separated string.
type flexStrings []string

func (f *flexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*f = nil
		return nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		*f = out
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make([]string, 0, len(raw))
	for _, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) > 0 && r[0] == '{' {
			var named struct {
				Name flexString `json:"name"`
				Tag  flexString `json:"tag"`
			}
			if err := json.Unmarshal(r, &named); err != nil {
				return err
			}
			if named.Name != "" {
				out = append(out, string(named.Name))
			} else if named.Tag != "" {
				out = append(out, string(named.Tag))
			}
			continue
		}
		var s flexString
		if err := json.Unmarshal(r, &s); err != nil {
			return err
		}
		out = append(out, string(s))
	}
	*f = out
	return nil
}

// parseTime accepts the time formats VPSie has been seen to use; unknown forms give the zero
// time (the raw string is kept next to it by the callers).
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// envelope is the wrapper of every VPSie answer.
type envelope struct {
	Error   bool
	Code    int
	Message string
	Data    json.RawMessage
	Total   int
	// Bare is set when the body was not an envelope object (a bare array); Data then holds it.
	Bare bool
	// Raw is the whole body, for the answers that come without an envelope.
	Raw json.RawMessage
}

type wireEnvelope struct {
	Error   flexBool        `json:"error"`
	Code    flexInt         `json:"code"`
	Message flexString      `json:"message"`
	Data    json.RawMessage `json:"data"`
	Total   flexInt         `json:"total"`
}

// decodeEnvelope parses an answer body. An empty body is an empty envelope (some DELETEs answer
// 204); a bare JSON array is taken as the data of a list answer.
func decodeEnvelope(body []byte) (envelope, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return envelope{}, nil
	}
	switch body[0] {
	case '[':
		if !json.Valid(body) {
			return envelope{}, fmt.Errorf("%w: malformed json", ErrInvalidResponse)
		}
		return envelope{Data: json.RawMessage(body), Bare: true}, nil
	case '{':
	default:
		return envelope{}, fmt.Errorf("%w: not a json object: %q", ErrInvalidResponse, truncate(string(body), 80))
	}
	var w wireEnvelope
	if err := json.Unmarshal(body, &w); err != nil {
		return envelope{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	return envelope{
		Error:   bool(w.Error),
		Code:    w.Code.int(),
		Message: truncate(string(w.Message), maxMessageLen),
		Data:    w.Data,
		Total:   w.Total.int(),
	}, nil
}

// isNull reports whether raw data is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// decodeData unmarshals envelope data into out, wrapping failures in ErrInvalidResponse.
func decodeData(raw json.RawMessage, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	return nil
}

// decodeList unmarshals list data; null or absent data is an empty list.
func decodeList[T any](raw json.RawMessage) ([]T, error) {
	if isNull(raw) {
		return nil, nil
	}
	var out []T
	if err := decodeData(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

const maxMessageLen = 1024

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
