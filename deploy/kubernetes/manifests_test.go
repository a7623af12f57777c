package kubernetes

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/shardproxy/shardproxy/deploy/kubernetes/rules"
)

// manifests are the files applied by kustomization.yaml, with their kinds.
var manifests = map[string]string{
	"configmap.yaml":      "ConfigMap",
	"deployment.yaml":     "Deployment",
	"service.yaml":        "Service",
	"pdb.yaml":            "PodDisruptionBudget",
	"servicemonitor.yaml": "ServiceMonitor",
	"prometheusrule.yaml": "PrometheusRule",
}

// decode reads file and decodes it strictly (unknown and duplicate fields
// are errors) into obj, checking apiVersion and kind.
func decode(t *testing.T, file, apiVersion, kind string, obj any) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("\n---")) {
		t.Fatalf("%s: one object per file expected", file)
	}
	var tm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(b, &tm); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if tm.APIVersion != apiVersion || tm.Kind != kind {
		t.Fatalf("%s: %s/%s, want %s/%s", file, tm.APIVersion, tm.Kind, apiVersion, kind)
	}
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		t.Fatalf("%s: strict decoding into %T: %v", file, obj, err)
	}
}

type objects struct {
	cm  corev1.ConfigMap
	dep appsv1.Deployment
	svc corev1.Service
	pdb policyv1.PodDisruptionBudget
	sm  monitoringv1.ServiceMonitor
	pr  monitoringv1.PrometheusRule
}

func load(t *testing.T) *objects {
	t.Helper()
	var o objects
	decode(t, "configmap.yaml", "v1", "ConfigMap", &o.cm)
	decode(t, "deployment.yaml", "apps/v1", "Deployment", &o.dep)
	decode(t, "service.yaml", "v1", "Service", &o.svc)
	decode(t, "pdb.yaml", "policy/v1", "PodDisruptionBudget", &o.pdb)
	decode(t, "servicemonitor.yaml", monitoringv1.SchemeGroupVersion.String(), "ServiceMonitor", &o.sm)
	decode(t, "prometheusrule.yaml", monitoringv1.SchemeGroupVersion.String(), "PrometheusRule", &o.pr)
	return &o
}

// TestStrictDecodingCatchesTypos guards the check itself: a misspelt field
// must fail.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	b, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(b, []byte("readinessProbe:"), []byte("readynessProbe:"), 1)
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(bad, &d); err == nil || !strings.Contains(err.Error(), "readynessProbe") {
		t.Errorf("strict decoding of a misspelt field: err = %v", err)
	}
}

