package render_test

import (
	"fmt"

	"tails-server/internal/render"
)

func ExampleTemplate_Render() {
	tmpl, err := render.Parse("mumble-server.ini", render.INI,
		"welcometext={{quote .welcome}}\nport={{int .port}}\nserverpassword={{.password | quote}}\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := tmpl.Render(map[string]any{"welcome": `Hi "all"; # welcome`, "port": 64738, "password": `s3cr\t`})
	fmt.Printf("%s%v\n", out, err)

	_, err = tmpl.Render(map[string]any{"welcome": "hi\nserverpassword=", "port": 64738, "password": "x"})
	fmt.Println(err)

	_, err = render.Parse("mumble-server.ini", render.INI, "serverpassword={{.password}}")
	fmt.Println(err)
	// Output:
	// welcometext="Hi \"all\"; # welcome"
	// port=64738
	// serverpassword="s3cr\\t"
	// <nil>
	// mumble-server.ini:1: value of .welcome contains a line break (CR or LF), which ini strings cannot hold
	// mumble-server.ini:1: action {{.password}} prints a value without an escaper (end it with quote, int, bool, word)
}
