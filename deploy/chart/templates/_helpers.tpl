{{/* Names and labels. */}}
{{- define "vault-inject.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vault-inject.fullname" -}}
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

{{- define "vault-inject.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vault-inject.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of every object: those of the webhook's, unless labelsOf names another component. */}}
{{- define "vault-inject.labels" -}}
{{ include "vault-inject.labelsOf" (dict "root" . "component" "webhook") }}
{{- end }}

{{/* Labels for (dict "root" . "component" NAME): webhook, guard or certificates. */}}
{{- define "vault-inject.labelsOf" -}}
{{- $root := .root -}}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{ include "vault-inject.selectorLabels" $root }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: vault-inject
{{- end }}

{{- define "vault-inject.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vault-inject.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The webhook's own pods carry this label; the objectSelector never sends them. */}}
{{- define "vault-inject.componentLabel" -}}
vault-inject.dev/component: webhook
{{- end }}

{{- define "vault-inject.image" -}}
{{- $tag := default .Chart.AppVersion .image.tag }}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}
{{- end }}

{{/* The webhook pods' priority class: the one named, else the chart's own, else none. */}}
{{- define "vault-inject.priorityClassName" -}}
{{- if .Values.priorityClassName }}
{{- .Values.priorityClassName }}
{{- else if .Values.priorityClass.create }}
{{- include "vault-inject.fullname" . }}
{{- end }}
{{- end }}

{{- define "vault-inject.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "secret" }}
{{- required "certificates.secret.name is required when certificates.mode is secret" .Values.certificates.secret.name }}
{{- else }}
{{- printf "%s-tls" (include "vault-inject.fullname" .) }}
{{- end }}
{{- end }}

{{- define "vault-inject.webhookName" -}}
{{- include "vault-inject.fullname" . }}
{{- end }}

{{/* DNS names of the Service, as the API server dials it. */}}
{{- define "vault-inject.dnsNames" -}}
{{- $svc := include "vault-inject.fullname" . }}
{{- list $svc (printf "%s.%s" $svc .Release.Namespace) (printf "%s.%s.svc" $svc .Release.Namespace) (printf "%s.%s.svc.cluster.local" $svc .Release.Namespace) | toJson }}
{{- end }}

{{/*
Namespaces the webhook and the guard never look at. The release namespace is always among them:
the webhook must be able to restart itself whatever its failurePolicy.
*/}}
{{- define "vault-inject.namespaceSelector" -}}
{{- $excluded := concat (list "kube-system" "kube-public" "kube-node-lease" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq }}
{{- $extra := .Values.webhook.namespaceSelector }}
{{- with $extra.matchLabels }}
matchLabels:
  {{- toYaml . | nindent 2 }}
{{- end }}
matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ toJson $excluded }}
  - key: vault-inject.dev/inject
    operator: NotIn
    values: ["false"]
  {{- with $extra.matchExpressions }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{- define "vault-inject.objectSelector" -}}
{{- $extra := .Values.webhook.objectSelector }}
{{- with $extra.matchLabels }}
matchLabels:
  {{- toYaml . | nindent 2 }}
{{- end }}
matchExpressions:
  - key: vault-inject.dev/component
    operator: NotIn
    values: ["webhook"]
  {{- if .Values.webhook.bankVaultsSkipLabel }}
  - key: security.banzaicloud.io/mutate
    operator: NotIn
    values: ["skip"]
  {{- end }}
  {{- with $extra.matchExpressions }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}

{{/*
CEL: does the string STR hold a reference? The same prefixes the webhook detects
(docs/references.md): vault:, >>vault:, and the inline ${vault: / ${>>vault: forms.
*/}}
{{- define "vault-inject.cel.isReference" -}}
({{ . }}.startsWith('vault:') || {{ . }}.startsWith('>>vault:') || {{ . }}.contains('${vault:') || {{ . }}.contains('${>>vault:'))
{{- end }}

{{/* CEL: container c has a literal reference in an env value. */}}
{{- define "vault-inject.cel.containerHasLiteral" -}}
(has(c.env) && c.env.exists(e, has(e.value) && {{ include "vault-inject.cel.isReference" "e.value" }}))
{{- end }}

{{/*
CEL: container c may hold a reference: a literal one, or a value the API server cannot see
(valueFrom secretKeyRef/configMapKeyRef, envFrom); the webhook reads those itself.
*/}}
{{- define "vault-inject.cel.containerCandidate" -}}
{{ include "vault-inject.cel.containerHasLiteral" . }}
  || (has(c.env) && c.env.exists(e, has(e.valueFrom) && (has(e.valueFrom.secretKeyRef) || has(e.valueFrom.configMapKeyRef))))
  || (has(c.envFrom) && size(c.envFrom) > 0)
{{- end }}

{{- define "vault-inject.cel.hasOurAnnotation" -}}
(has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('vault-inject.dev/') || k.startsWith('vault.security.banzaicloud.io/')))
{{- end }}

{{/* CEL, the webhook's matchCondition: a pod worth sending. */}}
{{- define "vault-inject.cel.sendToWebhook" -}}
{{ include "vault-inject.cel.hasOurAnnotation" . }}
|| object.spec.containers.exists(c,
  {{ include "vault-inject.cel.containerCandidate" . | nindent 2 | trim }})
|| (has(object.spec.initContainers) && object.spec.initContainers.exists(c,
  {{ include "vault-inject.cel.containerCandidate" . | nindent 2 | trim }}))
{{- end }}

{{/* CEL: the pod has a literal reference in any container or init container. */}}
{{- define "vault-inject.cel.podHasLiteral" -}}
object.spec.containers.exists(c, {{ include "vault-inject.cel.containerHasLiteral" . }})
|| (has(object.spec.initContainers) && object.spec.initContainers.exists(c, {{ include "vault-inject.cel.containerHasLiteral" . }}))
{{- end }}

{{/*
CEL over the guard's variables.annotations: the pod's annotations read as the webhook reads them
(webhook/src/mutation/pod-settings.ts, annotations.ts). Booleans are Go's strconv.ParseBool forms
around spaces; ours wins over a Bank-Vaults alias, even when empty.
*/}}
{{- define "vault-inject.cel.annotation" -}}
variables.annotations[{{ . | quote }}].trim()
{{- end }}

{{/* CEL: the pod opted out: inject false, or (inject unset or empty) Bank-Vaults' mutate: skip. */}}
{{- define "vault-inject.cel.optedOut" -}}
('vault-inject.dev/inject' in variables.annotations
    && {{ include "vault-inject.cel.annotation" "vault-inject.dev/inject" }} in ['0', 'f', 'F', 'false', 'FALSE', 'False'])
|| ((!('vault-inject.dev/inject' in variables.annotations) || {{ include "vault-inject.cel.annotation" "vault-inject.dev/inject" }} == '')
    && 'vault.security.banzaicloud.io/mutate' in variables.annotations
    && {{ include "vault-inject.cel.annotation" "vault.security.banzaicloud.io/mutate" }}.lowerAscii() == 'skip')
{{- end }}

{{/*
CEL: an annotation asks for injection without any reference in sight: inject true, a from-path
(ours, else Bank-Vaults' vault-env-from-path), or containers naming one of the pod's containers.
*/}}
{{- define "vault-inject.cel.asksInjection" -}}
('vault-inject.dev/inject' in variables.annotations
    && {{ include "vault-inject.cel.annotation" "vault-inject.dev/inject" }} in ['1', 't', 'T', 'true', 'TRUE', 'True'])
|| ('vault-inject.dev/from-path' in variables.annotations
    ? {{ include "vault-inject.cel.annotation" "vault-inject.dev/from-path" }} != ''
    : ('vault.security.banzaicloud.io/vault-env-from-path' in variables.annotations
        && {{ include "vault-inject.cel.annotation" "vault.security.banzaicloud.io/vault-env-from-path" }} != ''))
|| ('vault-inject.dev/containers' in variables.annotations
    && {{ include "vault-inject.cel.annotation" "vault-inject.dev/containers" }}.split(',').exists(n,
        object.spec.containers.exists(c, c.name == n.trim())
        || (has(object.spec.initContainers) && object.spec.initContainers.exists(c, c.name == n.trim()))))
|| variables.annotations.exists(k, k.startsWith('vault-inject.dev/secret-file-'))
{{- end }}

{{/* Whole seconds of a duration written as Ns or Nms (rounded up). */}}
{{- define "vault-inject.seconds" -}}
{{- $d := . | toString -}}
{{- if hasSuffix "ms" $d -}}
{{- div (add (trimSuffix "ms" $d | int) 999) 1000 -}}
{{- else if hasSuffix "s" $d -}}
{{- trimSuffix "s" $d | int -}}
{{- else -}}
{{- fail (printf "%q is not a duration in s or ms" $d) -}}
{{- end -}}
{{- end }}

{{/*
Milliseconds of a Go duration (`2160h`, `1m30s`, `250ms`), the syntax the webhook's duration
flags take.
*/}}
{{- define "vault-inject.durationMs" -}}
{{- $d := . | toString -}}
{{- if not (regexMatch "^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$" $d) -}}
{{- fail (printf "%q is not a duration like 2160h, 1m30s or 250ms" $d) -}}
{{- end -}}
{{- $ms := regexFind "[0-9]+ms$" $d -}}
{{- $d = trimSuffix $ms $d -}}
{{- $s := regexFind "[0-9]+s$" $d -}}
{{- $d = trimSuffix $s $d -}}
{{- $m := regexFind "[0-9]+m$" $d -}}
{{- $d = trimSuffix $m $d -}}
{{- $h := regexFind "[0-9]+h$" $d -}}
{{- add (mul (trimSuffix "h" $h | int64) 3600000) (mul (trimSuffix "m" $m | int64) 60000) (mul (trimSuffix "s" $s | int64) 1000) (trimSuffix "ms" $ms | int64) -}}
{{- end }}

{{/*
Certificate mode `auto`: refuses the lifetimes the webhook itself would refuse to start with.
Renders nothing.
*/}}
{{- define "vault-inject.autoChecks" -}}
{{- $a := .Values.certificates.auto -}}
{{- $serving := include "vault-inject.durationMs" $a.servingValidity | int64 -}}
{{- $ca := include "vault-inject.durationMs" $a.caValidity | int64 -}}
{{- $overlap := include "vault-inject.durationMs" $a.overlap | int64 -}}
{{- $reload := include "vault-inject.durationMs" .Values.server.tlsReloadInterval | int64 -}}
{{- if lt $ca (mul 3 $serving | int64) -}}
{{- fail "certificates.auto.caValidity must be at least three times certificates.auto.servingValidity" -}}
{{- end -}}
{{- if ge (mul 3 $overlap | int64) $serving -}}
{{- fail "certificates.auto.overlap must be shorter than a third of certificates.auto.servingValidity" -}}
{{- end -}}
{{- if lt $overlap (mul 2 $reload | int64) -}}
{{- fail "certificates.auto.overlap must be at least twice server.tlsReloadInterval: every replica must see the Secret change within it" -}}
{{- end -}}
{{- end }}

{{/* --registry-ca: HOST=FILE for each registry.ca entry, mounted by deployment.yaml. */}}
{{- define "vault-inject.registryCa" -}}
{{- $items := list -}}
{{- range $i, $ca := .Values.registry.ca -}}
{{- if eq (ternary 1 0 (not (empty $ca.configMap))) (ternary 1 0 (not (empty $ca.secret))) -}}
{{- fail (printf "registry.ca[%d] (%s): set exactly one of configMap and secret" $i $ca.host) -}}
{{- end -}}
{{- $items = append $items (printf "%s=/etc/vault-inject/registry/ca/%d/ca.crt" $ca.host $i) -}}
{{- end -}}
{{- join "," $items -}}
{{- end }}
