module dagger/commandcenter/supervisor

go 1.25
