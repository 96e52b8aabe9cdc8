{{/* The chart name, or nameOverride. */}}
{{- define "canopy.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name of every object: fullnameOverride, else the release name when it contains the chart name
("canopy" → "canopy", which matches the plain manifests in webhooks/), else "<release>-<chart>".
*/}}
{{- define "canopy.fullname" -}}
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

{{- define "canopy.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "canopy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canopy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "canopy.labels" -}}
helm.sh/chart: {{ include "canopy.chart" . }}
{{ include "canopy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "canopy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "canopy.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret Canopy keeps its generated CA and serving certificate in (tls.mode bootstrap). */}}
{{- define "canopy.bootstrapSecretName" -}}
{{- default (printf "%s-tls" (include "canopy.fullname" .)) .Values.tls.bootstrap.secretName }}
{{- end }}

{{/* The Secret mounted at /etc/canopy/tls (tls.mode secret and certManager). */}}
{{- define "canopy.tlsSecretName" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- .Values.tls.secretName }}
{{- else }}
{{- printf "%s-tls" (include "canopy.fullname" .) }}
{{- end }}
{{- end }}

{{/*
Where the fleet store's kubeconfig (fleetBudgets.kubeconfigSecret, key kubeconfig) is mounted. The
Secret is mounted as a directory (not subPath), so a rotated token reaches the file.
*/}}
{{- define "canopy.fleetKubeconfigDir" -}}
/etc/canopy/fleet
{{- end }}

{{/* The serving Certificate in tls.mode certManager; the webhooks' inject-ca-from names it. */}}
{{- define "canopy.certificateName" -}}
{{- printf "%s-serving" (include "canopy.fullname" .) }}
{{- end }}

{{/*
The namespaces both webhooks never see: the configured ones, kube-node-lease (node heartbeats: a
webhook there can turn nodes NotReady) and the release namespace, whatever the values say.
*/}}
{{- define "canopy.excludedNamespaces" -}}
{{- append (append .Values.webhooks.excludedNamespaces "kube-node-lease") .Release.Namespace | uniq | toJson }}
{{- end }}

{{/* Whether the API server honours matchConditions for certain: GA (and always on) from 1.30. */}}
{{- define "canopy.hasMatchConditions" -}}
{{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version }}true{{ end }}
{{- end }}

{{/* The fields every webhook entry shares; dict: ctx, kind, webhook (its name), path. */}}
{{- define "canopy.webhookCommon" -}}
{{- $ctx := .ctx -}}
admissionReviewVersions: ["v1"]
sideEffects: None
failurePolicy: {{ $ctx.Values.webhooks.failurePolicy }}
timeoutSeconds: {{ $ctx.Values.webhooks.timeoutSeconds }}
matchPolicy: Equivalent
{{- if eq .kind "MutatingWebhookConfiguration" }}
# Canopy's patches are idempotent: called again when another webhook changed the object after it.
reinvocationPolicy: {{ $ctx.Values.webhooks.mutating.reinvocationPolicy }}
{{- end }}
clientConfig:
  service:
    name: {{ include "canopy.fullname" $ctx }}
    namespace: {{ $ctx.Release.Namespace }}
    path: {{ .path }}
    port: 443
  {{- with include "canopy.caBundle" (dict "ctx" $ctx "kind" .kind "webhook" .webhook) }}
  caBundle: {{ . }}
  {{- end }}
{{- end }}

{{/*
webhooks.customResources.rules as webhook rules for the given operations (dict: ctx, operations).
values.schema.json refuses "*" and Kubernetes' own groups there: only named custom resource groups.
*/}}
{{- define "canopy.customResourceRules" -}}
{{- $operations := .operations -}}
{{- range .ctx.Values.webhooks.customResources.rules }}
- apiGroups: {{ toJson .apiGroups }}
  apiVersions: ["*"]
  operations: {{ toJson $operations }}
  resources: {{ toJson (default (list "*") .resources) }}
  scope: "*"
{{- end }}
{{- end }}

{{/*
namespaceSelector, matchConditions and objectSelector of a webhook entry (dict: ctx, and
groupSuffixes for the custom-resource entry). On 1.30+ every entry also skips requests made by
nodes (kubelets writing mirror Pods): a node's own writes must never wait on Canopy. Before 1.30 the
rules and the namespaceSelector alone keep the cluster's machinery out, and a groupSuffixes entry,
which needs a matchCondition to be narrow, is refused instead of rendered wide.
*/}}
{{- define "canopy.webhookSelectors" -}}
{{- $ctx := .ctx -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ include "canopy.excludedNamespaces" $ctx }}
{{- if include "canopy.hasMatchConditions" $ctx }}
matchConditions:
  {{- with .groupSuffixes }}
  - name: custom-resource-group
    expression: {{ include "canopy.groupSuffixExpression" . | quote }}
  {{- end }}
  - name: not-from-a-node
    expression: "!has(request.userInfo.groups) || !('system:nodes' in request.userInfo.groups)"
{{- else if .groupSuffixes }}
{{- fail (printf "webhooks.customResources.groupSuffixes needs matchConditions, GA in Kubernetes 1.30; this cluster is %s. List the groups in webhooks.customResources.rules instead." $ctx.Capabilities.KubeVersion.Version) }}
{{- end }}
{{- with $ctx.Values.webhooks.objectSelector }}
objectSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A CEL expression true for API groups ending in one of the suffixes, e.g. ".upbound.io". */}}
{{- define "canopy.groupSuffixExpression" -}}
{{- $terms := list }}
{{- range . }}
{{- $terms = append $terms (printf "request.resource.group.endsWith('%s')" .) }}
{{- end }}
{{- join " || " $terms }}
{{- end }}

