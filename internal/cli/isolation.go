package cli

// runIsolation dispatches `tails-server isolation ...`.
func runIsolation(e *env, args []string) error {
	return usageErr("isolation: not implemented yet")
}
