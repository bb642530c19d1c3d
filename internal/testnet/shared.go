package testnet

import (
	"context"
	"fmt"
	"os"
)

// EnvDirVar names the environment variable with which Shared reuses a
// running network (started with `tails-server testnet up --dir DIR`)
// instead of starting one.
const EnvDirVar = "TAILS_TESTNET_DIR"

// Shared gives tests a network, for a TestMain: if $TAILS_TESTNET_DIR is
// set it loads the network running there and the cleanup does nothing;
// otherwise it starts one in a new temporary directory (Up with default
// options, bounded by ctx) and the cleanup stops it and removes the
// directory.
func Shared(ctx context.Context) (*Env, func(), error) {
	if dir := os.Getenv(EnvDirVar); dir != "" {
		env, err := Load(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("testnet: $%s: %w", EnvDirVar, err)
		}
		return env, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "tails-testnet-")
	if err != nil {
		return nil, nil, fmt.Errorf("testnet: %w", err)
	}
	env, err := Up(ctx, Options{Dir: dir})
	if err != nil {
		Down(dir)
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return env, func() {
		Down(dir)
		os.RemoveAll(dir)
	}, nil
}
