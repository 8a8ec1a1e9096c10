package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

const kubernetesDir = "kubernetes"

// manifests are the decoded objects of deploy/kubernetes, by kind.
type manifests struct {
	namespace       string // kustomization.yaml's
	namespaces      []*corev1.Namespace
	deployments     []*appsv1.Deployment
	services        []*corev1.Service
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	serviceAccounts map[string]*corev1.ServiceAccount
	roles           map[string]*rbacv1.Role
	roleBindings    []*rbacv1.RoleBinding
	// namespaced are the metadata of every namespaced object.
	namespaced []metav1.Object
}

// loadManifests decodes every document of the files kustomization.yaml
// lists, strictly (an unknown or misspelt field fails), with client-go's
// scheme: what `kubectl apply -k` would send, typed.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	var kustomization struct {
		Namespace string   `yaml:"namespace"`
		Resources []string `yaml:"resources"`
	}
	data, err := os.ReadFile(filepath.Join(kubernetesDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &kustomization); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(kubernetesDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(kustomization.Resources, base) {
			t.Errorf("%s is not in kustomization.yaml's resources: kubectl apply -k would leave it out", base)
		}
	}

	m := &manifests{namespace: kustomization.Namespace, configMaps: map[string]*corev1.ConfigMap{},
		secrets: map[string]*corev1.Secret{}, serviceAccounts: map[string]*corev1.ServiceAccount{}, roles: map[string]*rbacv1.Role{}}
	decoder := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	for _, file := range kustomization.Resources {
		for i, doc := range yamlDocuments(t, filepath.Join(kubernetesDir, file)) {
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Errorf("%s, document %d: %v", file, i+1, err)
				continue
			}
			if meta, ok := obj.(metav1.Object); ok && gvk.Kind != "Namespace" {
				m.namespaced = append(m.namespaced, meta)
			}
			switch o := obj.(type) {
			case *corev1.Namespace:
				m.namespaces = append(m.namespaces, o)
			case *appsv1.Deployment:
				m.deployments = append(m.deployments, o)
			case *corev1.Service:
				m.services = append(m.services, o)
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			case *corev1.Secret:
				m.secrets[o.Name] = o
			case *corev1.ServiceAccount:
				m.serviceAccounts[o.Name] = o
			case *rbacv1.Role:
				m.roles[o.Name] = o
			case *rbacv1.RoleBinding:
				m.roleBindings = append(m.roleBindings, o)
			default:
				t.Errorf("%s, document %d: a %s, which no test checks", file, i+1, gvk)
			}
		}
	}
	return m
}

// yamlDocuments splits a multi-document YAML file, dropping documents that
// hold only comments.
func yamlDocuments(t *testing.T, file string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, line := range strings.Split(string(doc), "\n") {
			if l := strings.TrimSpace(line); l != "" && l != "---" && !strings.HasPrefix(l, "#") {
				docs = append(docs, doc)
				break
			}
		}
	}
}

// deploymentOf is the Deployment running `loadfleet server --target=T`.
func (m *manifests) deploymentOf(target string) (*appsv1.Deployment, *corev1.Container) {
	for _, d := range m.deployments {
		for i, c := range d.Spec.Template.Spec.Containers {
			if len(c.Args) > 0 && c.Args[0] == "server" && flagValue(c.Args, "--target") == target {
				return d, &d.Spec.Template.Spec.Containers[i]
			}
		}
	}
	return nil, nil
}

// servicesSelecting are the Services whose selector picks d's pods.
func (m *manifests) servicesSelecting(d *appsv1.Deployment) []*corev1.Service {
	var out []*corev1.Service
	for _, s := range m.services {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, s)
		}
	}
	return out
}

