{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "gatehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name of every object. */}}
{{- define "gatehouse.fullname" -}}
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

{{- define "gatehouse.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gatehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ include "gatehouse.chart" . }}
{{ include "gatehouse.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
{{- end }}

{{- define "gatehouse.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Refuses values the chart cannot render into a working deployment. */}}
{{- define "gatehouse.validate" -}}
{{- if not (has .Values.mode (list "sidecar" "standalone")) }}
{{- fail (printf "mode must be sidecar or standalone, not %q" .Values.mode) }}
{{- end }}
{{- if not (has .Values.store.type (list "postgres" "sqlite")) }}
{{- fail (printf "store.type must be postgres or sqlite, not %q" .Values.store.type) }}
{{- end }}
{{- if and (eq .Values.store.type "sqlite") (gt (int .Values.replicaCount) 1) }}
{{- fail "store.type sqlite keeps the store on one pod's emptyDir: use replicaCount 1, or postgres" }}
{{- end }}
{{- if and (eq .Values.mode "standalone") (empty .Values.upstream.addrs) }}
{{- fail "standalone mode needs upstream.addrs" }}
{{- end }}
{{- if and (include "gatehouse.needsSecret" .) (not .Values.secrets.existingSecret) (not .Values.secrets.create) }}
{{- fail "the config reads secrets: set secrets.existingSecret to a Secret you created, or secrets.create=true with secrets.values" }}
{{- end }}
{{- end }}

{{/* Non-empty when Gatehouse reads anything from the Secret. */}}
{{- define "gatehouse.needsSecret" -}}
{{- if or (eq .Values.store.type "postgres") (not (empty .Values.secretEnv)) }}true{{ end }}
{{- end }}

{{- define "gatehouse.secretName" -}}
{{- default (printf "%s-secrets" (include "gatehouse.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Gatehouse config file (README.md, "Config reference"). */}}
{{- define "gatehouse.config" -}}
[server]
listen = {{ printf "0.0.0.0:%d" (int .Values.ports.http) | quote }}
public_url = {{ .Values.server.publicUrl | quote }}
admin_listen = {{ printf "0.0.0.0:%d" (int .Values.ports.admin) | quote }}
threads = {{ int .Values.server.threads }}
shutdown_grace = {{ .Values.server.shutdownGrace | quote }}
max_connections = {{ int .Values.server.maxConnections }}
trusted_proxies = {{ .Values.server.trustedProxies | default list | toJson }}

[log]
level = {{ .Values.log.level | quote }}
format = {{ .Values.log.format | quote }}

[store]
{{- if eq .Values.store.type "postgres" }}
url = "${GATEHOUSE_STORE_URL}"
{{- else }}
url = "sqlite:///var/lib/gatehouse/gatehouse.db"
{{- end }}
max_connections = {{ int .Values.store.maxConnections }}

[[upstreams]]
name = "legacy"
{{- if eq .Values.mode "sidecar" }}
addrs = {{ list (printf "127.0.0.1:%d" (int .Values.app.port)) | toJson }}
{{- else }}
addrs = {{ .Values.upstream.addrs | toJson }}
{{- end }}
connect_timeout = {{ .Values.upstreamGroup.connectTimeout | quote }}
read_timeout = {{ .Values.upstreamGroup.readTimeout | quote }}
{{- with .Values.upstreamGroup.healthCheck }}
health_check = { path = {{ .path | quote }}, interval = {{ .interval | quote }} }
{{- end }}
{{- range .Values.routes }}

[[routes]]
name = {{ .name | quote }}
path_prefix = {{ .pathPrefix | quote }}
upstream = "legacy"
auth = {{ default "required" .auth | quote }}
{{- with .scopes }}
scopes = {{ . | toJson }}
{{- end }}
{{- end }}

{{ .Values.extraConfig }}
{{- end }}
