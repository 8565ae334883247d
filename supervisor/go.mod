module dagger/commandcenter/forward

go 1.25
