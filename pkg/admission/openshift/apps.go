package openshift

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AppsGroup and AppsVersion identify apps.openshift.io/v1.
const (
	AppsGroup   = "apps.openshift.io"
	AppsVersion = "v1"
)

// DeploymentConfig is apps.openshift.io/v1 DeploymentConfig, reduced to its pod template.
type DeploymentConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              DeploymentConfigSpec `json:"spec"`
}

// DeploymentConfigSpec holds the pod template.
type DeploymentConfigSpec struct {
	Template *corev1.PodTemplateSpec `json:"template,omitempty"`
}
