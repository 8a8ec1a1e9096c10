// Package deploy holds no code: its tests check the deployment artefacts
// beside it (Kubernetes manifests, the compose stack, the CI plugin) the way
// their real consumers read them.
package deploy
