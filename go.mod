module github.com/kauth/kauth

go 1.26.8
