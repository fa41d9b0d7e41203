package decision

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/admission/openshift"
)

// Decide decides any object pullguard handles: a Pod, a BuildConfig or a workload. It
// returns false for other objects.
func Decide(obj any, f *Facts) (*Decision, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return Pod(o, f), true
	case *openshift.BuildConfig:
		return BuildConfig(o, f), true
	}
	kind, ns, name, t, ok := PodTemplate(obj)
	if !ok {
		return nil, false
	}
	return Template(kind, ns, name, t, f), true
}

// NewObject returns an empty object of a kind pullguard decides, by API group and kind: a
// Pod, a BuildConfig, or a workload PodTemplate knows. It returns nil for any other kind.
func NewObject(group, kind string) any {
	switch group + "/" + kind {
	case "/Pod":
		return &corev1.Pod{}
	case openshift.BuildGroup + "/BuildConfig":
		return &openshift.BuildConfig{}
	case "apps/Deployment":
		return &appsv1.Deployment{}
	case "apps/StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/DaemonSet":
		return &appsv1.DaemonSet{}
	case "apps/ReplicaSet":
		return &appsv1.ReplicaSet{}
	case "batch/Job":
		return &batchv1.Job{}
	case "batch/CronJob":
		return &batchv1.CronJob{}
	case openshift.AppsGroup + "/DeploymentConfig":
		return &openshift.DeploymentConfig{}
	}
	return nil
}

// Decidable reports whether Decide decides obj, without deciding it.
func Decidable(obj any) bool {
	switch obj.(type) {
	case *corev1.Pod, *openshift.BuildConfig:
		return true
	}
	_, _, _, _, ok := PodTemplate(obj)
	return ok
}

// PodTemplate returns the kind, namespace, name and pod template of a workload:
// Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or DeploymentConfig.
func PodTemplate(obj any) (kind, namespace, name string, t *corev1.PodTemplateSpec, ok bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return "Deployment", o.Namespace, o.Name, &o.Spec.Template, true
	case *appsv1.StatefulSet:
		return "StatefulSet", o.Namespace, o.Name, &o.Spec.Template, true
	case *appsv1.DaemonSet:
		return "DaemonSet", o.Namespace, o.Name, &o.Spec.Template, true
	case *appsv1.ReplicaSet:
		return "ReplicaSet", o.Namespace, o.Name, &o.Spec.Template, true
	case *batchv1.Job:
		return "Job", o.Namespace, o.Name, &o.Spec.Template, true
	case *batchv1.CronJob:
		return "CronJob", o.Namespace, o.Name, &o.Spec.JobTemplate.Spec.Template, true
	case *openshift.DeploymentConfig:
		if o.Spec.Template == nil {
			return "", "", "", nil, false
		}
		return "DeploymentConfig", o.Namespace, o.Name, o.Spec.Template, true
	}
	return "", "", "", nil, false
}
