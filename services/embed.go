// Package catalogfs embeds the built-in service catalog: one YAML file per
// service (format in docs/services.md), with the icons and template files
// they name. internal/catalog loads it with catalog.Load(catalogfs.FS, ...).
package catalogfs

import "embed"

// FS holds the built-in catalog files at its root.
//
//go:embed *.yaml *.svg *.tmpl
var FS embed.FS
