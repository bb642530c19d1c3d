package fileshare

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
)

// entry is one line of a listing.
type entry struct {
	Name, Href, Zip, Size string
	Dir                   bool
}

type pageData struct {
	Title   string
	Share   bool
	Receive bool
	Dir     string // "." for the shared folder
	Up      string // link to the parent listing, if any
	Zip     string
	Entries []entry
	Limit   string
	// Messages shows the message field, of at most MessageLimit bytes.
	Messages     bool
	MessageLimit int
}

// page shows the listing of dir (in share mode) and the upload form (in
// receive mode).
func (h *Handler) page(w http.ResponseWriter, r *http.Request, dir string) {
	d := pageData{Title: "Shared files", Share: h.cfg.shares(), Receive: h.cfg.receives() && dir == ".",
		Dir: dir, Limit: humanSize(h.cfg.MaxUpload), MessageLimit: MaxMessageBytes}
	d.Messages = d.Receive && h.cfg.Messages
	if !d.Share {
		d.Title = "Send files"
		if d.Messages {
			d.Title = "Send files or a message"
		}
	}
	if d.Share {
		root, ok := h.openRoot(w, h.cfg.SharedDir)
		if !ok {
			return
		}
		defer root.Close()
		entries, err := list(root, dir)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		d.Entries = entries
		d.Zip = hrefZip(dir)
		if dir != "." {
			d.Title = "Shared files: " + dir
			d.Up = hrefFiles(path.Dir(dir), true)
			if path.Dir(dir) == "." {
				d.Up = "/"
			}
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	pages.ExecuteTemplate(w, "page", d)
}

// list returns the visible entries of dir: no dot files, and symlinks
// only when they resolve inside the root.
func list(root *os.Root, dir string) ([]entry, error) {
	d, err := root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	des, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, de := range des {
		if !listed(de.Name()) {
			continue
		}
		p := path.Join(dir, de.Name())
		fi, err := root.Stat(p)
		if err != nil {
			continue
		}
		e := entry{Name: de.Name(), Dir: fi.IsDir()}
		switch {
		case fi.IsDir():
			e.Href, e.Zip = hrefFiles(p, true), hrefZip(p)
		case fi.Mode().IsRegular():
			e.Href, e.Size = hrefFiles(p, false), humanSize(fi.Size())
		default:
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dir != out[j].Dir {
			return out[i].Dir
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func escapePath(p string) string {
	if p == "." {
		return ""
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func hrefFiles(p string, dir bool) string {
	h := "/files/" + escapePath(p)
	if dir && p != "." {
		h += "/"
	}
	return h
}

func hrefZip(p string) string { return "/zip/" + escapePath(p) }

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

const styleCSS = `body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#241f31;background:#fff}
a{color:#56347c}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd}
td.size{text-align:right;white-space:nowrap}
form{margin-top:2rem;padding:1rem;border:1px solid #ccc;border-radius:.3rem}
button{margin-top:.5rem;padding:.4rem 1rem}
textarea{width:100%;box-sizing:border-box;font:inherit}
`

var pages = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Share}}
{{if .Up}}<p><a href="{{.Up}}">Up one folder</a></p>{{end}}
{{if .Entries}}
<p><a href="{{.Zip}}" download>Download everything here as a zip file</a></p>
<table>
<caption>Files and folders</caption>
<thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Zip</th></tr></thead>
<tbody>
{{range .Entries}}<tr><td><a href="{{.Href}}">{{.Name}}{{if .Dir}}/{{end}}</a></td><td class="size">{{if .Dir}}folder{{else}}{{.Size}}{{end}}</td><td>{{if .Dir}}<a href="{{.Zip}}" download>zip</a>{{end}}</td></tr>
{{end}}</tbody>
</table>
{{else}}
<p>Nothing is shared here yet.</p>
{{end}}
{{end}}
{{if .Receive}}
<form method="post" action="/upload" enctype="multipart/form-data">
{{if .Messages}}<h2>Send files or a message</h2>
<p><label for="message">Message (optional, at most {{.MessageLimit}} bytes)</label><br>
<textarea id="message" name="message" rows="6" cols="60" maxlength="{{.MessageLimit}}"></textarea></p>
<p><label for="file">Files to send (optional, at most {{.Limit}} each)</label><br>
<input type="file" id="file" name="file" multiple></p>
{{else}}<h2>Send files</h2>
<p><label for="file">Files to send (at most {{.Limit}} each)</label><br>
<input type="file" id="file" name="file" multiple required></p>
{{end}}<button type="submit">Send</button>
</form>
{{end}}
</main>
</body>
</html>
{{define "uploaded"}}<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sent</title><link rel="stylesheet" href="/style.css"></head>
<body><main><h1>Sent</h1>{{if .Files}}<p>The host received:</p><ul>{{range .Files}}<li>{{.}}</li>{{end}}</ul>{{end}}{{if .Message}}<p>The host received your message.</p>{{end}}<p><a href="/">Back</a></p></main></body>
</html>
{{end}}`))
