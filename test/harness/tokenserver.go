package harness

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const tokenIssuer = "pullguard-test-token-issuer"

// TokenServer is a minimal Docker registry token server (the bearer "realm" of the token
// auth spec): it checks basic auth against its users and issues ES256 JWTs, with the
// signing certificate in the x5c header, that the registry trusts through RootCertFile.
type TokenServer struct {
	Service      string
	RootCertFile string

	users map[string]string
	key   *ecdsa.PrivateKey
	cert  []byte // DER
	srv   *http.Server
	addr  string
}

// StartTokenServer serves tokens over TLS on 127.0.0.1; the signing key is the test CA's.
func StartTokenServer(dir string, t *TLS, users map[string]string) (*TokenServer, error) {
	block, _ := pem.Decode(t.Bundle.CAKey)
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("token server: the CA key is not ECDSA")
	}
	certBlock, _ := pem.Decode(t.Bundle.CACert)
	ts := &TokenServer{Service: "pullguard-test-registry", RootCertFile: filepath.Join(dir, "token-root.crt"), users: users, key: key, cert: certBlock.Bytes}
	if err := os.WriteFile(ts.RootCertFile, t.Bundle.CACert, 0o600); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ts.addr = l.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("/token", ts.token)
	ts.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go ts.srv.ServeTLS(l, t.CertFile, t.KeyFile)
	return ts, nil
}

// Realm is the token endpoint's URL. It names the host "localhost" rather than 127.0.0.1:
// go-containerregistry refuses realms that are private IP literals on another host:port
// (an SSRF guard), while names pass, as they do for real registries.
func (ts *TokenServer) Realm() string {
	_, port, _ := net.SplitHostPort(ts.addr)
	return "https://localhost:" + port + "/token"
}

// Close stops the server.
func (ts *TokenServer) Close() error { return ts.srv.Close() }

func (ts *TokenServer) token(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || ts.users[user] == "" || ts.users[user] != pass {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	var granted []access
	for _, scope := range r.URL.Query()["scope"] {
		parts := strings.Split(scope, ":")
		if len(parts) == 3 {
			granted = append(granted, access{Type: parts[0], Name: parts[1], Actions: strings.Split(parts[2], ",")})
		}
	}
	now := time.Now()
	jti, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	claims := map[string]any{
		"iss": tokenIssuer, "sub": user, "aud": r.URL.Query().Get("service"),
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": jti.String(), "access": granted,
	}
	header := map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.cert)}}
	token, err := ts.sign(header, claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 300, "issued_at": now.Format(time.RFC3339)})
}

// sign makes a compact JWS with ES256: the signature is r and s, 32 bytes each.
func (ts *TokenServer) sign(header, claims map[string]any) (string, error) {
	enc := base64.RawURLEncoding
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, digest[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig), nil
}
