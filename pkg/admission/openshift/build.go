package openshift

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BuildGroup and BuildVersion identify build.openshift.io/v1.
const (
	BuildGroup   = "build.openshift.io"
	BuildVersion = "v1"
)

// Kinds of ObjectReference a build can name.
const (
	KindDockerImage      = "DockerImage"
	KindImageStreamTag   = "ImageStreamTag"
	KindImageStreamImage = "ImageStreamImage"
)

// DefaultBuildServiceAccount is the service account builds run as when
// spec.serviceAccount is empty.
const DefaultBuildServiceAccount = "builder"

// BuildConfig is build.openshift.io/v1 BuildConfig, reduced to what pullguard needs.
type BuildConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BuildConfigSpec `json:"spec"`
}

// BuildConfigSpec holds the build's images and service account.
type BuildConfigSpec struct {
	ServiceAccount string        `json:"serviceAccount,omitempty"`
	Source         BuildSource   `json:"source,omitempty"`
	Strategy       BuildStrategy `json:"strategy"`
	Output         BuildOutput   `json:"output,omitempty"`
}

// BuildSource lists extra images whose content the build copies in.
type BuildSource struct {
	Images []ImageSource `json:"images,omitempty"`
}

// ImageSource is one image the build pulls content from.
type ImageSource struct {
	From       corev1.ObjectReference       `json:"from"`
	PullSecret *corev1.LocalObjectReference `json:"pullSecret,omitempty"`
}

// BuildStrategy holds exactly one of the strategies.
type BuildStrategy struct {
	Type           string               `json:"type,omitempty"`
	DockerStrategy *DockerBuildStrategy `json:"dockerStrategy,omitempty"`
	SourceStrategy *SourceBuildStrategy `json:"sourceStrategy,omitempty"`
	CustomStrategy *CustomBuildStrategy `json:"customStrategy,omitempty"`
}

// DockerBuildStrategy builds from a Dockerfile; From, when set, replaces its FROM image.
type DockerBuildStrategy struct {
	From       *corev1.ObjectReference      `json:"from,omitempty"`
	PullSecret *corev1.LocalObjectReference `json:"pullSecret,omitempty"`
}

// SourceBuildStrategy is source-to-image with a builder image.
type SourceBuildStrategy struct {
	From       corev1.ObjectReference       `json:"from"`
	PullSecret *corev1.LocalObjectReference `json:"pullSecret,omitempty"`
}

// CustomBuildStrategy runs a custom builder image.
type CustomBuildStrategy struct {
	From       corev1.ObjectReference       `json:"from"`
	PullSecret *corev1.LocalObjectReference `json:"pullSecret,omitempty"`
}

// BuildOutput is where the built image is pushed.
type BuildOutput struct {
	To         *corev1.ObjectReference      `json:"to,omitempty"`
	PushSecret *corev1.LocalObjectReference `json:"pushSecret,omitempty"`
}
