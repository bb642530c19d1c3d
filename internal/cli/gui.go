package cli

// runGUI prints (and opens) a one-time login URL for the GUI.
func runGUI(e *env, args []string) error {
	return usageErr("gui: not implemented yet")
}
