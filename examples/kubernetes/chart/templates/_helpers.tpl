{{/* Names and labels: the standard app.kubernetes.io/* set. */}}
{{- define "ws-gateway.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ws-gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ws-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ws-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ws-gateway.labels" -}}
{{ include "ws-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: websocket-gateway
app.kubernetes.io/part-of: baton
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "ws-gateway.image" -}}
{{- $repository := required "image.repository is required: an image built from examples/ws-gateway/Dockerfile (see the chart's README)" .Values.image.repository -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "ws-gateway.handoffSecretName" -}}
{{- default (printf "%s-handoff" (include "ws-gateway.fullname" .)) .Values.handoff.existingSecret -}}
{{- end -}}

{{/*
The handoff keys' revision: what the pods' annotation carries so that new keys roll them (they read the keys
once). Opaque on purpose: a hash of the keys in a pod annotation, readable by anyone who may list pods, would
be an offline verifier for guessed keys. handoff.keysRevision wins when set (say, the date of the rotation);
otherwise, for keys set in the values, the chart's Secret keeps the revision in an annotation and the chart
reads it back at upgrade (lookup): the same keys keep it, other keys add one. Renderers without cluster access
(helm template, Argo CD) see no Secret: there it is 1 unless handoff.keysRevision says otherwise.
*/}}
{{- define "ws-gateway.keysRevision" -}}
{{- if .Values.handoff.keysRevision -}}
{{- .Values.handoff.keysRevision -}}
{{- else if .Values.handoff.existingSecret -}}
{{- printf "secret/%s" .Values.handoff.existingSecret -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "ws-gateway.handoffSecretName" .) -}}
{{- if and $existing $existing.data -}}
{{- $previous := index $existing.data "BATON_HANDOFF_KEYS" | default "" | b64dec -}}
{{- $revision := index (default dict $existing.metadata.annotations) "baton.dev/keys-revision" | default "1" | atoi -}}
{{- if eq $previous .Values.handoff.keys -}}{{ $revision }}{{- else -}}{{ add1 $revision }}{{- end -}}
{{- else -}}
1
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The Kubernetes API credentials of a pod that runs the rollout hold, instead of the automounted token: the same
files at the same path (so @kubernetes/client-node's in-cluster config finds them), with a token that expires
after 10 minutes (the kubelet renews it) and is mounted into the Baton container only, not into sidecars.
*/}}
{{- define "ws-gateway.apiAccessVolume" -}}
- name: kube-api-access
  projected:
    defaultMode: 0444
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 600
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                fieldPath: metadata.namespace
{{- end -}}

{{/*
The drain budget, in one place, with drain-core's rule (packages/drain-core/src/budget.ts):
  gracePeriod >= propagation + window + closeTimeout + safetyMargin
The window is derived from the grace period unless drain.drainWindowSeconds is set. A budget drain-core would
refuse fails the render with drain-core's remedy, instead of a pod that exits 2 at start-up.
Returns the window in seconds.
*/}}
{{- define "ws-gateway.drainWindowSeconds" -}}
{{- $d := .Values.drain -}}
{{- $fixed := addf $d.propagationSeconds $d.closeTimeoutSeconds $d.safetyMarginSeconds -}}
{{- if kindIs "invalid" $d.drainWindowSeconds -}}
{{- $window := subf $d.gracePeriodSeconds $fixed -}}
{{- if le $window 0.0 -}}
{{- fail (printf "Impossible drain budget: drain.gracePeriodSeconds (%v) leaves no drain window after propagationSeconds (%v) + closeTimeoutSeconds (%v) + safetyMarginSeconds (%v) = %v. Raise drain.gracePeriodSeconds above %v, or lower propagationSeconds or closeTimeoutSeconds." $d.gracePeriodSeconds $d.propagationSeconds $d.closeTimeoutSeconds $d.safetyMarginSeconds $fixed $fixed) -}}
{{- end -}}
{{- $window -}}
{{- else -}}
{{- $needed := addf $fixed $d.drainWindowSeconds -}}
{{- if gt $needed (float64 $d.gracePeriodSeconds) -}}
{{- fail (printf "Impossible drain budget: drain.gracePeriodSeconds (%v) is less than drainWindowSeconds (%v) + propagationSeconds (%v) + closeTimeoutSeconds (%v) + safetyMarginSeconds (%v) = %v. Raise drain.gracePeriodSeconds to at least %v, or lower drainWindowSeconds to at most %v." $d.gracePeriodSeconds $d.drainWindowSeconds $d.propagationSeconds $d.closeTimeoutSeconds $d.safetyMarginSeconds $needed $needed (subf $d.gracePeriodSeconds $fixed)) -}}
{{- end -}}
{{- $d.drainWindowSeconds -}}
{{- end -}}
{{- end -}}

