//go:build !amd64 && !arm64

package services

// sysRenameat2 is unknown here: adds of files fail with ENOSYS.
var sysRenameat2 = -1
