// Package ci holds loadfleet's CI integrations and their tests: the GitHub
// Action (action.yml at the repository root), the GitLab CI template
// (gitlab/loadfleet.gitlab-ci.yml) and the script both run
// (loadfleet-ci.sh). Neither GitHub nor GitLab runs here, so the tests play
// the runner: they read the YAML and run its shell steps with bash the way
// the runner would, against a real `loadfleet server` with API tokens and a
// loopback target.
package ci