{{/* The LB must have stopped sending new flows before closing starts (docs/kubernetes.md). */}}
{{- define "ws-gateway.checkPropagation" -}}
{{- $hc := .Values.loadBalancer.healthCheck -}}
{{- $detect := mulf $hc.intervalSeconds $hc.unhealthyThreshold -}}
{{- if lt (float64 .Values.drain.propagationSeconds) $detect -}}
{{- fail (printf "drain.propagationSeconds (%v) is shorter than the load balancer's failure detection (loadBalancer.healthCheck.intervalSeconds %v x unhealthyThreshold %v = %v s): clients would still be sent to closing pods. Raise drain.propagationSeconds to at least %v." .Values.drain.propagationSeconds $hc.intervalSeconds $hc.unhealthyThreshold $detect $detect) -}}
{{- end -}}
{{- end -}}

{{/* The pod template, shared by the Deployment and the Argo Rollout. */}}
{{- define "ws-gateway.podTemplate" -}}
{{- $window := include "ws-gateway.drainWindowSeconds" . -}}
{{- include "ws-gateway.checkPropagation" . -}}
metadata:
  labels:
    {{- include "ws-gateway.labels" . | nindent 4 }}
  annotations:
    # A change of handoff keys rolls the pods (they read the keys once, at start-up): an opaque revision, never
    # a hash of the keys (see ws-gateway.keysRevision).
    baton.dev/handoff-keys-revision: {{ include "ws-gateway.keysRevision" . | quote }}
    # A pod holding WebSocket clients must not be evicted by the cluster autoscaler's scale-down.
    cluster-autoscaler.kubernetes.io/safe-to-evict: "false"
