package cli

import (
	"flag"
	"fmt"
)

// balanceVerbs are the sub-verbs of `balance` (the command table's line
// points here).
func balanceVerbs() []subcommand {
	return []subcommand{
		{name: "create", args: "NAME [--onion-key FILE]", summary: "make an Onionbalance master (front) address; its key is stored like a service's onion key", doc: "make an Onionbalance master: a new onion key, or `--onion-key` (Tor's `hs_ed25519_secret_key` file or `ED25519-V3:<base64>`), stored in the state dir (0600); prints its `address`, which each instance's `balance-master` option names. Needs Debian's `onionbalance` (0.2.2 or newer); see `docs/balance.md`"},
		{name: "add", args: "NAME INSTANCE.onion", summary: "add an instance (a public service whose balance-master is this master) and restart onionbalance", doc: "add an instance: the address of a service (client-auth off) whose `balance-master` is the master's address, on this or another host; onionbalance (re)starts with it (it fetches the instances at once and publishes the master 45 s later). Refused: an address that is not a v3 onion, one already added, more than 8"},
		{name: "remove", args: "NAME INSTANCE.onion", summary: "take an instance out; onionbalance restarts without it", doc: "take an instance out; onionbalance restarts without it (stops with none left)"},
		{name: "status", args: "NAME", summary: "the master and each instance: descriptor last fetched, intro points, up or missing; the master's last publication", doc: "what onionbalance's status socket says: for each instance its descriptor's last fetch, its introduction points and when they changed, whether it answered a rendezvous through the front tor just now (`reachable`), and its `state` (`up`, or `missing`: no descriptor, one too old, or no answer); for the master the last publication attempts of its two descriptors; onionbalance's process"},
		{name: "list", summary: "list the masters", doc: "the masters: name, address, instances, whether onionbalance runs"},
		{name: "delete", args: "NAME", summary: "stop the master's onionbalance and delete it, key included", doc: "stop its onionbalance and delete the master, its key included (its address is gone for good unless you kept the key)"},
	}
}

func runBalance(e *env, args []string) error {
	fs := flag.NewFlagSet("balance", flag.ContinueOnError)
	keyFile := fs.String("onion-key", "", "create: reuse this master key (Tor's hs_ed25519_secret_key or ED25519-V3:<base64>)")
	pos, err := parse(fs, e, args)
	if err != nil {
		return err
	}
	cmd, _ := lookup("balance")
	if len(pos) == 0 {
		return usageErr("balance takes %s", cmd.subList())
	}
	if *keyFile != "" && pos[0] != "create" {
		return usageErr("--onion-key is for balance create only")
	}
	c := e.client()
	switch verb, rest := pos[0], pos[1:]; verb {
	case "create":
		if err := wantArgs("balance create", rest, 1, "a name for the master"); err != nil {
			return err
		}
		var key []byte
		if *keyFile != "" {
			if key, err = readOnionKey(*keyFile); err != nil {
				return err
			}
		}
		b, err := c.BalanceCreate(e.ctx, rest[0], key)
		if err != nil {
			return err
		}
		return e.print(b)
	case "add", "remove":
		if err := wantArgs("balance "+verb, rest, 2, "the master's name and an instance's onion address"); err != nil {
			return err
		}
		f := c.BalanceAdd
		if verb == "remove" {
			f = c.BalanceRemove
		}
		b, err := f(e.ctx, rest[0], rest[1])
		if err != nil {
			return err
		}
		return e.print(b)
	case "status":
		if err := wantArgs("balance status", rest, 1, "the master's name"); err != nil {
			return err
		}
		st, err := c.BalanceStatus(e.ctx, rest[0])
		if err != nil {
			return err
		}
		return e.print(st)
	case "list":
		if err := wantArgs("balance list", rest, 0, "nothing"); err != nil {
			return err
		}
		l, err := c.BalanceList(e.ctx)
		if err != nil {
			return err
		}
		return e.print(l)
	case "delete":
		if err := wantArgs("balance delete", rest, 1, "the master's name"); err != nil {
			return err
		}
		if err := c.BalanceDelete(e.ctx, rest[0]); err != nil {
			return err
		}
		_, err := fmt.Fprintf(e.stdout, "deleted: %s\n", rest[0])
		return err
	default:
		return unknownVerb(cmd, verb)
	}
}
