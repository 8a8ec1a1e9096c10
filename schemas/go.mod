module github.com/loadfleet/loadfleet/schemas

go 1.26
