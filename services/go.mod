module github.com/loadfleet/loadfleet/services

go 1.26.0

require (
	github.com/loadfleet/loadfleet/executors v0.0.0
	github.com/loadfleet/loadfleet/schemas v0.0.0
)

require (
	github.com/HdrHistogram/hdrhistogram-go v1.4.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace (
	github.com/loadfleet/loadfleet/executors => ../executors
	github.com/loadfleet/loadfleet/schemas => ../schemas
)
