package check

import (
	"k8s.io/client-go/kubernetes"

	"github.com/pullguard/pullguard/pkg/admission/access"
	"github.com/pullguard/pullguard/pkg/admission/verify"
)

// access returns what answers the internal registry's access questions: the cluster, asked
// as the registry asks it, with --cluster; else the RBAC objects of the input.
func (w *world) access() verify.Asker {
	if w.review != nil {
		return w.review
	}
	return w.rbac
}

// reviewWith asks the cluster of client from now on.
func (w *world) reviewWith(client kubernetes.Interface) {
	if len(w.internal) > 0 {
		w.review = access.New(client, access.Options{})
	}
}
