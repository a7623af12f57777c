// Package deploy holds no code: its tests check the deployment artefacts in
// this directory. systemd/shardproxy.service with systemd-analyze verify and
// its offline security score; container/Containerfile statically and, with
// podman, by building the image (and running it where podman can run
// containers); the configuration in kubernetes/configmap.yaml with the
// proxy's own -t. The Kubernetes manifests themselves are checked in their
// own module, deploy/kubernetes; the Prometheus rules and the Grafana
// dashboard by metrics/deploy_test.go.
package deploy
