module github.com/executor-go/executor/cortexm

go 1.22
