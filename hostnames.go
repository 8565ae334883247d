package main

import (
	"fmt"
	"slices"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
)

// HostNameSetting is one more name a service of the project is reached by
// (with-host-name).
type HostNameSetting struct {
	Name string
	// Service is postgres, redis, backend, frontend, a worker's or a
	// with-service's name.
	Service string
}

// WithHostName gives one of the project's services one more host name,
// as a compose file's service name or network alias does: a project whose
// compose file calls its database `db` and its backend `api` reaches them
// so, in the Stack (every member) and from the lone services that bind
// them. Its URLs of the project's Postgres and Redis by that name get the
// project's password as the module's names do.
func (m *Commandcenter) WithHostName(
	// The name, such as db: lowercase letters, digits and dashes.
	name string,
	// The service it names: postgres, redis, backend, frontend, or a
	// worker's or a with-service's name.
	service string,
) (*Commandcenter, error) {
	if err := check.ServiceName(name, "with-host-name --name"); err != nil {
		return nil, err
	}
	// Whether the service is the project's is checked with the other
	// settings (checkSettings), as with-env's --service is: a worker may
	// be added after its name.
	m.HostNames = append(m.HostNames, HostNameSetting{Name: name, Service: service})
	return m, nil
}

// checkHostNames refuses a host name of a service the project does not
// have, or one that is already another service's name.
func (m *Commandcenter) checkHostNames() error {
	names := []string{"postgres", "redis", "backend", "frontend"}
	for _, w := range m.Workers {
		names = append(names, w.Name)
	}
	for _, x := range m.Extras {
		names = append(names, x.Name)
	}
	seen := map[string]string{}
	for _, h := range m.HostNames {
		if !slices.Contains(names, h.Service) {
			return fmt.Errorf("with-host-name %s: the project has no service %q (it has %s): fix --service, or add the worker or service first", h.Name, h.Service, strings.Join(names, ", "))
		}
		if slices.Contains(append(names, "stack"), h.Name) && h.Name != h.Service {
			return fmt.Errorf("with-host-name %s: %q is the name of a service of the project already: give another name", h.Name, h.Name)
		}
		if other, ok := seen[h.Name]; ok && other != h.Service {
			return fmt.Errorf("with-host-name %s: the name is given to both %s and %s: give one of them another name", h.Name, other, h.Service)
		}
		seen[h.Name] = h.Service
	}
	return nil
}

// hostNamesOf are the extra host names of service.
func (m *Commandcenter) hostNamesOf(service string) []string {
	var names []string
	for _, h := range m.HostNames {
		if h.Service == service && h.Name != service && !slices.Contains(names, h.Name) {
			names = append(names, h.Name)
		}
	}
	return names
}

// bind binds svc to ctr by name, and by each extra host name of service.
func (m *Commandcenter) bind(ctr *dagger.Container, service, name string, svc *dagger.Service) *dagger.Container {
	ctr = ctr.WithServiceBinding(name, svc)
	for _, alias := range m.hostNamesOf(service) {
		ctr = ctr.WithServiceBinding(alias, svc)
	}
	return ctr
}