// containerPort resolves a named or numbered port of c.
func containerPort(c *corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// Every file decodes to typed objects, all in the kustomization's namespace.
func TestKubernetesNamespace(t *testing.T) {
	m := loadManifests(t)
	if len(m.namespaces) != 1 || m.namespaces[0].Name != m.namespace || m.namespace == "" {
		t.Fatalf("kustomization namespace %q; want it set and created by exactly one Namespace", m.namespace)
	}
	for _, o := range m.namespaced {
		if o.GetNamespace() != m.namespace {
			t.Errorf("%s is in namespace %q, not %q", o.GetName(), o.GetNamespace(), m.namespace)
		}
	}
}

// Each target has a Deployment from the one image, a Service in front of
// its pods only, probes the server answers, bounded resources and no root.
func TestKubernetesTargets(t *testing.T) {
	m := loadManifests(t)
	imageUID, _, _ := strings.Cut(imageUser(t), ":")
	var image string
	for _, target := range serverTargets() {
		t.Run(target, func(t *testing.T) {
			d, c := m.deploymentOf(target)
			if d == nil {
				t.Fatalf("no Deployment runs `loadfleet server --target=%s`", target)
			}
			if image == "" {
				image = c.Image
			}
			if c.Image != image {
				t.Errorf("image %s, other targets %s: one image for every target", c.Image, image)
			}
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("Deployment %s: selector %v does not select its own pod template (%v)", d.Name, d.Spec.Selector, d.Spec.Template.Labels)
			}
			checkService(t, m, d, c)
			checkProbes(t, c)
			for _, res := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				if res.Cpu().IsZero() || res.Memory().IsZero() {
					t.Errorf("container %s: requests %v, limits %v; want CPU and memory in both", c.Name, c.Resources.Requests, c.Resources.Limits)
				}
			}
			checkNonRoot(t, d.Spec.Template.Spec.SecurityContext, c, imageUID)
		})
	}
}

func checkService(t *testing.T, m *manifests, d *appsv1.Deployment, c *corev1.Container) {
	t.Helper()
	services := m.servicesSelecting(d)
	if len(services) != 1 {
		t.Fatalf("%d Services select %s's pods; want one", len(services), d.Name)
	}
	for _, other := range m.deployments {
		if other != d && slices.Contains(m.servicesSelecting(other), services[0]) {
			t.Errorf("Service %s selects %s's pods as well as %s's", services[0].Name, other.Name, d.Name)
		}
	}
	_, listen, _ := strings.Cut(flagValue(c.Args, "--listen"), ":")
	for _, p := range services[0].Spec.Ports {
		port, ok := containerPort(c, p.TargetPort)
		if !ok || strconv.Itoa(int(port)) != listen {
			t.Errorf("Service %s port %d goes to %v, not the server's --listen port %s", services[0].Name, p.Port, p.TargetPort.String(), listen)
		}
	}
}

func checkProbes(t *testing.T, c *corev1.Container) {
	t.Helper()
	for _, probe := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"readiness", c.ReadinessProbe, "/readyz"}, // 503 until the target serves
		{"liveness", c.LivenessProbe, "/healthz"},  // 200 while the process serves
	} {
		if probe.probe == nil || probe.probe.HTTPGet == nil || probe.probe.HTTPGet.Path != probe.path {
			t.Errorf("container %s: %s probe %+v; want GET %s", c.Name, probe.name, probe.probe, probe.path)
			continue
		}
		if _, ok := containerPort(c, probe.probe.HTTPGet.Port); !ok {
			t.Errorf("container %s: %s probe port %s is no container port", c.Name, probe.name, probe.probe.HTTPGet.Port.String())
		}
	}
}

