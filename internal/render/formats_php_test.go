package render

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"tails-server/internal/testenv"
)

// PHP: a DokuWiki local.php fragment, checked by `php -l` and read back by
// the real php CLI, which includes the file and prints what it defined.

const phpTemplate = `<?php
/* local.php rendered by tails-server */
$conf['title'] = {{quote .name}};
$conf['port'] = {{int .port}};
$conf['useacl'] = {{bool .tls}};
$conf['password'] = {{.password | quote}};
$conf['admins'] = array({{range .admins}}{{quote .}}, {{end}});
// a comment with a value: none is ever printed here
$conf['canary'] = 'ok';
`

// phpReader includes the file named by argv[1] and prints the values and
// the keys of $conf, length-prefixed; anything else it printed (text after
// a closing tag) is an error.
const phpReader = `
ob_start();
include $argv[1];
$stray = ob_get_clean();
$keys = array_keys($conf);
sort($keys);
$w = function ($s) { echo strlen($s), ':', $s; };
$w($conf['title']); $w($conf['password']); $w($conf['admins'][0]);
$w((string) count($conf['admins'])); $w(implode(',', $keys));
$w(var_export($conf['port'], true)); $w(var_export($conf['useacl'], true));
$w($conf['canary']); $w($stray);
$w(implode(',', array_keys(get_defined_vars())));
`

func readPHP(t *testing.T, dir, path string) (readBack, error) {
	php := testenv.RequireProgram(t, "php")
	if out, err := exec.Command(php, "-n", "-l", path).CombinedOutput(); err != nil {
		return readBack{}, fmt.Errorf("php -l: %v: %s", err, out)
	}
	cmd := exec.Command(php, "-n", "-r", phpReader, path)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		return readBack{}, fmt.Errorf("php -r: %v: %s", err, stderr.Bytes())
	}
	f, err := lengthPrefixed(out)
	if err != nil || len(f) != 10 {
		return readBack{}, fmt.Errorf("php output %q: %v", out, err)
	}
	if f[3] != "2" || f[5] != "64738" || f[6] != "true" || f[7] != "ok" || f[8] != "" {
		return readBack{}, fmt.Errorf("admins %s, port %s, useacl %s, canary %q, stray output %q", f[3], f[5], f[6], f[7], f[8])
	}
	dirs := append(strings.Split(f[4], ","), strings.Split(f[9], ",")...)
	sort.Strings(dirs)
	return readBack{name: f[0], password: f[1], admin: f[2], directives: dirs}, nil
}

// TestPHPQuote pins the literal quote prints, and that a refused value's
// error names the key, never the value.
func TestPHPQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain": `'plain'`, `it's`: `'it\'s'`, `back\`: `'back\\'`, `\'`: `'\\\''`, "a\nb": "'a\nb'", "$x": "'$x'",
	} {
		if got, err := Quote(PHP, in); err != nil || got != want {
			t.Errorf("Quote(PHP, %q) = %s, %v; want %s", in, got, err, want)
		}
	}
	tmpl, err := Parse("local.php", PHP, "<?php $conf['title'] = {{quote .title}};\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render(map[string]any{"title": "secret\x00value"})
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n") ||
		!strings.Contains(err.Error(), "local.php:1: value of .title contains a NUL byte") {
		t.Fatalf("NUL: %v", err)
	}
}
