// Package kubernetes holds shardproxy's Kubernetes manifests (the YAML files
// in this directory) and their checks. It is its own module, as bench/ is,
// so that k8s.io/api and the Prometheus Operator types stay out of the
// proxy's go.mod.
//
// The tests decode every manifest strictly into its API type (an unknown or
// misspelt field is an error), check that the parts refer to each other
// (selectors, port names, the ConfigMap mount) and that prometheusrule.yaml
// is what `go generate` makes from deploy/prometheus/alerts.yml. kubectl's
// server-side dry run would need a cluster, which the tests do not have.
//
// Regenerate the PrometheusRule after editing the alerts:
//
//	cd deploy/kubernetes && go generate ./...
package kubernetes

//go:generate go run ./cmd/genrules -in ../prometheus/alerts.yml -out prometheusrule.yaml
