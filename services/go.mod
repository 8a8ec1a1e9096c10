module github.com/loadfleet/loadfleet/services

go 1.26

require (
	github.com/loadfleet/loadfleet/executors v0.0.0
	github.com/loadfleet/loadfleet/schemas v0.0.0
)

replace (
	github.com/loadfleet/loadfleet/executors => ../executors
	github.com/loadfleet/loadfleet/schemas => ../schemas
)
