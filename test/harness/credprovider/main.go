// Command credprovider is a kubelet exec credential provider plugin for the node test: it
// answers every CredentialProviderRequest with the username and password in its environment
// (PULLGUARD_TEST_USER, PULLGUARD_TEST_PASSWORD, set by the provider's entry in the
// kubelet's CredentialProviderConfig), for the registry of the requested image.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type request struct {
	APIVersion string `json:"apiVersion"`
	Image      string `json:"image"`
}

type authConfig struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type response struct {
	APIVersion    string                `json:"apiVersion"`
	Kind          string                `json:"kind"`
	CacheKeyType  string                `json:"cacheKeyType"`
	CacheDuration string                `json:"cacheDuration"`
	Auth          map[string]authConfig `json:"auth"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "credprovider: reading the request:", err)
		os.Exit(1)
	}
	registry, _, _ := strings.Cut(req.Image, "/")
	resp := response{
		APIVersion: req.APIVersion, Kind: "CredentialProviderResponse",
		CacheKeyType: "Registry", CacheDuration: "1m",
		Auth: map[string]authConfig{registry: {Username: os.Getenv("PULLGUARD_TEST_USER"), Password: os.Getenv("PULLGUARD_TEST_PASSWORD")}},
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		os.Exit(1)
	}
}
