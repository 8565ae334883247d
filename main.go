// A project's dev stack, run by the Dagger engine: Postgres, Redis, a Python
// backend built from backend/requirements.txt and a Node frontend built from
// frontend/package.json, each as a service, or all four behind one service
// whose ports `up --ports` forwards to the host.
//
//	dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
//
// Data lives in cache volumes named for the project, so it survives the end of
// `up` and two projects never share it. Passwords are secrets: pass your own,
// or let the module generate one per project and keep it with the project's
// data (`dagger call urls` tells them).
package main

import (
	"dagger/commandcenter/internal/spec"

	"fmt"
)

// Commandcenter runs a project's dev stack on the Dagger engine.
type Commandcenter struct {
	// Name of the project; cache volumes that hold its data are named after it.
	Project string
}

// New configures the module for one project.
func New(
	// Name of the project: lowercase letters, digits and dashes. Cache volumes
	// holding its data (database, Redis, generated passwords) are named after
	// it, so two projects with different names never share data.
	// +optional
	// +default="commandcenter"
	project string,
) (*Commandcenter, error) {
	if err := spec.ProjectName(project); err != nil {
		return nil, err
	}
	return &Commandcenter{Project: project}, nil
}

// volume names a cache volume that holds one kind of this project's data.
func (m *Commandcenter) volume(kind string) string {
	return fmt.Sprintf("commandcenter-%s-%s", m.Project, kind)
}
