package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/pullguard/pullguard/pkg/admission/check"
	"github.com/pullguard/pullguard/pkg/registryauth"
)

// checkOffline runs `webhook check` over the demo manifests, as a CI pipeline would.
func checkOffline(dir string) error {
	private, err := registryauth.ParsePatterns(privateRegistries)
	if err != nil {
		return err
	}
	var out strings.Builder
	code := check.Run(context.Background(), check.Options{Files: []string{relative(dir)}, PrivateRegistries: private}, nil, &out, os.Stderr)
	fmt.Print(indent(out.String()))
	if code != check.ExitDenied {
		return fmt.Errorf("webhook check exited %d, want %d (the ubi pod is denied)", code, check.ExitDenied)
	}
	fmt.Printf("  (exit code %d: something would be denied)\n", code)
	return nil
}
