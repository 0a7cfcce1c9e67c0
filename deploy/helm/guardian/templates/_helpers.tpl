{{/* The long-running services, in the order they are rendered: the gateway, then the six behind it. */}}
{{- define "guardian.services" -}}
gateway collector evaluator compliance evidence reporting remediation
{{- end -}}

{{/* The services behind the gateway; with requireGateway they refuse API keys sent to them. */}}
{{- define "guardian.internalServices" -}}
collector evaluator compliance evidence reporting remediation
{{- end -}}

{{/* Every schema the migration Job applies, each with its own service's image (the gateway's last). */}}
{{- define "guardian.schemas" -}}
collector compliance evidence reporting remediation gateway
{{- end -}}

{{/* Who reads whom over REST, besides the gateway: "<caller>:<service>[,<service>...]" entries. The
NetworkPolicies open exactly these (egress of the caller, ingress of the service) and the Deployments
point the callers' GUARDIAN_<SERVICE>_URL at them. */}}
{{- define "guardian.restReads" -}}
reporting:compliance,evidence,collector,remediation remediation:compliance,collector
{{- end -}}

{{/* The services one component reads over REST (a list; empty for most). Call with (dict "root" $ "component" "reporting"). */}}
{{- define "guardian.readsFrom" -}}
{{- $found := list -}}
{{- range $entry := splitList " " (include "guardian.restReads" .root) -}}
{{- $parts := splitList ":" $entry -}}
{{- if eq (index $parts 0) $.component -}}
{{- $found = splitList "," (index $parts 1) -}}
{{- end -}}
{{- end -}}
{{- join " " $found -}}
{{- end -}}

{{/* The components that read one service over REST (besides the gateway). Call with (dict "root" $ "component" "compliance"). */}}
{{- define "guardian.readBy" -}}
{{- $found := list -}}
{{- range $entry := splitList " " (include "guardian.restReads" .root) -}}
{{- $parts := splitList ":" $entry -}}
{{- if has $.component (splitList "," (index $parts 1)) -}}
{{- $found = append $found (index $parts 0) -}}
{{- end -}}
{{- end -}}
{{- join " " $found -}}
{{- end -}}

{{- define "guardian.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped base name; component names append "-<service>", so keep room for it. */}}
{{- define "guardian.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 45 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "guardian.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every pod of this release carries; NetworkPolicies use them to mean "within the release". */}}
{{- define "guardian.releaseSelector" -}}
app.kubernetes.io/name: {{ include "guardian.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "collector"). */}}
{{- define "guardian.selectorLabels" -}}
{{ include "guardian.releaseSelector" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "guardian.labels" -}}
helm.sh/chart: {{ include "guardian.chart" .root }}
{{ include "guardian.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: guardian
{{- end -}}

{{/* The image of one service. Call with (dict "root" $ "component" "collector"). */}}
{{- define "guardian.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s-%s" $img.repositoryPrefix .component -}}
{{- if $img.registry -}}
{{- $repo = printf "%s/%s" $img.registry $repo -}}
{{- end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "guardian.collectorServiceAccountName" -}}
{{- if .Values.collector.serviceAccount.create -}}
{{- default (printf "%s-collector" (include "guardian.fullname" .)) .Values.collector.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.collector.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "guardian.remediationServiceAccountName" -}}
{{- if .Values.remediation.serviceAccount.create -}}
{{- default (printf "%s-remediation" (include "guardian.fullname" .)) .Values.remediation.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.remediation.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "guardian.evidenceServiceAccountName" -}}
{{- if .Values.evidence.serviceAccount.create -}}
{{- default (printf "%s-evidence" (include "guardian.fullname" .)) .Values.evidence.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.evidence.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The in-cluster URL of one service. Call with (dict "root" $ "component" "collector"). */}}
{{- define "guardian.serviceUrl" -}}
{{- printf "http://%s-%s.%s.svc:%v" (include "guardian.fullname" .root) .component .root.Release.Namespace .root.Values.service.port -}}
{{- end -}}

{{/* The PersistentVolumeClaim holding evidence with the local backend. */}}
{{- define "guardian.evidenceClaimName" -}}
{{- default (printf "%s-evidence" (include "guardian.fullname" .)) .Values.evidence.storage.local.existingClaim -}}
{{- end -}}

{{- define "guardian.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "guardian.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Does a component keep state in PostgreSQL? */}}
{{- define "guardian.usesDatabase" -}}
{{- if has . (list "gateway" "collector" "compliance" "evidence" "reporting" "remediation" "migrations") -}}true{{- end -}}
{{- end -}}

{{- define "guardian.databaseEnv" -}}
- name: GUARDIAN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret is required: create a Secret holding the PostgreSQL URL" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- end -}}

{{/* The migration Job's database URL: its own Secret (a role owning the schemas) when set. */}}
{{- define "guardian.migrationsDatabaseEnv" -}}
- name: GUARDIAN_DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if .Values.migrations.existingSecret }}
      name: {{ .Values.migrations.existingSecret }}
      key: {{ .Values.migrations.urlKey }}
      {{- else }}
      name: {{ required "database.existingSecret is required: create a Secret holding the PostgreSQL URL" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
      {{- end }}
{{- end -}}

{{/* Environment every service shares. Call with (dict "root" $ "component" "collector"). */}}
{{- define "guardian.serviceEnv" -}}
{{- $v := .root.Values -}}
- name: GUARDIAN_ENVIRONMENT
  value: {{ $v.environment | quote }}
- name: GUARDIAN_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: GUARDIAN_LOG_JSON
  value: "true"
- name: GUARDIAN_BUS_PREFIX
  value: {{ $v.busPrefix | quote }}
- name: GUARDIAN_HOST
  value: "0.0.0.0"
- name: GUARDIAN_PORT
  value: {{ $v.service.port | quote }}
{{- if $v.nats.existingSecret }}
- name: GUARDIAN_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.nats.existingSecret }}
      key: {{ $v.nats.urlKey }}
{{- else }}
- name: GUARDIAN_NATS_URL
  value: {{ required "nats.url (or nats.existingSecret) is required" $v.nats.url | quote }}
{{- end }}
- name: GUARDIAN_AUTH_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ required "auth.existingSecret is required: create a Secret holding the API-key signing secret" $v.auth.existingSecret }}
      key: {{ $v.auth.secretKey }}
- name: GUARDIAN_INTERNAL_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ required "internalSecret.existingSecret is required: create a Secret holding the gateway's signing secret" $v.internalSecret.existingSecret }}
      key: {{ $v.internalSecret.secretKey }}
{{- /* The hook Job migrates; a service migrates at start only when the Job is turned off. */}}
- name: GUARDIAN_RUN_MIGRATIONS
  value: {{ not $v.migrations.enabled | quote }}
{{- if has .component (splitList " " (include "guardian.internalServices" .root)) }}
- name: GUARDIAN_REQUIRE_GATEWAY
  value: {{ $v.requireGateway | quote }}
{{- end }}
{{- if include "guardian.usesDatabase" .component }}
{{ include "guardian.databaseEnv" .root }}
{{- end }}
{{- end -}}

{{/* A container's security context and the /tmp mount; the pod side is guardian.podSecurity. */}}
{{- define "guardian.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{- define "guardian.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end -}}
