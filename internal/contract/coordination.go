package contract

// The crac-build Java agent in a warm image (see package agent).
const (
	// AgentPath is the agent jar in the runtime layer. Its file name is
	// fixed: the jar's manifest puts itself on the boot class path by name.
	AgentPath = Prefix + "/agent/crac-agent.jar"
	// AgentDir is where agents in build mode listen and leave their
	// checkpoint requests: a tmpfs in every container (/dev/shm), so
	// nothing of it lands in the image's diff.
	AgentDir = "/dev/shm/crac-build-agent"
)

// What the launcher does when a Resource's afterRestore fails.
const (
	// OnRestoreErrorCold kills the restored JVM and starts the application
	// cold: a JVM whose resources did not come back may serve errors.
	OnRestoreErrorCold = "cold"
	// OnRestoreErrorContinue keeps the restored JVM running.
	OnRestoreErrorContinue = "continue"
)

// AgentEndpoint is the control channel of the agent in one checkpointed
// JVM: a listening socket that CRIU restores with the JVM.
type AgentEndpoint struct {
	PID int `json:"pid"`
	// Network is "unix" (Address is a socket path inside the container)
	// or "tcp" (Address is 127.0.0.1:PORT, for JDKs before 16).
	Network string `json:"network"`
	Address string `json:"address"`
}

// Coordination records the org.crac notifications around the checkpoint.
type Coordination struct {
	// Agent is the agent jar the JVM ran with; a cold start adds it the
	// same way, so that the application behaves alike warm or cold.
	Agent string `json:"agent"`
	// Endpoints are the agents that ran beforeCheckpoint; the launcher
	// asks each to run afterRestore.
	Endpoints []AgentEndpoint `json:"endpoints,omitempty"`
	// Resources is how many Resources got beforeCheckpoint.
	Resources int `json:"resources"`
	// RequestedByApp is true when the application asked for the
	// checkpoint (org.crac Core.checkpointRestore()).
	RequestedByApp bool `json:"requestedByApp,omitempty"`
	// OnRestoreError is the policy for a failed afterRestore:
	// OnRestoreErrorCold (the default) or OnRestoreErrorContinue.
	OnRestoreError string `json:"onRestoreError,omitempty"`
}