spec:
  {{- if .Values.rolloutHold.enabled }}
  # Its Role lets the rollout hold get/list/watch the pods of this namespace (from the drain on only). The
  # token comes from the kube-api-access volume below, into the gateway container only.
  serviceAccountName: {{ include "ws-gateway.fullname" . }}
  {{- end }}
  automountServiceAccountToken: false
  # Equal to drain.gracePeriodSeconds, as BATON_GRACE_PERIOD_SECONDS below (window {{ $window }} s).
  terminationGracePeriodSeconds: {{ .Values.drain.gracePeriodSeconds }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    seccompProfile:
      type: RuntimeDefault
  {{- if .Values.topologySpread.enabled }}
  # Spread over zones and nodes: with externalTrafficPolicy Local the LB balances per node, so pods bunched on
  # a node get less than their share, and a zone or node loss takes fewer clients at once.
  topologySpreadConstraints:
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "ws-gateway.selectorLabels" . | nindent 10 }}
      matchLabelKeys: [pod-template-hash]
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "ws-gateway.selectorLabels" . | nindent 10 }}
      matchLabelKeys: [pod-template-hash]
  {{- end }}
  volumes:
    # A writable /tmp on a read-only root: drain-core writes its per-start drain proof there, which the
    # preStop hook's baton-drain reads (only this container sees it).
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 1Mi
    {{- if .Values.rolloutHold.enabled }}
    {{- include "ws-gateway.apiAccessVolume" . | nindent 4 }}
    {{- end }}
    {{- if and .Values.handoff.storeUrlSecret .Values.handoff.storeCaSecret }}
    - name: redis-ca
      secret:
        secretName: {{ .Values.handoff.storeCaSecret }}
        items:
          - key: ca.crt
            path: ca.crt
    {{- end }}
  containers:
    - name: gateway
      image: {{ include "ws-gateway.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      # The same command as the image's CMD (examples/ws-gateway/Dockerfile).
      command: ["node", "server.js"]
      ports:
        - name: ws
          containerPort: {{ .Values.ports.ws }}
          protocol: TCP
        - name: admin
          containerPort: {{ .Values.ports.admin }}
          protocol: TCP
      env:
        - name: HOST
          value: "0.0.0.0"
        - name: PORT
          value: {{ .Values.ports.ws | quote }}
        - name: ADMIN_PORT
          value: {{ .Values.ports.admin | quote }}
        - name: APP_VERSION
          value: {{ default .Chart.AppVersion .Values.image.tag | quote }}
        - name: BATON_GRACE_PERIOD_SECONDS
          value: {{ .Values.drain.gracePeriodSeconds | quote }}
        - name: BATON_PROPAGATION_SECONDS
          value: {{ .Values.drain.propagationSeconds | quote }}
        - name: BATON_CLOSE_TIMEOUT_SECONDS
          value: {{ .Values.drain.closeTimeoutSeconds | quote }}
        - name: BATON_SAFETY_MARGIN_SECONDS
          value: {{ .Values.drain.safetyMarginSeconds | quote }}
        {{- if not (kindIs "invalid" .Values.drain.drainWindowSeconds) }}
        - name: BATON_DRAIN_WINDOW_SECONDS
          value: {{ .Values.drain.drainWindowSeconds | quote }}
        {{- end }}
        - name: BATON_MIN_WINDOW_SHARE
          value: {{ .Values.drain.minWindowShare | quote }}
        {{- with .Values.drain.admission.maxAcceptsPerSecond }}
        - name: BATON_MAX_ACCEPTS_PER_SECOND
          value: {{ . | quote }}
        {{- end }}
        {{- with .Values.drain.admission.burst }}
        - name: BATON_ACCEPT_BURST
          value: {{ . | quote }}
        {{- end }}
        - name: BATON_CHECKPOINT_SECONDS
          value: {{ .Values.handoff.checkpointSeconds | quote }}
        {{- if .Values.identityHeaders }}
        - name: BATON_IDENTITY_POD
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: BATON_IDENTITY_VERSION
          value: {{ default .Chart.AppVersion .Values.image.tag | quote }}
        {{- end }}
        {{- if gt (int .Values.workers) 1 }}
        {{- if gt (int .Values.rebalance.seconds) 0 }}
        {{- fail (printf "workers (%v) needs rebalance.seconds 0: rebalancing across the processes of one pod is not supported yet. Set rebalance.seconds=0, or workers=1." .Values.workers) }}
        {{- end }}
        # Several gateway processes in the pod (node:cluster): the primary drains them as one pod.
        - name: WORKERS
          value: {{ .Values.workers | quote }}
        {{- end }}
        {{- if gt (int .Values.rebalance.seconds) 0 }}
        # Rebalancing after a scale-out: the peers are the ready pods behind the headless Service; the version
        # pauses it while a release runs two versions.
        - name: BATON_REBALANCE_SECONDS
          value: {{ .Values.rebalance.seconds | quote }}
        - name: BATON_REBALANCE_PEERS
          value: {{ printf "dns:%s-peers:%v" (include "ws-gateway.fullname" .) .Values.ports.admin | quote }}
        - name: BATON_REBALANCE_VERSION
          value: {{ default .Chart.AppVersion .Values.image.tag | quote }}
        {{- end }}
        {{- if .Values.rolloutHold.enabled }}
        - name: BATON_ROLLOUT_HOLD
          value: kubernetes
        - name: BATON_KUBERNETES_TIMEOUT_SECONDS
          value: {{ .Values.rolloutHold.apiTimeoutSeconds | quote }}
        - name: POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        {{- end }}
        - name: BATON_HANDOFF_KEYS
          valueFrom:
            secretKeyRef:
              name: {{ include "ws-gateway.handoffSecretName" . }}
              key: BATON_HANDOFF_KEYS
        {{- with .Values.handoff.storeUrlSecret }}
        - name: BATON_HANDOFF_STORE_URL
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: BATON_HANDOFF_STORE_URL
        {{- end }}
        {{- if and .Values.handoff.storeUrlSecret .Values.handoff.storeCluster }}
        - name: BATON_HANDOFF_STORE_CLUSTER
          value: "true"
        {{- end }}
        {{- if and .Values.handoff.storeUrlSecret .Values.handoff.storeCaSecret }}
        - name: BATON_HANDOFF_STORE_CA_FILE
          value: /etc/baton/redis-ca/ca.crt
        {{- end }}
        {{- with .Values.admin.existingTokenSecret }}
        - name: BATON_ADMIN_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ . }}
              key: BATON_ADMIN_TOKEN
        {{- end }}
      lifecycle:
        # The drain starts here; the kubelet sends SIGTERM once this returns (it answers at once). An exec
        # inside the container can read the admin server's per-start proof in /tmp, the one thing that starts
        # a terminating drain over HTTP (a loopback address alone does not: a mesh sidecar comes from there).
        preStop:
          exec:
            command: ["node", "node_modules/@baton/drain-core/dist/baton-drain.js"]
      readinessProbe:
        httpGet:
          path: /readyz
          port: admin
        periodSeconds: 5
      livenessProbe:
        httpGet:
          path: /livez
          port: admin
        periodSeconds: 10
        failureThreshold: 3
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if .Values.rolloutHold.enabled }}
        - name: kube-api-access
          mountPath: /var/run/secrets/kubernetes.io/serviceaccount
          readOnly: true
        {{- end }}
        {{- if and .Values.handoff.storeUrlSecret .Values.handoff.storeCaSecret }}
        - name: redis-ca
          mountPath: /etc/baton/redis-ca
          readOnly: true
        {{- end }}
{{- end -}}

{{/* The relay's own selector: distinct from the gateway's, so neither Service selects the other's pods. */}}
{{- define "ws-gateway.relaySelectorLabels" -}}
app.kubernetes.io/name: {{ include "ws-gateway.name" . }}-relay
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ws-gateway.relayLabels" -}}
{{ include "ws-gateway.relaySelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: websocket-relay
app.kubernetes.io/part-of: baton
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}
