package vpsie

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

type predicates struct {
	notFound, unauthorized, forbidden, rateLimited, quota, conflict, server bool
}

func predicatesOf(err error) predicates {
	return predicates{
		notFound:     IsNotFound(err),
		unauthorized: IsUnauthorized(err),
		forbidden:    IsForbidden(err),
		rateLimited:  IsRateLimited(err),
		quota:        IsQuotaExceeded(err),
		conflict:     IsConflict(err),
		server:       IsServerError(err),
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		name        string
		handler     http.HandlerFunc
		wantStatus  int
		wantCode    int
		wantMessage string
		want        predicates
	}{
		{name: "404", handler: fail(404, 404, "cluster not found"), wantStatus: 404, wantCode: 404, wantMessage: "cluster not found", want: predicates{notFound: true}},
		{name: "401", handler: fail(401, 401, "invalid token"), wantStatus: 401, wantCode: 401, wantMessage: "invalid token", want: predicates{unauthorized: true}},
		{name: "403 forbidden is not quota", handler: fail(403, 403, "forbidden"), wantStatus: 403, wantCode: 403, wantMessage: "forbidden", want: predicates{forbidden: true}},
		{name: "403 quota", handler: fail(403, 403, "Node count exceeds the allowed limit"), wantStatus: 403, wantCode: 403, wantMessage: "Node count exceeds the allowed limit", want: predicates{forbidden: true, quota: true}},
		{name: "409", handler: fail(409, 409, "cluster is in transition"), wantStatus: 409, wantCode: 409, wantMessage: "cluster is in transition", want: predicates{conflict: true}},
		{name: "429", handler: fail(429, 429, "slow down"), wantStatus: 429, wantCode: 429, wantMessage: "slow down", want: predicates{rateLimited: true}},
		{name: "500", handler: fail(500, 500, "internal error"), wantStatus: 500, wantCode: 500, wantMessage: "internal error", want: predicates{server: true}},
		{name: "503 html body", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(503)
			_, _ = w.Write([]byte("<html>\n<b>bad gateway</b></html>"))
		}, wantStatus: 503, wantMessage: "<html> <b>bad gateway</b></html>", want: predicates{server: true}},
		{name: "502 empty body", handler: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }, wantStatus: 502, wantMessage: "bad gateway", want: predicates{server: true}},
		{name: "200 with error true and 404 code", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":true,"code":404,"message":"no such cluster"}`)
		}, wantStatus: 404, wantCode: 404, wantMessage: "no such cluster", want: predicates{notFound: true}},
		{name: "200 with error true and no code", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":true,"message":"something is wrong"}`)
		}, wantStatus: 400, wantMessage: "something is wrong"},
		{name: "200 with error true and a non-http code", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":true,"code":1042,"message":"bad size"}`)
		}, wantStatus: 400, wantCode: 1042, wantMessage: "bad size"},
		{name: "200 with error true and code 200", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":true,"code":200,"message":"weird"}`)
		}, wantStatus: 400, wantCode: 200, wantMessage: "weird"},
		{name: "200 with error \"true\" string and code string", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":"true","code":"409","message":"busy"}`)
		}, wantStatus: 409, wantCode: 409, wantMessage: "busy", want: predicates{conflict: true}},
		{name: "200 with error true and no message", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":1,"code":500}`)
		}, wantStatus: 500, wantCode: 500, wantMessage: "api reported an error", want: predicates{server: true}},
		{name: "200 with error true and object message", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":true,"code":422,"message":{"hostname":["is taken"]}}`)
		}, wantStatus: 422, wantCode: 422, wantMessage: `{"hostname":["is taken"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			srv.handle("GET", "/apps/v2/k8s/cluster/byId/c1", tc.handler)
			c, _ := newTestClient(t, srv.URL, func(o *Options) { o.MaxRetries = -1 })

			_, err := c.GetCluster(context.Background(), "c1")
			g.Expect(err).To(HaveOccurred())
			var apiErr *Error
			g.Expect(errors.As(err, &apiErr)).To(BeTrue(), "error %v is not a *vpsie.Error", err)
			g.Expect(apiErr.Call).To(Equal("get_cluster"))
			g.Expect(apiErr.HTTPStatus).To(Equal(tc.wantStatus))
			g.Expect(apiErr.Code).To(Equal(tc.wantCode))
			g.Expect(apiErr.Message).To(Equal(tc.wantMessage))
			g.Expect(predicatesOf(err)).To(Equal(tc.want))
			g.Expect(err.Error()).To(HavePrefix("getting cluster, vpsie api get_cluster: status"))
		})
	}
}

func TestQuotaPhrases(t *testing.T) {
	for _, msg := range []string{
		"The number of nodes exceeds the allowed limit",
		"QUOTA EXCEEDED for account",
		"You have reached the maximum number of VMs",
		"Node limit reached",
		"Your plan does not allow more resources",
	} {
		for _, status := range []int{400, 422, 403, 500} {
			t.Run(fmt.Sprintf("%d %s", status, msg), func(t *testing.T) {
				g := NewWithT(t)
				err := fmt.Errorf("adding worker, %w", &Error{Call: "add_worker", HTTPStatus: status, Message: msg})
				g.Expect(IsQuotaExceeded(err)).To(BeTrue())
			})
		}
	}
	g := NewWithT(t)
	g.Expect(IsQuotaExceeded(&Error{HTTPStatus: 400, Message: "invalid hostname"})).To(BeFalse())
	g.Expect(IsQuotaExceeded(errors.New("quota exceeded"))).To(BeFalse(), "only VPSie answers are classified")
	g.Expect(IsQuotaExceeded(nil)).To(BeFalse())
	g.Expect(IsNotFound(nil)).To(BeFalse())
	var nilErr *Error
	g.Expect(IsNotFound(nilErr)).To(BeFalse())
}

func TestPredicatesThroughWrapping(t *testing.T) {
	g := NewWithT(t)
	base := &Error{Call: "delete_worker", HTTPStatus: 404, Message: "gone"}
	wrapped := fmt.Errorf("outer, %w", fmt.Errorf("inner, %w", base))
	joined := errors.Join(errors.New("other"), wrapped)
	for _, err := range []error{base, wrapped, joined} {
		g.Expect(IsNotFound(err)).To(BeTrue())
		g.Expect(IsServerError(err)).To(BeFalse())
	}
}

func TestErrorString(t *testing.T) {
	g := NewWithT(t)
	g.Expect((&Error{Call: "add_worker", HTTPStatus: 429, Code: 429, Message: "slow down", RetryAfter: 3 * time.Second}).Error()).
		To(Equal("vpsie api add_worker: status 429: slow down (retry after 3s)"))
	g.Expect((&Error{Call: "create_vm", HTTPStatus: 400, Code: 1042, Message: "bad size"}).Error()).
		To(Equal("vpsie api create_vm: status 400 (code 1042): bad size"))
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 2 ", 2 * time.Second},
		{"0", 0},
		{"-5", 0},
		{"99999999999999", 24 * time.Hour},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			NewWithT(t).Expect(parseRetryAfter(tc.in, now)).To(Equal(tc.want))
		})
	}
}

func TestInvalidSuccessBody(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/api/v2/vm", func(w http.ResponseWriter, _ *http.Request) { writeRaw(w, 200, `<html>maintenance</html>`) })
	srv.handle("GET", "/apps/v2/k8s/node/groups/byClusterId/c1", ok(map[string]any{"not": "a list"}))
	c, _ := newTestClient(t, srv.URL)

	_, err := c.ListVMs(context.Background())
	g.Expect(err).To(MatchError(ErrInvalidResponse))
	g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(1), "a malformed answer is not retried")

	_, err = c.ListNodeGroups(context.Background(), "c1")
	g.Expect(err).To(MatchError(ErrInvalidResponse))
}
