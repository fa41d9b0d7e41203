package probe

import "github.com/pullguard/pullguard/pkg/registryauth"

// SlotRegistries returns how many registries hold slots now.
func (p *Prober) SlotRegistries() int { return p.slots.registries() }

func key(name string) registryauth.ProbeKey { return registryauth.ProbeKey{Name: name} }
