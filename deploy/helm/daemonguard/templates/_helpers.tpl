{{/* Names and labels. */}}
{{- define "daemonguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "daemonguard.fullname" -}}
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

{{- define "daemonguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "daemonguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "daemonguard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "daemonguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: daemonguard
{{- end }}

{{- define "daemonguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "daemonguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "daemonguard.tlsSecretName" -}}
{{- if and (eq .Values.certificates.mode "provided") .Values.certificates.provided.existingSecret }}
{{- .Values.certificates.provided.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "daemonguard.fullname" .) }}
{{- end }}
{{- end }}

{{- define "daemonguard.policiesConfigMapName" -}}
{{- default (printf "%s-policies" (include "daemonguard.fullname" .)) .Values.policies.existingConfigMap }}
{{- end }}

{{/* The ConfigMap holding the client CA (key ca.crt), or nothing when client certificates are not required. */}}
{{- define "daemonguard.clientCAConfigMapName" -}}
{{- if .Values.clientAuth.existingConfigMap }}
{{- .Values.clientAuth.existingConfigMap }}
{{- else if .Values.clientAuth.caBundle }}
{{- printf "%s-client-ca" (include "daemonguard.fullname" .) }}
{{- end }}
{{- end }}

{{/* Service names the serving certificate must cover. */}}
{{- define "daemonguard.dnsNames" -}}
{{- $svc := include "daemonguard.fullname" . }}
{{- $ns := .Release.Namespace }}
- {{ $svc }}
- {{ $svc }}.{{ $ns }}
- {{ $svc }}.{{ $ns }}.svc
- {{ $svc }}.{{ $ns }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{/*
The policy files as a dict key -> content: the built-in library minus policies.exclude, with
validationActions overridden when policies.validationActions is set, plus policies.extra.
*/}}
{{- define "daemonguard.policyFiles" -}}
{{- $files := dict }}
{{- $override := .Values.policies.validationActions }}
{{- if not (has $override (list "" "Deny" "Warn" "Audit")) }}
{{- fail (printf "policies.validationActions must be \"\", Deny, Warn or Audit, not %q" $override) }}
{{- end }}
{{- if .Values.policies.builtin }}
{{- $builtin := list }}
{{- range $path, $_ := .Files.Glob "policies/*.yaml" }}
{{- $key := base $path }}
{{- $builtin = append $builtin $key }}
{{- if not (has $key $.Values.policies.exclude) }}
{{- $content := $.Files.Get $path }}
{{- if $override }}
{{- $content = regexReplaceAll "(?m)^(\\s+)validationActions:\\s*\\[[^\\]]*\\]" $content (printf "${1}validationActions: [%s]" $override) }}
{{- end }}
{{- $_ := set $files $key $content }}
{{- end }}
{{- end }}
{{- range .Values.policies.exclude }}
{{- if not (has . $builtin) }}
{{- fail (printf "policies.exclude: %q is not a built-in policy file (they are: %s)" . (join ", " $builtin)) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $key, $content := .Values.policies.extra }}
{{- if not (regexMatch "^[-._a-zA-Z0-9]+$" $key) }}
{{- fail (printf "policies.extra: %q is not a valid ConfigMap key" $key) }}
{{- end }}
{{- $_ := set $files $key $content }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/* The webhooks' clientConfig for a path. */}}
{{- define "daemonguard.clientConfig" -}}
{{- $root := .root -}}
service:
  name: {{ include "daemonguard.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path }}
  port: 443
{{- if eq $root.Values.certificates.mode "provided" }}
{{- if not $root.Values.certificates.provided.caBundle }}
{{- fail "certificates.mode=provided needs certificates.provided.caBundle (PEM; `daemonguard certs` writes it as ca-bundle.crt)" }}
{{- end }}
caBundle: {{ $root.Values.certificates.provided.caBundle | b64enc }}
{{- end }}
{{- end }}

{{/* What every webhook shares after its clientConfig. */}}
{{- define "daemonguard.webhookCommon" -}}
rules:
  - apiGroups: [apps]
    apiVersions: [v1]
    resources: [daemonsets]
    operations: [CREATE, UPDATE]
    scope: Namespaced
matchPolicy: Equivalent
matchConditions:
  - name: not-being-deleted
    expression: "!has(object.metadata.deletionTimestamp)"
sideEffects: None
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
{{- end }}
