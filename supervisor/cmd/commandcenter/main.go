// Command commandcenter is the supervisor's program (package supervisor)
// built for a developer's machine: the host command, or the watcher
// (commandcenter-watch), as the module's cli function builds it.
package main

import "dagger/commandcenter/supervisor"

func main() { supervisor.Main() }