func checkNonRoot(t *testing.T, pod *corev1.PodSecurityContext, c *corev1.Container, imageUID string) {
	t.Helper()
	sc := c.SecurityContext
	nonRoot := (sc != nil && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (pod != nil && pod.RunAsNonRoot != nil && *pod.RunAsNonRoot)
	if !nonRoot {
		t.Errorf("container %s: runAsNonRoot is not set", c.Name)
	}
	if pod != nil && pod.RunAsUser != nil && strconv.FormatInt(*pod.RunAsUser, 10) != imageUID {
		t.Errorf("runAsUser %d, the image's USER is %s: the image's directories belong to that user", *pod.RunAsUser, imageUID)
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container %s: want allowPrivilegeEscalation false and every capability dropped", c.Name)
	}
}

// Every name a pod refers to is an object of the manifests.
func TestKubernetesReferences(t *testing.T) {
	m := loadManifests(t)
	for _, d := range m.deployments {
		pod := d.Spec.Template.Spec
		if _, ok := m.serviceAccounts[pod.ServiceAccountName]; !ok {
			t.Errorf("%s: service account %q is not in the manifests", d.Name, pod.ServiceAccountName)
		}
		for _, v := range pod.Volumes {
			switch {
			case v.ConfigMap != nil:
				checkKeys(t, d.Name, "ConfigMap", v.ConfigMap.Name, m.configMapKeys(v.ConfigMap.Name), v.ConfigMap.Items)
			case v.Secret != nil:
				checkKeys(t, d.Name, "Secret", v.Secret.SecretName, m.secretKeys(v.Secret.SecretName), v.Secret.Items)
			}
		}
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			for _, from := range c.EnvFrom {
				if from.ConfigMapRef != nil && m.configMapKeys(from.ConfigMapRef.Name) == nil {
					t.Errorf("%s: envFrom ConfigMap %q is not in the manifests", d.Name, from.ConfigMapRef.Name)
				}
				if from.SecretRef != nil && m.secretKeys(from.SecretRef.Name) == nil {
					t.Errorf("%s: envFrom Secret %q is not in the manifests", d.Name, from.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil && !slices.Contains(m.secretKeys(r.Name), r.Key) {
					t.Errorf("%s: env %s reads Secret %s key %s, which is not in the manifests", d.Name, e.Name, r.Name, r.Key)
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !slices.Contains(m.configMapKeys(r.Name), r.Key) {
					t.Errorf("%s: env %s reads ConfigMap %s key %s, which is not in the manifests", d.Name, e.Name, r.Name, r.Key)
				}
			}
			names := map[string]bool{}
			for _, v := range pod.Volumes {
				names[v.Name] = true
			}
			for _, vm := range c.VolumeMounts {
				if !names[vm.Name] {
					t.Errorf("%s: container %s mounts volume %q, which the pod does not have", d.Name, c.Name, vm.Name)
				}
			}
		}
	}
}

func checkKeys(t *testing.T, deployment, kind, name string, keys []string, items []corev1.KeyToPath) {
	t.Helper()
	if keys == nil {
		t.Errorf("%s: volume of %s %q, which is not in the manifests", deployment, kind, name)
	}
	for _, it := range items {
		if !slices.Contains(keys, it.Key) {
			t.Errorf("%s: volume of %s %s projects key %s, which it does not have", deployment, kind, name, it.Key)
		}
	}
}

// configMapKeys are a ConfigMap's keys; nil when there is no such object.
func (m *manifests) configMapKeys(name string) []string {
	cm, ok := m.configMaps[name]
	if !ok {
		return nil
	}
	keys := []string{}
	for k := range cm.Data {
		keys = append(keys, k)
	}
	return keys
}

func (m *manifests) secretKeys(name string) []string {
	s, ok := m.secrets[name]
	if !ok {
		return nil
	}
	keys := []string{}
	for k := range s.StringData {
		keys = append(keys, k)
	}
	for k := range s.Data {
		keys = append(keys, k)
	}
	return keys
}

// The job target's service account, and only it, may manage executor Jobs
// and read their pods and logs in the namespace.
func TestKubernetesRBAC(t *testing.T) {
	m := loadManifests(t)
	job, _ := m.deploymentOf("job")
	if job == nil {
		t.Fatal("no job Deployment")
	}
	account := job.Spec.Template.Spec.ServiceAccountName
	if job.Spec.Template.Spec.AutomountServiceAccountToken != nil && !*job.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("the job Deployment does not mount its service account token: it could not reach the API")
	}
	var granted []rbacv1.PolicyRule
	for _, b := range m.roleBindings {
		role, ok := m.roles[b.RoleRef.Name]
		if b.RoleRef.Kind != "Role" || !ok {
			t.Errorf("RoleBinding %s binds %s %q, which is not in the manifests", b.Name, b.RoleRef.Kind, b.RoleRef.Name)
			continue
		}
		for _, s := range b.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == account && s.Namespace == job.Namespace {
				granted = append(granted, role.Rules...)
			}
		}
	}
	for _, need := range []struct{ group, resource, verb string }{
		{"batch", "jobs", "create"}, {"batch", "jobs", "delete"}, {"batch", "jobs", "watch"},
		{"", "pods", "list"}, {"", "pods", "watch"}, {"", "pods/log", "get"},
	} {
		if !slices.ContainsFunc(granted, func(r rbacv1.PolicyRule) bool {
			return slices.Contains(r.APIGroups, need.group) && slices.Contains(r.Resources, need.resource) && slices.Contains(r.Verbs, need.verb)
		}) {
			t.Errorf("service account %s may not %s %s (group %q)", account, need.verb, need.resource, need.group)
		}
	}
	for _, d := range m.deployments {
		if d != job && d.Spec.Template.Spec.ServiceAccountName == account {
			t.Errorf("%s runs as %s too: only the job target needs the executor rights", d.Name, account)
		}
	}
}

// The ConfigMap's configuration is what the server accepts, with the
// environment the Secrets give each pod; it names the manifests' Services;
// and the Secrets hold only marked placeholders.
func TestKubernetesConfig(t *testing.T) {
	m := loadManifests(t)
	for _, s := range m.secrets {
		if len(s.Data) > 0 {
			t.Errorf("Secret %s has data: write placeholders in stringData", s.Name)
		}
		for k, v := range s.StringData {
			if !strings.Contains(v, "REPLACE-ME") {
				t.Errorf("Secret %s key %s is %q: a committed value must be a marked placeholder (REPLACE-ME)", s.Name, k, v)
			}
		}
	}
	_, final := dockerfileStages(t)
	for _, target := range serverTargets() {
		t.Run(target, func(t *testing.T) {
			d, c := m.deploymentOf(target)
			if d == nil {
				t.Fatalf("no Deployment runs the %s target", target)
			}
			cfg := loadConfig(t, m.configFile(t, d, c), m.environment(c))
			writable := []string{cfg.DataDir, "/tmp", imageEnv(final, "XDG_CACHE_HOME")}
			if sc := c.SecurityContext; sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
				for _, dir := range writable {
					if !slices.ContainsFunc(c.VolumeMounts, func(vm corev1.VolumeMount) bool { return vm.MountPath == dir && !vm.ReadOnly }) {
						t.Errorf("the root filesystem is read-only and %s (written at run time) is no writable volume", dir)
					}
				}
			}
			for other, addr := range targetAddresses(cfg) {
				m.checkAddress(t, other, addr)
			}
		})
	}
}

