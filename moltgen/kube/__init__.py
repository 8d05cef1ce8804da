"""Kubernetes itself, offline: the schemas objects are validated against (upstream's from the
kubernetes-validate wheel, and the CRDs in crds/), and the API versions each release serves."""
