// Package serverclient is what every client of a palisade server (palisade
// ask, flows import, the node agent) shares to reach it: the --server URL,
// checked, and an HTTP client that trusts a given CA.
package serverclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ParseURL parses a --server URL. It warns on warn when a token would cross
// the network in plain HTTP (to a host other than this one). The error says
// what a URL should look like.
func ParseURL(server string, warn io.Writer) (*url.URL, error) {
	base, err := url.Parse(strings.TrimSuffix(server, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("--server %q: want a URL such as https://palisade.example.com", server)
	}
	if host := base.Hostname(); base.Scheme == "http" && host != "localhost" && !isLoopbackIP(host) {
		fmt.Fprintf(warn, "warning: %s is plain HTTP to another host: the API token crosses the network unencrypted\n", base.Redacted())
	}
	return base, nil
}

// New is an HTTP client for a palisade server, trusting caFile's
// certificates when given.
func New(caFile string, timeout time.Duration) (*http.Client, error) {
	client := &http.Client{Timeout: timeout}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading --ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return client, nil
}

func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
