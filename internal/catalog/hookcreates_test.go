package catalog

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestHookPreStartCreates(t *testing.T) {
	const base = "name: pad\ntitle: T\ndescription: D.\nbackend:\n  command: [padd]\n  user: tails-server-pad\nonion_ports:\n  - virtual: 80\nhooks:\n"
	tests := []struct {
		name, hooks, want, wantErr string
	}{
		{"with pre_start", "  pre_start: [mkcert, \"{{data}}/cert.pem\"]\n  pre_start_creates: \"{{data}}/cert.pem\"", "{{data}}/cert.pem", ""},
		{"absolute", "  pre_start: [mkcert]\n  pre_start_creates: /var/lib/x", "/var/lib/x", ""},
		{"without pre_start", "  pre_start_creates: \"{{data}}/cert.pem\"", "", "pad.yaml:10: hooks.pre_start_creates needs a pre_start hook"},
		{"relative", "  pre_start: [mkcert]\n  pre_start_creates: cert.pem", "", "pad.yaml:11: hooks.pre_start_creates must start with {{config}}, {{data}} or /"},
		{"bad template", "  pre_start: [mkcert]\n  pre_start_creates: \"{{data}}/{{nope}}\"", "", "hooks.pre_start_creates"},
		{"empty", "  pre_start: [mkcert]\n  pre_start_creates: \"\"", "", "pad.yaml:11: hooks.pre_start_creates is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cat, errs := Load(fstest.MapFS{"pad.yaml": {Data: []byte(base + tt.hooks + "\n")}})
			if tt.wantErr != "" {
				if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.wantErr) {
					t.Fatalf("errors %v, want one containing %q", errs, tt.wantErr)
				}
				return
			}
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			s, _ := cat.Get("pad")
			if s.Hooks.PreStartCreates != tt.want {
				t.Fatalf("PreStartCreates = %q, want %q", s.Hooks.PreStartCreates, tt.want)
			}
		})
	}
}
