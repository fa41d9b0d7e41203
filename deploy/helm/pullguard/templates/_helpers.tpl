{{/* The name of every object: the release name, or release-chart when it lacks the chart's. */}}
{{- define "pullguard.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The recommended labels, on every object (deploy/components/release sets the same). */}}
{{- define "pullguard.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: pullguard
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selectors name the app alone: a Deployment's selector never changes after creation. */}}
{{- define "pullguard.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
{{- end -}}

{{- define "pullguard.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* Namespaces every webhook entry leaves out. */}}
{{- define "pullguard.excluded" -}}
{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, kube-public, kube-node-lease, {{ .Release.Namespace }}]}
{{- end -}}
