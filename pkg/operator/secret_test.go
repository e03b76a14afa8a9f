package operator

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func secretWith(data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "vpsie-credentials"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

var _ = Describe("Credentials", func() {
	It("reads a static token", func() {
		c, err := CredentialsFromSecret(secretWith(map[string]string{"token": " tok-123\n"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(*c).To(Equal(Credentials{Token: "tok-123"}))
		Expect(c.Mode()).To(Equal("static token"))
	})

	It("reads client credentials and an optional url", func() {
		c, err := CredentialsFromSecret(secretWith(map[string]string{"clientId": "id-1", "clientSecret": "s3cr3t", "url": "https://api.example.test"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(*c).To(Equal(Credentials{ClientID: "id-1", ClientSecret: "s3cr3t", URL: "https://api.example.test"}))
		Expect(c.Mode()).To(Equal("client credentials"))
	})

	It("accepts stringData for objects built in code", func() {
		s := secretWith(nil)
		s.StringData = map[string]string{"token": "tok-sd"}
		c, err := CredentialsFromSecret(s)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Token).To(Equal("tok-sd"))
	})

	DescribeTable("names the secret and the missing keys, never the values",
		func(data map[string]string, want ...string) {
			_, err := CredentialsFromSecret(secretWith(data))
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring("kube-system/vpsie-credentials"))
			for _, w := range want {
				Expect(err.Error()).To(ContainSubstring(w))
			}
			for _, v := range data {
				if v != "" {
					Expect(err.Error()).NotTo(ContainSubstring(v))
				}
			}
		},
		Entry("no keys", map[string]string{}, `"token"`, `"clientId"`, `"clientSecret"`, "found keys: none"),
		Entry("only a url", map[string]string{"url": "https://api.example.test"}, `"token"`, "found keys: url"),
		Entry("empty token", map[string]string{"token": "  "}, `"token"`, "found keys: token"),
		Entry("clientId alone", map[string]string{"clientId": "id-only"}, `no (or an empty) key "clientSecret"`),
		Entry("clientSecret alone", map[string]string{"clientSecret": "secret-only", "token": "tok-x"}, `no (or an empty) key "clientId"`),
	)

	It("never prints the credentials", func() {
		c := Credentials{Token: "tok-hidden", ClientID: "id-hidden", ClientSecret: "sec-hidden", URL: "https://user:pw-hidden@api.example.test/v"}
		for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprint(&c), fmt.Sprint(c.MarshalLog())} {
			Expect(s).NotTo(ContainSubstring("hidden"))
			Expect(s).To(ContainSubstring("api.example.test"))
		}
	})

	It("reads the secret from the apiserver and names a missing one", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		_, err := ReadCredentials(ctx, env.Client, ns, "absent")
		Expect(err).To(MatchError(ContainSubstring(ns + "/absent not found")))
		Expect(err).To(MatchError(ContainSubstring("--vpsie-secret-name")))

		s := secretWith(map[string]string{"token": "tok-api"})
		s.Namespace = ns
		Expect(env.Client.Create(ctx, s)).To(Succeed())
		c, err := ReadCredentials(ctx, env.Client, ns, s.Name)
		Expect(err).NotTo(HaveOccurred())
		Expect(c.Token).To(Equal("tok-api"))
	})
})
