package render

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"tails-server/internal/testenv"
)

// hostile returns values that try to break out of a string in some format;
// those that would run a command touch mark.
func hostile(mark string) []string {
	return []string{
		"new\nline", "cr\rret", "crlf\r\nkey = evil", "\n[evil]\nkey = 1\n", "\nevil: 1\n",
		`dq"x`, `"; evil = "1`, "sq'x", `'; touch ` + mark + `; '`, `back\slash`, `trail\`, `\"`, `\\`,
		"{{.password}}", "}}", "{{", "$(touch " + mark + ")", "`touch " + mark + "`", "${HOME}",
		"a;b", "a#b", "# comment", "; comment", "-- comment", "]]", "[[", `]]..os.execute("touch ` + mark + `")..[[`,
		`"..os.execute("touch ` + mark + `").."`, `\"..os.execute("touch ` + mark + `")--`,
		"</x><y>", "a&b", "&amp;", "&#10;", "<![CDATA[x]]>", "--><!--",
		"nul\x00x", "\x00", "\t tab ", " lead and trail ", "", "ünïcødé ☃ 🎉", "\x01ctl", "del\x7f",
		"nel\u0085x", "ls\u2028ps\u2029", "bom\ufeff", "key: value", "- item", "&anchor *alias !!tag",
		"true", "null", "0x1F", "1e3", "~", "%x", "a\\nb",
		"?><?php touch('" + mark + "'); ?>", "'); touch('" + mark + "'); //", `\'); touch('` + mark + `'); //`,
		"$conf['x']", "${x}", "<?= 1 ?>",
	}
}

// wantRefused says whether format f documents refusing v.
func wantRefused(f Format, v string) bool {
	if strings.IndexByte(v, 0) >= 0 {
		return true
	}
	for _, r := range v {
		switch f {
		case INI, Conf:
			if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
				return true
			}
			if f == Conf && r == '\\' {
				return true
			}
		case XML:
			// XML 1.0's Char leaves out the C0 controls but TAB, CR and
			// LF, and U+FFFE and U+FFFF.
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xfffe || r == 0xffff {
				return true
			}
		}
	}
	return false
}

// readBack is what a real (or strict test) parser read from a rendered
// file: the values under test and the names of all directives.
type readBack struct {
	name, password, admin string
	directives            []string
}

type formatCase struct {
	format Format
	file   string
	text   string
	read   func(t *testing.T, dir, path string) (readBack, error)
}

func TestFormats(t *testing.T) {
	for _, fc := range []formatCase{
		{INI, "murmur.ini", iniTemplate, readINI},
		{Conf, "lighttpd.conf", confTemplate, readConf},
		{YAML, "config.yaml", yamlTemplate, readYAML},
		{Lua, "prosody.cfg.lua", luaTemplate, readLua},
		{XML, "config.xml", xmlTemplate, readXML},
		{Shell, "env.sh", shellTemplate, readShell},
		{PHP, "local.php", phpTemplate, readPHP},
	} {
		t.Run(string(fc.format), func(t *testing.T) { testFormat(t, fc) })
	}
}