func TestManifests(t *testing.T) {
	o := load(t)
	tmpl := o.dep.Spec.Template
	podLabels := labels.Set(tmpl.Labels)

	sel := func(what string, ls map[string]string) {
		t.Helper()
		if len(ls) == 0 || !labels.SelectorFromSet(ls).Matches(podLabels) {
			t.Errorf("%s selector %v does not match the pod labels %v", what, ls, tmpl.Labels)
		}
	}
	sel("Deployment", o.dep.Spec.Selector.MatchLabels)
	sel("Service", o.svc.Spec.Selector)
	sel("PodDisruptionBudget", o.pdb.Spec.Selector.MatchLabels)
	if !labels.SelectorFromSet(o.sm.Spec.Selector.MatchLabels).Matches(labels.Set(o.svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v does not match the Service labels %v", o.sm.Spec.Selector.MatchLabels, o.svc.Labels)
	}

	if r := o.dep.Spec.Replicas; r == nil || *r < 2 {
		t.Errorf("replicas = %v, want >= 2 (N proxies behind the Service)", r)
	}
	if o.pdb.Spec.MaxUnavailable == nil && o.pdb.Spec.MinAvailable == nil {
		t.Error("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
	aa := tmpl.Spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil || len(aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)+len(aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) == 0 {
		t.Error("no pod anti-affinity")
	}

	if len(tmpl.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(tmpl.Spec.Containers))
	}
	c := tmpl.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	probe := func(name string, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || ports[p.HTTPGet.Port.String()] == 0 {
			t.Errorf("%s probe = %+v, want GET %s on a named container port", name, p, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext = %+v, want a read-only root and no privilege escalation", sc)
	}
	if psc := tmpl.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod does not require runAsNonRoot")
	}
	// Graceful termination: the preStop pause lets the endpoints update
	// before SIGTERM, and fits in the grace period.
	grace := tmpl.Spec.TerminationGracePeriodSeconds
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil ||
		grace == nil || c.Lifecycle.PreStop.Sleep.Seconds >= *grace {
		t.Errorf("preStop %+v and terminationGracePeriodSeconds %v: want a preStop sleep shorter than the grace period", c.Lifecycle, grace)
	}
	// The metrics listener must be reachable by the kubelet's probes.
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--metrics-listen 0.0.0.0:9122") || ports["metrics"] != 9122 {
		t.Errorf("args %q, metrics port %d: want --metrics-listen 0.0.0.0:9122 on the metrics port", args, ports["metrics"])
	}

	// The ConfigMap is mounted where -c points, and holds that file.
	var mount *corev1.VolumeMount
	for i := range c.VolumeMounts {
		if strings.HasPrefix(args, "-c "+c.VolumeMounts[i].MountPath+"/") {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("no volume mounted at the directory of -c (args %q)", args)
	}
	var vol *corev1.Volume
	for i := range tmpl.Spec.Volumes {
		if tmpl.Spec.Volumes[i].Name == mount.Name {
			vol = &tmpl.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.ConfigMap == nil || vol.ConfigMap.Name != o.cm.Name {
		t.Fatalf("volume %q is not the ConfigMap %q", mount.Name, o.cm.Name)
	}
	file := strings.TrimPrefix(c.Args[slices.Index(c.Args, "-c")+1], mount.MountPath+"/")
	if _, ok := o.cm.Data[file]; !ok {
		t.Errorf("ConfigMap %s has no key %q (keys %v)", o.cm.Name, file, keysOf(o.cm.Data))
	}

	// Service ports point at named container ports; the ServiceMonitor at a
	// Service port.
	svcPorts := map[string]bool{}
	for _, p := range o.svc.Spec.Ports {
		svcPorts[p.Name] = true
		if ports[p.TargetPort.String()] == 0 {
			t.Errorf("Service port %s targets %s, not a container port", p.Name, p.TargetPort.String())
		}
	}
	for _, ep := range o.sm.Spec.Endpoints {
		if !svcPorts[ep.Port] || ep.Path != "/metrics" {
			t.Errorf("ServiceMonitor endpoint %+v: want path /metrics on a Service port", ep)
		}
	}
	// The alerts select job="shardproxy", the job label the operator gives
	// the Service's targets.
	if o.svc.Name != "shardproxy" || o.sm.Spec.JobLabel != "" {
		t.Errorf("Service %q, jobLabel %q: the alerts expect job=\"shardproxy\"", o.svc.Name, o.sm.Spec.JobLabel)
	}
	if n := len(o.pr.Spec.Groups); n == 0 || len(o.pr.Spec.Groups[0].Rules) == 0 {
		t.Error("PrometheusRule has no rules")
	}
}

// TestPrometheusRuleCurrent fails when prometheusrule.yaml is not what
// go generate makes from deploy/prometheus/alerts.yml.
func TestPrometheusRuleCurrent(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := rules.Render(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("prometheusrule.yaml is stale: run `cd deploy/kubernetes && go generate ./...`")
	}
	var pr monitoringv1.PrometheusRule
	if err := yaml.UnmarshalStrict(want, &pr); err != nil {
		t.Fatal(err)
	}
	alerts := 0
	for _, g := range pr.Spec.Groups {
		alerts += len(g.Rules)
	}
	if alerts != strings.Count(string(src), "- alert:") {
		t.Errorf("%d rules generated, alerts.yml has %d alerts", alerts, strings.Count(string(src), "- alert:"))
	}
}

// TestKustomization: kustomization.yaml applies every manifest (kustomize's
// types are not in k8s.io/api, so this is a structural check).
func TestKustomization(t *testing.T) {
	b, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatal(err)
	}
	if k.Kind != "Kustomization" || k.APIVersion != "kustomize.config.k8s.io/v1beta1" {
		t.Errorf("kustomization.yaml is %s/%s", k.APIVersion, k.Kind)
	}
	var want []string
	for f := range manifests {
		want = append(want, f)
	}
	slices.Sort(want)
	got := slices.Clone(k.Resources)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("resources = %v, want %v", got, want)
	}
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		if _, ok := manifests[f]; !ok && f != "kustomization.yaml" {
			t.Errorf("%s is neither a known manifest nor kustomization.yaml", f)
		}
	}
}

func keysOf(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
