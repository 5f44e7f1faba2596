{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "kakehashi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name when it already contains the chart name. */}}
{{- define "kakehashi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service's name (fullname + "-headless", within 63 characters). */}}
{{- define "kakehashi.headlessName" -}}
{{- printf "%s-headless" (include "kakehashi.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{/* gateway (deployment mode) or agent (daemonset mode). */}}
{{- define "kakehashi.component" -}}
{{- if eq .Values.mode "daemonset" }}agent{{ else }}gateway{{ end }}
{{- end }}

{{- define "kakehashi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kakehashi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "kakehashi.component" . }}
{{- end }}

{{- define "kakehashi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kakehashi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kakehashi
{{- end }}

{{/* The collector configuration as rendered into the ConfigMap. */}}
{{- define "kakehashi.config" -}}
{{- toYaml .Values.config }}
{{- end }}

{{- define "kakehashi.validateValues" -}}
{{- if not (has .Values.mode (list "deployment" "daemonset")) }}
{{- fail (printf "mode must be deployment or daemonset, not %q" .Values.mode) }}
{{- end }}
{{- if not .Values.config }}
{{- fail "config must hold the collector configuration" }}
{{- end }}
{{- end }}
