package vpsie

import (
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
)

func TestNewValidatesOptions(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "default base url", opts: Options{Token: "t"}},
		{name: "https", opts: Options{BaseURL: "https://api.example.com/", Token: "t"}},
		{name: "http on 127.0.0.1", opts: Options{BaseURL: "http://127.0.0.1:8080", Token: "t"}},
		{name: "http on 127.1.2.3", opts: Options{BaseURL: "http://127.1.2.3:8080", Token: "t"}},
		{name: "http on localhost", opts: Options{BaseURL: "http://localhost:8080/prefix", Token: "t"}},
		{name: "http on ::1", opts: Options{BaseURL: "http://[::1]:8080", Token: "t"}},
		{name: "client credentials only", opts: Options{ClientID: "id", ClientSecret: "s"}},
		{name: "http on a public host", opts: Options{BaseURL: "http://api.vpsie.com", Token: "t"}, wantErr: "plain http, which is allowed only for loopback hosts"},
		{name: "http on a private ip", opts: Options{BaseURL: "http://10.0.0.1", Token: "t"}, wantErr: "allowed only for loopback hosts"},
		{name: "http on a name starting with localhost", opts: Options{BaseURL: "http://localhost.evil.com", Token: "t"}, wantErr: "allowed only for loopback hosts"},
		{name: "other scheme", opts: Options{BaseURL: "ftp://127.0.0.1", Token: "t"}, wantErr: "must use https"},
		{name: "no host", opts: Options{BaseURL: "https://", Token: "t"}, wantErr: "has no host"},
		{name: "credentials in url", opts: Options{BaseURL: "https://u:p@api.vpsie.com", Token: "t"}, wantErr: "must not carry credentials"},
		{name: "no credentials", opts: Options{}, wantErr: "no credentials"},
		{name: "client id without secret", opts: Options{ClientID: "id"}, wantErr: "clientId and clientSecret must be set together"},
		{name: "negative timeout", opts: Options{Token: "t", Timeout: -time.Second}, wantErr: "timeout must not be negative"},
		{name: "backoff max below base", opts: Options{Token: "t", BackoffBase: time.Minute, BackoffMax: time.Second}, wantErr: "backoff max 1s is below backoff base 1m0s"},
		{name: "negative burst", opts: Options{Token: "t", RateBurst: -1}, wantErr: "rate burst must not be negative"},
		{name: "negative body cap", opts: Options{Token: "t", MaxResponseBytes: -1}, wantErr: "max response bytes must not be negative"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			c, err := New(tc.opts)
			if tc.wantErr == "" {
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(c).NotTo(BeNil())
				return
			}
			g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
			g.Expect(err).To(MatchError(ContainSubstring("invalid vpsie client options")))
		})
	}
}

func TestDefaults(t *testing.T) {
	g := NewWithT(t)
	o := Options{Token: "t"}.withDefaults()
	g.Expect(o.BaseURL).To(Equal("https://api.vpsie.com"))
	g.Expect(o.Timeout).To(Equal(30 * time.Second))
	g.Expect(o.RateLimit).To(BeEquivalentTo(100))
	g.Expect(o.MaxRetries).To(Equal(4))
	g.Expect(o.MaxResponseBytes).To(BeEquivalentTo(8 << 20))
	g.Expect(o.UserAgent).To(Equal("vpsie-autoscaler/" + Version))
	g.Expect(o.TokenRefreshSkew).To(Equal(time.Minute))
	g.Expect(o.Paths).To(Equal(DefaultPaths()))

	g.Expect(Options{Token: "t", MaxRetries: -1}.withDefaults().MaxRetries).To(Equal(0))
	custom := Options{Token: "t", Paths: Paths{Offers: "/v3/offers"}}.withDefaults()
	g.Expect(custom.Paths.Offers).To(Equal("/v3/offers"))
	g.Expect(custom.Paths.VMs).To(Equal("/api/v2/vm"))
}

func TestStringsRedactSecrets(t *testing.T) {
	g := NewWithT(t)
	opts := Options{BaseURL: "https://api.vpsie.com", Token: "tok-SECRET", ClientID: "id-SECRET", ClientSecret: "cs-SECRET"}
	c, err := New(opts)
	g.Expect(err).NotTo(HaveOccurred())
	req := CreateVMRequest{Hostname: "h", UserData: "#cloud-config\nbootstrap-token: bt-SECRET"}
	for _, s := range []string{
		fmt.Sprint(opts), fmt.Sprintf("%v", &opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts), fmt.Sprintf("%s", opts), //nolint:staticcheck // each verb is a separate way a secret could leak
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%+v", c.tokens),
		fmt.Sprint(req), fmt.Sprintf("%+v", req), fmt.Sprintf("%#v", req),
		fmt.Sprint(opts.MarshalLog()), fmt.Sprint(c.MarshalLog()),
	} {
		g.Expect(s).NotTo(ContainSubstring("SECRET"), s)
	}
	g.Expect(fmt.Sprint(opts)).To(ContainSubstring("<redacted>"))
}

func TestMetricsRegistryShared(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	_, err := New(Options{Token: "t", Metrics: reg})
	g.Expect(err).NotTo(HaveOccurred())
	// A second client on the same registry reuses the collectors instead of failing.
	_, err = New(Options{Token: "t", Metrics: reg})
	g.Expect(err).NotTo(HaveOccurred())
}
