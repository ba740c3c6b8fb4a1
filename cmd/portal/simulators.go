package main

import (
	"portal/internal/config"
	"portal/services/sandbox"
)

// builtinSimulators returns the upstream simulators mounted in sandbox mode
// for providers that have no configured credentials. Each provider's
// integration adds its simulator here.
func builtinSimulators(cfg *config.Config) []sandbox.Simulator {
	_ = cfg
	return nil
}
