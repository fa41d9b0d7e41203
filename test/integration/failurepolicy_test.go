package integration

import (
	"context"
	"testing"
)

// TestModeOffHoldsWhileTheWebhookIsDown: a namespace labelled pullguard.io/mode=off is
// left out of every webhook entry, so it creates pods while pullguard is down even where
// its failure policy is closed (the README's first break-glass step). A closed namespace
// without the label is refused meanwhile, as it should be.
func TestModeOffHoldsWhileTheWebhookIsDown(t *testing.T) {
	off := namespace(t, "down-closed-off", map[string]string{"pullguard.io/failure-policy": "closed", "pullguard.io/mode": "off"})
	closed := namespace(t, "down-closed-on", map[string]string{"pullguard.io/failure-policy": "closed"})
	pullSecret(t, off, "acme", "registry.private.test")
	if err := webhook.Stop(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := webhook.Start(context.Background()); err != nil {
			t.Fatalf("restarting the webhook: %v", err)
		}
	}()
	_, stderr := kubectl(t, podYAML(closed, "web", nil, "app=nginx"), true, "apply", "-f", "-")
	assertContains(t, stderr, `failed calling webhook "closed.mutate.pullguard.io"`)

	stdout, stderr := kubectl(t, podYAML(off, "web", nil, "app=registry.private.test/acme/app:1"), false, "apply", "-f", "-")
	assertContains(t, stdout, "pod/web created")
	if stderr != "" {
		t.Errorf("apply printed %q", stderr)
	}
	// Untouched: no webhook saw it, so nothing was injected.
	assertSecrets(t, pod(t, off, "web"))
}
