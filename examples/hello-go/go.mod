module github.com/you/hello-go

go 1.14
