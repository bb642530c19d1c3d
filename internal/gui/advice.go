package gui

import (
	"regexp"
	"strings"

	"tails-server/internal/apitype"
)

// banner is a message at the top of a page, with a link to the control
// that acts on it.
type banner struct {
	Text string
	Href string // "" for none
	Link string
}

// guiCommands turn the CLI commands that the daemon's warnings and hints
// name into the control of the page that does the same.
var guiCommands = []struct {
	re         *regexp.Regexp
	text       string
	href, link string
}{
	{regexp.MustCompile("add one with `?tails-server client add [^ `]+ NAME`?"),
		"add one under “People who may connect”", "#client-name", "Add a person"},
	{regexp.MustCompile("show its credential with `?tails-server client show [^ `]+ [^ `]+`?"),
		"open their credential under “People who may connect”", "#clients", "People who may connect"},
	{regexp.MustCompile("enable it first: `?tails-server enable [^ `]+`?"),
		"enable it first with its Enable button", "#status", "Status"},
	{regexp.MustCompile("add it with --replace to replace it"),
		"tick “Replace files of the same name” to replace it", "", ""},
	{regexp.MustCompile("`?tails-server list`? shows the services"),
		"the list of services shows them", "/", "All services"},
}

// cliClause is what is left of a CLI command once the known ones are
// turned into controls: dropped, with the words that lead to it.
var cliClause = regexp.MustCompile("[,;:]?[^,;:()`]*\\(?`tails-server [^`]*`\\)?[^,;:()`]*")

// forGUI rewrites a warning or hint of the daemon for a GUI user: the
// controls of the page instead of CLI commands. It returns the text, and
// the link to the control when there is one.
func forGUI(s string) banner {
	b := banner{}
	for _, c := range guiCommands {
		if c.re.MatchString(s) {
			s = c.re.ReplaceAllLiteralString(s, c.text)
			if b.Href == "" {
				b.Href, b.Link = c.href, c.link
			}
		}
	}
	s = cliClause.ReplaceAllString(s, "")
	b.Text = capital(strings.ReplaceAll(s, "`", "")) + "."
	return b
}

// hintForGUI is forGUI's text alone, for hints shown next to a field.
func hintForGUI(s string) string {
	if s == "" {
		return ""
	}
	return forGUI(s).Text
}

// isolationAdvice says how to give tor the policy's missing ports, as
// fits the daemon's network mode: the system tor's configuration is the
// user's; the daemon's own tor (testnet, public) takes the daemon's
// --isolation-port-offset and --isolation-policy.
type isolationAdvice struct {
	Text  string
	Lines []string // torrc lines to add (system mode)
}

var portDirective = map[string]string{"socks": "SocksPort", "trans": "TransPort", "dns": "DNSPort"}

func adviseIsolation(network string, p apitype.IsolationPolicy) *isolationAdvice {
	if len(p.Missing) == 0 {
		return nil
	}
	switch {
	case network == "system":
		a := &isolationAdvice{Text: "The system's tor is configured by this computer, not by Tails Server: add these lines to its configuration (torrc), in place of any for the same address, then reload tor."}
		for _, pt := range p.Ports {
			if pt.Problem != "" {
				a.Lines = append(a.Lines, strings.TrimSpace(portDirective[pt.Type]+" "+pt.Addr+" "+strings.Join(pt.Flags, " ")))
			}
		}
		return a
	case !p.InTorrc:
		return &isolationAdvice{Text: "The daemon's own tor gets the policy's ports only when the daemon starts with --isolation-port-offset N " +
			"(every port moved by N, away from ports another tor holds) or --isolation-policy FILE: restart the daemon with one of them. " +
			"Its tor's configuration is written by the daemon: do not edit it."}
	}
	return &isolationAdvice{Text: "The daemon's own tor was started with these ports but does not listen on them: another program probably holds them. " +
		"Restart the daemon with --isolation-port-offset N to move every port by N, or with --isolation-policy FILE naming other ports. " +
		"Its tor's configuration is written by the daemon: do not edit it."}
}