{{/*
Annotations of both webhook configurations: in certManager mode cert-manager's CA injector fills
caBundle from the serving Certificate's Secret.
*/}}
{{- define "canopy.webhookAnnotations" -}}
{{- if eq .Values.tls.mode "certManager" }}
cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "canopy.certificateName" .) }}
{{- end }}
{{- end }}

{{/*
The caBundle of one webhook, called with (dict "ctx" $ "kind" KIND "webhook" NAME). secret mode: the
given CA. bootstrap mode: Canopy patches caBundle in at run time, so the chart must not blank it on
`helm upgrade`: the live object's caBundle is carried over (lookup is empty under `helm template`
and on first install). certManager mode: nothing, cert-manager injects it.
*/}}
{{- define "canopy.caBundle" -}}
{{- $ctx := .ctx }}
{{- if eq $ctx.Values.tls.mode "secret" }}
{{- $ctx.Values.tls.caBundle }}
{{- else if eq $ctx.Values.tls.mode "bootstrap" }}
{{- $live := lookup "admissionregistration.k8s.io/v1" .kind "" (include "canopy.fullname" $ctx) }}
{{- $found := "" }}
{{- range (dig "webhooks" list ($live | default dict)) }}
{{- if eq (dig "name" "" .) $.webhook }}
{{- $found = dig "clientConfig" "caBundle" "" . }}
{{- end }}
{{- end }}
{{- $found }}
{{- end }}
{{- end }}

{{/* Checks that the schema cannot express; rendering stops with the message. */}}
{{- define "canopy.validate" -}}
{{- if eq .Values.tls.mode "secret" }}
{{- if not .Values.tls.secretName }}
{{- fail "tls.mode secret needs tls.secretName: a kubernetes.io/tls Secret in the release namespace with tls.crt and tls.key" }}
{{- end }}
{{- if not .Values.tls.caBundle }}
{{- fail "tls.mode secret needs tls.caBundle: the base64 PEM of the CA that signed the serving certificate in tls.secretName (without it the API server cannot call Canopy)" }}
{{- end }}
{{- end }}
{{- $shutdown := add .Values.shutdown.delaySeconds .Values.shutdown.drainSeconds }}
{{- if ge (int $shutdown) (int .Values.terminationGracePeriodSeconds) }}
{{- fail (printf "shutdown.delaySeconds + shutdown.drainSeconds (%d) must be below terminationGracePeriodSeconds (%d), or Kubernetes kills Canopy before requests in flight finish" (int $shutdown) (int .Values.terminationGracePeriodSeconds)) }}
{{- end }}
{{- if and .Values.bundle.url (not .Values.bundle.publicKeys) }}
{{- fail "bundle.url needs bundle.publicKeys: Canopy only activates a bundle signed by a trusted key, and refuses to start without one" }}
{{- end }}
{{- if and .Values.fleetBudgets.enabled (not .Values.fleetBudgets.kubeconfigSecret) }}
{{- fail "fleetBudgets.enabled needs fleetBudgets.kubeconfigSecret: a Secret in the release namespace whose key kubeconfig reaches the fleet store as this cluster (see webhooks/fleet-budgets.yaml)" }}
{{- end }}
{{- end }}

