package onionkey_test

import (
	"fmt"
	"os"

	"tails-server/internal/onionkey"
)

// A key file written by tor itself, and the address tor derived from it.
func ExampleParseSecretKeyFile() {
	b, err := os.ReadFile("testdata/hs_ed25519_secret_key")
	if err != nil {
		panic(err)
	}
	k, err := onionkey.ParseSecretKeyFile(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(k.Address() + ".onion")
	fmt.Println(k) // never the secret
	// Output:
	// pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd.onion
	// ServiceKey(pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqd)
}

func ExampleValidAddress() {
	fmt.Println(onionkey.ValidAddress("PBWXWFFKGX7C57EANB7XBUEK3TUUXKUJAQTJJOXEMT2CSZUVEQHQ7CQD.onion"))
	fmt.Println(onionkey.ValidAddress("pbwxwffkgx7c57eanb7xbuek3tuuxkujaqtjjoxemt2cszuveqhq7cqe"))
	// Output:
	// true
	// false
}
