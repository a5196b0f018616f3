package app

import (
	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/agentcmd"
)

// newAgentCmd is palisade agent: the node agent's command, which the small
// palisade-agent binary runs alone.
func newAgentCmd(e *env) *cobra.Command {
	return agentcmd.New(agentcmd.Env{Stderr: e.stderr, Log: e.log, Getenv: e.getenv, Version: Version})
}