// configFile writes the ConfigMap key --config reads to a file.
func (m *manifests) configFile(t *testing.T, d *appsv1.Deployment, c *corev1.Container) string {
	t.Helper()
	configPath := flagValue(c.Args, "--config")
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path.Dir(configPath) {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			data, ok := m.configMaps[v.ConfigMap.Name].Data[path.Base(configPath)]
			if !ok {
				t.Fatalf("ConfigMap %s has no key %s (--config %s)", v.ConfigMap.Name, path.Base(configPath), configPath)
			}
			file := filepath.Join(t.TempDir(), path.Base(configPath))
			if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			return file
		}
	}
	t.Fatalf("--config %s is not in a mounted ConfigMap", configPath)
	return ""
}

// environment is what the container's env and envFrom Secrets and
// ConfigMaps give the process.
func (m *manifests) environment(c *corev1.Container) map[string]string {
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.SecretRef != nil {
			if s, ok := m.secrets[from.SecretRef.Name]; ok {
				for k, v := range s.StringData {
					env[from.Prefix+k] = v
				}
			}
		}
		if from.ConfigMapRef != nil {
			if cm, ok := m.configMaps[from.ConfigMapRef.Name]; ok {
				for k, v := range cm.Data {
					env[from.Prefix+k] = v
				}
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			if s, ok := m.secrets[e.ValueFrom.SecretKeyRef.Name]; ok {
				env[e.Name] = s.StringData[e.ValueFrom.SecretKeyRef.Key]
			}
		}
	}
	return env
}

// checkAddress checks that a configured target address is a Service of the
// manifests, on its port, in front of that target's pods.
func (m *manifests) checkAddress(t *testing.T, target, addr string) {
	t.Helper()
	if addr == "" {
		t.Errorf("services.%s is empty: every target runs in its own Deployment", target)
		return
	}
	host, port := hostPort(t, addr)
	d, _ := m.deploymentOf(target)
	for _, s := range m.services {
		if s.Name != host {
			continue
		}
		if d == nil || !slices.Contains(m.servicesSelecting(d), s) {
			t.Errorf("services.%s is %s, but Service %s does not select the %s pods", target, addr, host, target)
		}
		if !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == port }) {
			t.Errorf("services.%s is %s, but Service %s has no port %s", target, addr, host, port)
		}
		return
	}
	t.Errorf("services.%s is %s: no Service %s in the manifests", target, addr, host)
}

// imageEnv is the value an ENV of a Dockerfile stage gives name.
func imageEnv(s stage, name string) string {
	value := ""
	for _, in := range s.all("ENV") {
		for _, kv := range strings.Fields(in.args) {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				value = v
			}
		}
	}
	return value
}