{{/* Canopy's config file (canopy.yaml), as YAML. Only keys Canopy knows: it refuses unknown ones. */}}
{{- define "canopy.config" -}}
{{- $fullname := include "canopy.fullname" . }}
{{- $c := .Values.config }}
{{- $config := dict
  "port" 8443
  "host" $c.host
  "policies" "/app/policies"
  "stateDir" "/var/lib/canopy"
  "logLevel" $c.logLevel
  "imageLookupTimeoutMs" $c.imageLookupTimeoutMs
  "shutdown" (dict "delaySeconds" .Values.shutdown.delaySeconds "drainSeconds" .Values.shutdown.drainSeconds)
  "engine" (dict "workers" $c.engine.workers "decisionCacheSize" $c.engine.decisionCacheSize "heapGrowthPercent" $c.engine.heapGrowthPercent)
  "deadlineMs" $c.deadlineMs
  "limits" (dict "maxInFlight" $c.limits.maxInFlight "perClientPerSecond" $c.limits.perClientPerSecond)
}}
{{- if eq .Values.tls.mode "bootstrap" }}
{{- $_ := set $config "tls" (dict "bootstrap" (dict
  "enabled" true
  "secretName" (include "canopy.bootstrapSecretName" .)
  "namespace" .Release.Namespace
  "service" $fullname
  "validatingWebhook" $fullname
  "mutatingWebhook" $fullname
)) }}
{{- else }}
{{- $_ := set $config "tls" (dict
  "certFile" "/etc/canopy/tls/tls.crt"
  "keyFile" "/etc/canopy/tls/tls.key"
  "reloadIntervalSeconds" .Values.tls.reloadIntervalSeconds
) }}
{{- end }}
{{- if .Values.bundle.url }}
{{- $bundle := dict "url" .Values.bundle.url "publicKeys" .Values.bundle.publicKeys "intervalSeconds" .Values.bundle.intervalSeconds }}
{{- if hasKey .Values.bundle "maxClockSkewSeconds" }}{{- $_ := set $bundle "maxClockSkewSeconds" .Values.bundle.maxClockSkewSeconds }}{{- end }}
{{- with .Values.bundle.channel }}{{- $_ := set $bundle "channel" . }}{{- end }}
{{- with .Values.bundle.canaries }}{{- $_ := set $bundle "canaries" . }}{{- end }}
{{- $_ := set $config "bundle" $bundle }}
{{- end }}
{{- $cluster := dict "labels" ($c.cluster.labels | default dict) }}
{{- range $key := list "name" "region" "jurisdiction" "provider" "environment" }}
{{- with get $c.cluster $key }}
{{- $_ := set $cluster $key . }}
{{- end }}
{{- end }}
{{- if kindIs "bool" $c.cluster.clusterProperties }}
{{- $_ := set $cluster "clusterProperties" $c.cluster.clusterProperties }}
{{- end }}
{{- with $c.cluster.clusterProfile }}
{{- $_ := set $cluster "clusterProfile" . }}
{{- end }}
{{- $_ := set $config "cluster" $cluster }}
{{- with $c.registries }}
{{- $_ := set $config "registries" . }}
{{- end }}
{{- with $c.kubernetes }}
{{- $_ := set $config "kubernetes" . }}
{{- end }}
{{- with $c.kcp }}
{{- $_ := set $config "kcp" . }}
{{- end }}
{{- if .Values.fleetBudgets.enabled }}
{{- $_ := set $config "fleetBudgets" (dict
  "kubeconfig" (printf "%s/kubeconfig" (include "canopy.fleetKubeconfigDir" .))
  "namespace" .Values.fleetBudgets.namespace
  "leaseSeconds" .Values.fleetBudgets.leaseSeconds
) }}
{{- end }}
{{- toYaml $config }}
{{- end }}