func testFormat(t *testing.T, fc formatCase) {
	tmpl, err := Parse(fc.file, fc.format, fc.text)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mark := filepath.Join(dir, "pwned")
	render := func(v string) (readBack, []byte, error) {
		t.Helper()
		out, err := tmpl.Render(map[string]any{
			"name": v, "password": v, "admins": []string{v, "second"}, "port": 64738, "tls": true,
		})
		if err != nil {
			return readBack{}, nil, err
		}
		path := filepath.Join(dir, fc.file)
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		rb, err := fc.read(t, dir, path)
		return rb, out, err
	}
	benign, _, err := render("benign value")
	if err != nil {
		t.Fatalf("benign value: %v", err)
	}
	if benign.name != "benign value" || benign.password != "benign value" || benign.admin != "benign value" {
		t.Fatalf("benign value read back as %+v", benign)
	}
	for _, v := range hostile(mark) {
		rb, out, err := render(v)
		if wantRefused(fc.format, v) {
			var re *Error
			if !errors.As(err, &re) || re.Template != fc.file || (re.Key != ".name" && re.Key != ".") {
				t.Errorf("%q: want a refusal of .name or ., got %v", v, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v\n%s", v, err, out)
			continue
		}
		if rb.name != v || rb.password != v || rb.admin != v {
			t.Errorf("%q read back as name %q, password %q, admin %q\n%s", v, rb.name, rb.password, rb.admin, out)
		}
		if !reflect.DeepEqual(rb.directives, benign.directives) {
			t.Errorf("%q: directives %q, want %q\n%s", v, rb.directives, benign.directives, out)
		}
		if _, err := os.Stat(mark); err == nil {
			t.Fatalf("%q ran a command\n%s", v, out)
		}
	}
}

// INI: a murmur.ini fragment, read by a strict parser of QSettings-style
// quoting (\\ and \" inside double quotes).

const iniTemplate = `; murmur.ini rendered by tails-server
database=/var/lib/mumble-server/mumble-server.sqlite
welcometext={{quote .name}}
port={{int .port}}
serverpassword = {{.password | quote}}
allowhtml={{bool .tls}}
{{range $i, $a := .admins}}admin{{int $i}}={{quote $a}}
{{end}}
# comment
[Ice]
Ice.Warn.UnknownProperties=1
`

var lineBreak = regexp.MustCompile("\r\n|\r|\n")

func readINI(t *testing.T, dir, path string) (readBack, error) {
	return readKeyValue(path, "=", iniString)
}

func iniString(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
			if i == len(s) || (s[i] != '\\' && s[i] != '"') {
				return "", "", errors.New("bad escape")
			}
			b.WriteByte(s[i])
		case '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", errors.New("unterminated string")
}

// readKeyValue reads `key SEP value` lines (SEP "=" or "", meaning = or
// blanks), # and ; comments and [sections]; a value is a double-quoted
// string read by unquote, or a bare word without quotes.
func readKeyValue(path, sep string, unquote func(string) (string, string, error)) (readBack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return readBack{}, err
	}
	var rb readBack
	section := ""
	for n, line := range lineBreak.Split(string(data), -1) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return rb, fmt.Errorf("line %d: bad section", n+1)
			}
			section = line[1:len(line)-1] + "/"
			rb.directives = append(rb.directives, "["+section)
			continue
		}
		var key, val string
		if i := strings.IndexByte(line, '='); i >= 0 {
			key, val = strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		} else if sep == "" {
			key, val, _ = strings.Cut(line, " ")
			val = strings.TrimSpace(val)
		} else {
			return rb, fmt.Errorf("line %d: no %s", n+1, sep)
		}
		if key == "" || strings.ContainsAny(key, " \t\"") {
			return rb, fmt.Errorf("line %d: bad key", n+1)
		}
		if strings.HasPrefix(val, `"`) {
			s, rest, err := unquote(val)
			if err != nil {
				return rb, fmt.Errorf("line %d: %v", n+1, err)
			}
			if strings.TrimSpace(rest) != "" {
				return rb, fmt.Errorf("line %d: text after the string", n+1)
			}
			val = s
		} else if strings.ContainsAny(val, `"\`) {
			return rb, fmt.Errorf("line %d: quote in a bare value", n+1)
		}
		rb.directives = append(rb.directives, section+key)
		switch key {
		case "welcometext", "server.tag":
			rb.name = val
		case "serverpassword", "auth.backend.htpasswd.userfile":
			rb.password = val
		case "admin0", "server.name":
			rb.admin = val
		}
	}
	return rb, nil
}

// Conf: a lighttpd.conf fragment, read by a strict parser of lighttpd's
// quoting (only \" inside double quotes; the renderer refuses backslashes).

const confTemplate = `# lighttpd.conf rendered by tails-server
server.document-root = "/var/www/html"
server.port = {{int .port}}
server.tag = {{quote .name}}
auth.backend.htpasswd.userfile = {{.password | quote}}
ssl.engine = {{bool .tls "enable" "disable"}}
{{$a := index .admins 0}}server.name = {{quote $a}}
server.bind {{word "127.0.0.1"}}
`

func readConf(t *testing.T, dir, path string) (readBack, error) {
	return readKeyValue(path, "", confString)
}

func confString(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '"':
			b.WriteByte('"')
			i++
		case s[i] == '\\':
			return "", "", errors.New("backslash in a string")
		case s[i] == '"':
			return b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", errors.New("unterminated string")
}

// YAML: read by go.yaml.in/yaml/v3.

const yamlTemplate = `# rendered by tails-server
server:
  name: {{quote .name}}
  password: {{.password | quote}}
  port: {{int .port}}
  tls: {{bool .tls}}
  admins: [{{range $i, $a := .admins}}{{if $i}}, {{end}}{{quote $a}}{{end}}]
  block:
{{- range .admins}}
    - {{quote .}}
{{- end}}
`

func readYAML(t *testing.T, dir, path string) (readBack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return readBack{}, err
	}
	var doc map[string]map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return readBack{}, err
	}
	var rb readBack
	for top, m := range doc {
		rb.directives = append(rb.directives, top)
		for k := range m {
			rb.directives = append(rb.directives, top+"."+k)
		}
	}
	sort.Strings(rb.directives)
	s := doc["server"]
	rb.name, _ = s["name"].(string)
	rb.password, _ = s["password"].(string)
	flow, _ := s["admins"].([]any)
	block, _ := s["block"].([]any)
	if len(flow) != 2 || !reflect.DeepEqual(flow, block) || s["port"] != 64738 || s["tls"] != true {
		return rb, fmt.Errorf("admins %q, block %q, port %v, tls %v", flow, block, s["port"], s["tls"])
	}
	rb.admin, _ = flow[0].(string)
	return rb, nil
}

// Lua: a prosody.cfg.lua fragment, checked by luac5.4 -p and read by
// lua5.4 with stubs for prosody's VirtualHost and Component.

const luaTemplate = `-- prosody.cfg.lua rendered by tails-server
admins = { {{range .admins}}{{quote .}}, {{end}}}
c2s_ports = { {{int .port}} }
c2s_require_encryption = {{bool .tls}}
welcome = [[long string, not a value]]
VirtualHost {{quote .name}}
    secret = {{.password | quote}}
Component "muc.localhost" "muc"
`

const luaReader = `
local before = {}
for k in pairs(_G) do before[k] = true end
function VirtualHost(h) vhost = h end
function Component(h) return function() end end
before.VirtualHost, before.Component = true, true
dofile(arg[1])
local names = {}
for k in pairs(_G) do if not before[k] then names[#names + 1] = k end end
table.sort(names)
local function w(s) io.write(#s, ":", s) end
w(vhost) w(secret) w(admins[1]) w(tostring(#admins)) w(table.concat(names, ","))
`

func readLua(t *testing.T, dir, path string) (readBack, error) {
	lua := testenv.RequireProgram(t, "lua5.4")
	luac := testenv.RequireProgram(t, "luac5.4")
	if out, err := exec.Command(luac, "-p", path).CombinedOutput(); err != nil {
		return readBack{}, fmt.Errorf("luac5.4 -p: %v: %s", err, out)
	}
	script := filepath.Join(dir, "reader.lua")
	if err := os.WriteFile(script, []byte(luaReader), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lua, script, path)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return readBack{}, fmt.Errorf("lua5.4: %v: %s", err, stderr.Bytes())
	}
	fields, err := lengthPrefixed(out)
	if err != nil || len(fields) != 5 {
		return readBack{}, fmt.Errorf("lua5.4 output %q: %v", out, err)
	}
	if fields[3] != "2" {
		return readBack{}, fmt.Errorf("%s admins", fields[3])
	}
	return readBack{name: fields[0], password: fields[1], admin: fields[2], directives: strings.Split(fields[4], ",")}, nil
}

func lengthPrefixed(b []byte) ([]string, error) {
	var fields []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, ':')
		if i < 0 {
			return nil, errors.New("no length")
		}
		n, err := strconv.Atoi(string(b[:i]))
		if err != nil || n > len(b)-i-1 {
			return nil, errors.New("bad length")
		}
		fields = append(fields, string(b[i+1:i+1+n]))
		b = b[i+1+n:]
	}
	return fields, nil
}

// XML: read by encoding/xml.

const xmlTemplate = `<?xml version="1.0" encoding="UTF-8"?>
<!-- rendered by tails-server -->
<config>
  <server name="{{quote .name}}" port="{{int .port}}" tls='{{bool .tls}}'>
    <password>{{.password | quote}}</password>
    {{range .admins}}<admin id='{{quote .}}'>{{quote .}}</admin>{{end}}
  </server>
</config>
`

func readXML(t *testing.T, dir, path string) (readBack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return readBack{}, err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	var rb readBack
	var stack []string
	var admins []string
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			return rb, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			stack = append(stack, tok.Name.Local)
			rb.directives = append(rb.directives, tok.Name.Local)
			for _, a := range tok.Attr {
				rb.directives = append(rb.directives, tok.Name.Local+"@"+a.Name.Local)
				switch {
				case tok.Name.Local == "server" && a.Name.Local == "name":
					rb.name = a.Value
				case tok.Name.Local == "admin" && a.Name.Local == "id":
					admins = append(admins, a.Value)
				}
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "password":
				rb.password += string(tok)
			case "admin":
				admins[len(admins)-1] += "\x00" + string(tok)
			}
		}
	}
	if len(admins) != 2 {
		return rb, fmt.Errorf("%d admins", len(admins))
	}
	attr, text, _ := strings.Cut(admins[0], "\x00")
	if attr != text {
		return rb, fmt.Errorf("admin attribute %q, text %q", attr, text)
	}
	rb.admin = attr
	return rb, nil
}

// Shell: an env file sourced by sh with set -a, read back with env -0.

const shellTemplate = `# rendered by tails-server
NAME={{quote .name}}
PASSWORD={{.password | quote}}
PORT={{int .port}}
TLS={{bool .tls}}
ADMIN={{quote (index .admins 0)}}
CANARY=ok
`

func readShell(t *testing.T, dir, path string) (readBack, error) {
	sh := testenv.RequireProgram(t, "sh")
	cmd := exec.Command("/usr/bin/env", "-i", "PATH=/usr/bin:/bin", sh, "-c", `set -a; . ./"$1"; exec env -0`, "sh", filepath.Base(path))
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return readBack{}, fmt.Errorf("sh: %v: %s", err, stderr.Bytes())
	}
	env := map[string]string{}
	var rb readBack
	for _, kv := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
		rb.directives = append(rb.directives, k)
	}
	sort.Strings(rb.directives)
	if env["CANARY"] != "ok" || env["PORT"] != "64738" || env["TLS"] != "true" {
		return rb, fmt.Errorf("env %q", env)
	}
	// The same file read the way the brief's users do: printf %s "$VAR".
	pw, err := exec.Command(sh, "-c", `. "$1"; printf %s "$PASSWORD"`, "sh", path).Output()
	if err != nil || string(pw) != env["PASSWORD"] {
		return rb, fmt.Errorf("printf read %q, %v", pw, err)
	}
	rb.name, rb.password, rb.admin = env["NAME"], env["PASSWORD"], env["ADMIN"]
	return rb, nil
}
