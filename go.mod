module github.com/dvs-project/dvs

go 1.26.8
