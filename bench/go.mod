module github.com/executor-go/executor/bench

go 1.26.0

replace github.com/executor-go/executor => ../

require (
	github.com/executor-go/executor v0.0.0-00010101000000-000000000000
	github.com/panjf2000/ants/v2 v2.12.1
	golang.org/x/sync v0.25.0
)

require golang.org/x/sys v0.50.0 // indirect
