package operator

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Keys of the VPSie credentials Secret.
const (
	SecretKeyToken        = "token"
	SecretKeyClientID     = "clientId"
	SecretKeyClientSecret = "clientSecret"
	SecretKeyURL          = "url"
)

// Credentials are the VPSie API credentials from the Secret. They never print: String, GoString
// and MarshalLog redact them.
type Credentials struct {
	// Token is a static access token; or ClientID + ClientSecret are exchanged for tokens.
	Token        string
	ClientID     string
	ClientSecret string
	// URL is the API base URL ("" = the VPSie default).
	URL string
}

// ReadCredentials reads the credentials Secret once, with reader (use a direct, uncached reader
// such as manager.GetAPIReader(): the operator never watches Secrets).
func ReadCredentials(ctx context.Context, reader client.Reader, namespace, name string) (*Credentials, error) {
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("vpsie credentials secret %s/%s not found (see --vpsie-secret-name, --vpsie-secret-namespace)", namespace, name)
		}
		return nil, fmt.Errorf("reading vpsie credentials secret %s/%s, %w", namespace, name, err)
	}
	return CredentialsFromSecret(secret)
}

// CredentialsFromSecret takes the credentials out of secret: key token, or keys clientId and
// clientSecret (both may be present: the token is used until the first exchange); optional url.
// Errors name the Secret and the keys, never the values.
func CredentialsFromSecret(secret *corev1.Secret) (*Credentials, error) {
	ref := secret.Namespace + "/" + secret.Name
	get := func(key string) string {
		if v, ok := secret.Data[key]; ok {
			return strings.TrimSpace(string(v))
		}
		// stringData is folded into data by the apiserver; accept it for objects built in code
		return strings.TrimSpace(secret.StringData[key])
	}
	c := &Credentials{
		Token:        get(SecretKeyToken),
		ClientID:     get(SecretKeyClientID),
		ClientSecret: get(SecretKeyClientSecret),
		URL:          get(SecretKeyURL),
	}
	switch {
	case c.ClientID != "" && c.ClientSecret == "":
		return nil, fmt.Errorf("vpsie credentials secret %s has key %q but no (or an empty) key %q", ref, SecretKeyClientID, SecretKeyClientSecret)
	case c.ClientID == "" && c.ClientSecret != "":
		return nil, fmt.Errorf("vpsie credentials secret %s has key %q but no (or an empty) key %q", ref, SecretKeyClientSecret, SecretKeyClientID)
	case c.Token == "" && c.ClientID == "":
		return nil, fmt.Errorf("vpsie credentials secret %s has no credentials: set key %q, or keys %q and %q (found keys: %s)",
			ref, SecretKeyToken, SecretKeyClientID, SecretKeyClientSecret, keysOf(secret))
	}
	return c, nil
}

func keysOf(secret *corev1.Secret) string {
	var keys []string
	for k := range secret.Data {
		keys = append(keys, k)
	}
	for k := range secret.StringData {
		if _, dup := secret.Data[k]; !dup {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "none"
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// Mode names how the credentials authenticate, for logs.
func (c Credentials) Mode() string {
	if c.ClientID != "" {
		return "client credentials"
	}
	return "static token"
}

// String prints the credentials redacted.
func (c Credentials) String() string {
	return fmt.Sprintf("vpsie credentials (%s, url %q)", c.Mode(), redactURL(c.URL))
}

// redactURL drops anything but scheme, host and path: a URL could carry user info.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable>"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// GoString keeps %#v from printing the credentials.
func (c Credentials) GoString() string { return c.String() }

// MarshalLog keeps logr sinks from printing the credentials.
func (c Credentials) MarshalLog() any { return c.String() }
