package kubelet

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// The kubelet's keyring logs every docker config key it cannot parse, and the generated
	// cases hold many on purpose.
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
