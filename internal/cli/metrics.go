package cli

import "flag"

func runMetrics(e *env, args []string) error {
	fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
	withAddr := fs.Bool("with-addresses", false, "label tor's series with the onion address too")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	if err := wantArgs("metrics", pos, 0, "no arguments"); err != nil {
		return err
	}
	b, err := e.client().Metrics(e.ctx, *withAddr)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}
