package gui

import (
	"fmt"
	"html/template"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrSVG draws text as a QR code, an inline SVG (no request, no inline
// script), one path of dark modules with the quiet zone around them.
func qrSVG(text, label string) template.HTML {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return template.HTML(`<p class="note">` + template.HTMLEscapeString("No QR code: "+err.Error()) + `</p>`)
	}
	bm := q.Bitmap()
	n := len(bm)
	var p strings.Builder
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&p, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	return template.HTML(fmt.Sprintf(`<svg class="qr" role="img" aria-label="%s" viewBox="0 0 %d %d" shape-rendering="crispEdges" xmlns="http://www.w3.org/2000/svg"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`,
		template.HTMLEscapeString(label), n, n, n, n, p.String()))
}
