//go:build composeloader

package compose

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// watch maps a service's develop.watch to the module's live reload
// (commandcenter-watch): the watcher sends every save under the service's
// folder, the backend and workers restart, the frontend's dev server
// reloads, a changed manifest installs the dependencies again in the
// running container. So sync, sync+restart, restart and rebuild of paths
// in the folder are what it does already; ignore patterns become
// --watch-ignore; what it cannot do is named.
func (p *Plan) watch(s types.ServiceConfig, kind string) {
	if s.Develop == nil || len(s.Develop.Watch) == 0 {
		return
	}
	note := func(key, why string) {
		p.Notes = append(p.Notes, fmt.Sprintf("service %s: %s: not honoured: %s", s.Name, strings.TrimSpace("develop.watch "+key), why))
	}
	var app *App
	switch kind {
	case "backend", "worker":
		app = p.Backend
	case "frontend":
		app = p.Frontend
	}
	if app == nil || app.FromDockerfile {
		note("", "a service run from an image or built from its Dockerfile takes no files; restart up after a change (the module's own backend and frontend reload live)")
		return
	}
	var honoured []string
	for _, t := range s.Develop.Watch {
		rel, ok := inFolder(cleanDir(t.Path), app.Dir)
		if !ok {
			note(fmt.Sprintf("%s %s", t.Action, t.Path), fmt.Sprintf("the watcher sends the files of the service's folder (%s) only", app.Dir))
			continue
		}
		switch t.Action {
		case types.WatchActionSyncExec:
			note(fmt.Sprintf("sync+exec %s", t.Path), "the exec command is not run: the watcher sends the files and restarts the service")
		case types.WatchActionRebuild:
			honoured = append(honoured, fmt.Sprintf("rebuild %s (a changed manifest installs the dependencies again in the running container; other files are sent)", t.Path))
		default:
			honoured = append(honoured, fmt.Sprintf("%s %s", t.Action, t.Path))
		}
		if len(t.Include) > 0 {
			note(fmt.Sprintf("include of %s", t.Path), "the watcher sends every file of the folder but those ignored")
		}
		// compose's ignore patterns are relative to the watched path; the
		// module's to the service's folder.
		for _, pattern := range t.Ignore {
			if rel != "." {
				pattern = path.Join(rel, pattern)
			}
			if !slices.Contains(app.WatchIgnore, pattern) {
				app.WatchIgnore = append(app.WatchIgnore, pattern)
			}
		}
	}
	if len(honoured) > 0 {
		p.Info = append(p.Info, fmt.Sprintf("service %s: develop.watch: %s: live reload does it when the stack runs under commandcenter-watch (see Live reload)", s.Name, strings.Join(honoured, ", ")))
	}
}

// inFolder is p relative to dir, when p is dir or inside it.
func inFolder(p, dir string) (string, bool) {
	if p == dir {
		return ".", true
	}
	if dir == "." {
		return p, !strings.HasPrefix(p, "../")
	}
	rel, ok := strings.CutPrefix(p, dir+"/")
	return rel, ok
}
