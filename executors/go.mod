module github.com/loadfleet/loadfleet/executors

go 1.26

require github.com/loadfleet/loadfleet/schemas v0.0.0

replace github.com/loadfleet/loadfleet/schemas => ../schemas
